"""Per-request context shared by the upstream server, the gateway and the downstreams.

`ToolCall` is what hooks and meta-tool handlers receive. `UpstreamRoute` carries the upstream
request's SDK context so that a downstream's server→client traffic (sampling, elicitation,
roots, log messages, progress) can be sent back to the client that caused it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcp_types.version import MODERN_PROTOCOL_VERSIONS

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext


@dataclass(frozen=True, slots=True)
class UpstreamRoute:
    """The upstream request a downstream call was made for (None fields: a programmatic call)."""

    ctx: ServerRequestContext[Any, Any] | None = None
    # The stdio server's one connection (`Upstream.connection_id`); None over HTTP, where a
    # handshake-era session has `session_id` and a 2026-07-28 request has nothing of the kind.
    connection_id: str | None = None

    @property
    def protocol_version(self) -> str | None:
        return self.ctx.protocol_version if self.ctx is not None else None

    @property
    def modern(self) -> bool:
        return self.protocol_version in MODERN_PROTOCOL_VERSIONS

    @property
    def connection(self) -> Any:
        """The upstream client's connection (handshake era: outlives the request; None on
        2026-07-28, which has no connection state). The SDK keeps it private to the session."""
        if self.ctx is None or self.modern:
            return None
        return getattr(self.ctx.session, "_connection", None)

    @property
    def can_send_request(self) -> bool:
        return self.ctx is not None and self.ctx.session.can_send_request

    @property
    def headers(self) -> Mapping[str, str] | None:
        request = self.ctx.request if self.ctx is not None else None
        return getattr(request, "headers", None)

    @property
    def session_id(self) -> str | None:
        headers = self.headers
        return headers.get("mcp-session-id") if headers is not None else None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One `tools/call` as hooks and meta-tool handlers see it."""

    name: str  # namespaced name the client used
    server: str  # "" for a gateway meta-tool
    original: str  # the downstream's own tool name
    arguments: Mapping[str, Any]
    meta: Mapping[str, Any]  # the request `_meta` as the client sent it
    headers: Mapping[str, str] | None = None  # HTTP request headers (None on stdio / programmatic)
    session_id: str | None = None  # `Mcp-Session-Id` (handshake era over HTTP only)
    connection_id: str | None = None  # the stdio connection (either era); see UpstreamRoute
    protocol_version: str | None = None
    route: UpstreamRoute = field(default_factory=UpstreamRoute, repr=False, compare=False)
    # Set by the gateway: send tools/list_changed to upstream clients (this request's session
    # first, then every other connected client).
    notify_tools_changed: Callable[[], Awaitable[None]] | None = field(default=None, repr=False, compare=False)


# A hook wraps every tools/call (proxied and meta): `await call_next(call)` runs the rest.
CallNext = Callable[[ToolCall], Awaitable[dict[str, Any]]]
CallHook = Callable[[ToolCall, CallNext], Awaitable[dict[str, Any]]]
MetaToolHandler = Callable[[Mapping[str, Any], ToolCall], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class MetaTool:
    """A tool served by the gateway itself (e.g. `mcproute__route`)."""

    name: str
    description: str
    input_schema: Mapping[str, Any]
    handler: MetaToolHandler
    annotations: Mapping[str, Any] | None = None

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "inputSchema": dict(self.input_schema),
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out
