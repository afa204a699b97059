"""MCP-facing edge: upstream server, supervised downstream clients, the aggregated catalogue."""

from mcproute.gateway.catalog import Catalog, ToolEntry
from mcproute.gateway.gateway import Gateway
from mcproute.gateway.routing import CallHook, CallNext, MetaTool, ToolCall, UpstreamRoute

__all__ = ["CallHook", "CallNext", "Catalog", "Gateway", "MetaTool", "ToolCall", "ToolEntry", "UpstreamRoute"]
