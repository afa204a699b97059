"""Model providers (OpenAI-compatible, Anthropic, scripted) under one reliability layer.

Import from here: the submodules are an implementation detail.
"""

from mcproute.providers.base import (
    ChatRequest,
    ChatResponse,
    Message,
    Provider,
    Target,
    ToolCall,
    ToolDef,
    Usage,
    cost_usd,
)
from mcproute.providers.pool import ModelPool, http_client, open_pool, startup_status
from mcproute.providers.reliability import Attempt, ChatResult
from mcproute.providers.status import DeploymentStatus, ModelStatus, render_status
from mcproute.providers.tools import validate_tool_calls

__all__ = [
    "Attempt",
    "ChatRequest",
    "ChatResponse",
    "ChatResult",
    "DeploymentStatus",
    "Message",
    "ModelPool",
    "ModelStatus",
    "Provider",
    "Target",
    "ToolCall",
    "ToolDef",
    "Usage",
    "cost_usd",
    "http_client",
    "open_pool",
    "render_status",
    "startup_status",
    "validate_tool_calls",
]
