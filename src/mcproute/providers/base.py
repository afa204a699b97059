"""Provider-neutral chat types, the adapter protocol, and cost accounting.

Everything here is a frozen dataclass: a request is built once by the caller, handed unchanged
to whichever deployment the reliability layer picks (possibly several, one after another), and
a response is a value that can be logged, exported in spans and compared in tests.

Token accounting follows the OpenTelemetry GenAI convention: `Usage.input` is the *total* prompt
tokens the provider processed, and `Usage.cached_input` is the subset of it served from the
provider's prompt cache. Costing never double-counts: uncached = input - cached_input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx

from mcproute.config import Price

Role = Literal["system", "user", "assistant", "tool"]
ReasoningEffort = Literal["minimal", "low", "medium", "high"]


@dataclass(frozen=True, slots=True)
class ToolDef:
    """A tool as MCP describes it: `{name, description, inputSchema}`."""

    name: str
    description: str = ""
    input_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})

    @classmethod
    def from_mcp(cls, tool: Mapping[str, Any] | Any) -> ToolDef:
        """Accept an MCP tool dict (`inputSchema`) or any object with `name`/`inputSchema` attributes."""
        if isinstance(tool, ToolDef):
            return tool
        if isinstance(tool, Mapping):
            schema = tool.get("inputSchema", tool.get("input_schema"))
            return cls(str(tool["name"]), str(tool.get("description") or ""), dict(schema or {"type": "object"}))
        # SDK v2 objects name it `input_schema`; read that first, since fastmcp (if imported in the
        # same process) turns a read of the old `inputSchema` name into a deprecation warning.
        schema = getattr(tool, "input_schema", None) or getattr(tool, "inputSchema", None)
        return cls(str(tool.name), str(getattr(tool, "description", "") or ""), dict(schema or {"type": "object"}))

    def to_mcp(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "inputSchema": dict(self.input_schema)}


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call a model asked for. `arguments_error` is set when the model sent arguments
    that are not a JSON object; `validate_tool_calls` turns that into a typed error."""

    id: str
    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    arguments_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": dict(self.arguments)}


@dataclass(frozen=True, slots=True)
class Message:
    """One turn. `tool` messages answer one call (`tool_call_id`); `assistant` messages may carry
    `tool_calls`, and `thinking` holds provider-opaque reasoning blocks that Anthropic requires
    to be sent back unchanged when a conversation continues after a tool call."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    is_error: bool = False
    thinking: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: tuple[Message, ...]
    tools: tuple[ToolDef, ...] = ()
    max_tokens: int = 1024
    temperature: float | None = None
    tool_choice: Literal["auto", "none", "required"] | None = None
    # Reasoning controls; `None` = use the model's configured default. Each adapter maps the one
    # its provider understands and ignores the other; models without reasoning ignore both.
    reasoning_effort: ReasoningEffort | None = None
    thinking_budget: int | None = None

    @classmethod
    def build(
        cls,
        messages: Sequence[Message | Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any] | ToolDef | Any] = (),
        **options: Any,
    ) -> ChatRequest:
        """Convenience: messages as `Message` or `{role, content}` dicts, tools as MCP dicts."""
        msgs = tuple(m if isinstance(m, Message) else Message(m["role"], str(m.get("content", ""))) for m in messages)
        return cls(msgs, tuple(ToolDef.from_mcp(t) for t in tools), **options)


@dataclass(frozen=True, slots=True)
class Usage:
    input: int = 0  # total prompt tokens, cached ones included
    output: int = 0
    cached_input: int = 0  # subset of `input` read from the provider's prompt cache

    def to_dict(self) -> dict[str, int]:
        return {"input": self.input, "output": self.output, "cached_input": self.cached_input}


@dataclass(frozen=True, slots=True)
class ChatResponse:
    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    model: str = ""  # the upstream model id that answered
    provider: str = ""
    stop_reason: str = ""
    thinking: tuple[Mapping[str, Any], ...] = ()

    def as_message(self) -> Message:
        """The assistant turn to append to the conversation before sending tool results."""
        return Message("assistant", self.text, self.tool_calls, thinking=self.thinking)


@dataclass(frozen=True, slots=True)
class Target:
    """Where one attempt goes. `api_key` is a secret: it is never part of `repr`, logs or errors."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    deployment: str = ""
    timeout: float = 60.0
    reasoning: bool = False  # the model accepts reasoning controls
    default_reasoning_effort: ReasoningEffort | None = None
    default_thinking_budget: int | None = None


class Provider(Protocol):
    """One wire format. Adapters raise only `ProviderError` subclasses; the reliability layer
    decides whether to retry, rotate or fall back."""

    name: str

    async def chat(self, client: httpx.AsyncClient, target: Target, request: ChatRequest) -> ChatResponse: ...


def cost_usd(usage: Usage, price: Price) -> float:
    """Dollars for one call; `price` is per one million tokens, cached input at its own price."""
    cached = min(usage.cached_input, usage.input)
    cached_price = price.input if price.cached_input is None else price.cached_input
    return ((usage.input - cached) * price.input + cached * cached_price + usage.output * price.output) / 1_000_000
