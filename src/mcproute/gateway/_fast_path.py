"""A lean pass-through for plain proxied `tools/call` requests (stdio here; HTTP in `_fast_http.py`).

Why: a proxied call otherwise runs the SDK's server side once more (dispatcher, middleware,
pydantic validation and re-dump of the params and of the result) on top of the downstream
client leg; measured, that alone costs more than the whole 1 ms budget (docs/performance.md,
"Where the floor is"). For the common case the gateway already has everything the SDK adds:
the raw params, the downstream's raw result dict and the wire shape of a 2026-07-28 result.

Only requests that cannot behave differently from the SDK path are taken here, on a connection
that the SDK itself has opened in the 2026-07-28 era (decided exactly as `serve_dual_era_loop`
does: by the client's first request):

- a `tools/call` with a complete, supported 2026-07-28 envelope (the SDK's own inbound ladder
  accepts it), params only `name`, `arguments` (an object) and `_meta`;
- no `progressToken` and no log-level opt-in in `_meta` (progress and logs need the SDK session);
- a proxied tool (not a meta-tool) whose serving downstream speaks 2026-07-28 as well, so no
  server→client request or unsolicited log can arrive mid-call for a session we do not have.

Everything else (other methods, the handshake era, unknown tools, retries with `inputResponses`)
goes to the SDK untouched. The answer goes through `Gateway.call_tool` (validation, the engine's
hooks), under a SERVER span equivalent to the SDK's, and is written as the SDK would shape it:
`resultType` defaulted to `complete` and the `serverInfo` `_meta` stamp.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types as types
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import InboundLadderRejection, classify_inbound_request
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from mcproute.errors import InvalidRequest, ToolArgumentsInvalid, UnknownTool, UpstreamUnavailable
from mcproute.gateway.gateway import text_result
from mcproute.gateway.routing import UpstreamRoute
from mcproute.telemetry import semconv as sc, spans

logger = logging.getLogger(__name__)

FAST_PATH_ATTRIBUTE = "mcproute.fast_path"  # on the SERVER span of a call answered here
_PARAM_KEYS = frozenset({"name", "arguments", "_meta"})
_tracer = trace.get_tracer(sc.TRACER_NAME)


class _NoSession:
    """Stands in for the SDK session: a 2026-07-28 request has no back channel for requests."""

    can_send_request = False


@dataclass(frozen=True, slots=True)
class FastRequestContext:
    """The parts of `ServerRequestContext` the gateway, hooks and back channel read."""

    protocol_version: str
    params: Mapping[str, Any]
    request_id: str | int
    meta: Mapping[str, Any]
    request: Any = None  # the HTTP request (its `headers` reach hooks), None on stdio
    session: _NoSession = _NoSession()


class FastPath:
    """The transport-independent part: which requests qualify, and their answer."""

    def __init__(self, upstream: Any) -> None:
        self.upstream = upstream
        self.gateway = upstream.gateway
        self.taken = 0

    def eligible(self, data: Any, headers: Mapping[str, str] | None = None) -> bool:
        """A plain proxied 2026-07-28 tools/call (see the module docstring)."""
        if not isinstance(data, dict) or data.get("jsonrpc") != "2.0" or data.get("method") != "tools/call":
            return False
        request_id = data.get("id")
        if isinstance(request_id, bool) or not isinstance(request_id, (int, str)):
            return False
        params = data.get("params")
        if not isinstance(params, dict) or not _PARAM_KEYS.issuperset(params):
            return False
        name, arguments, meta = params.get("name"), params.get("arguments", {}), params.get("_meta")
        if not isinstance(name, str) or not isinstance(arguments, dict) or not isinstance(meta, dict):
            return False
        if meta.get("progressToken") is not None or types.LOG_LEVEL_META_KEY in meta:
            return False
        if isinstance(classify_inbound_request(data, headers=headers), InboundLadderRejection):
            return False
        if meta.get(types.PROTOCOL_VERSION_META_KEY) not in MODERN_PROTOCOL_VERSIONS:
            return False
        entry = self.gateway.catalog.tools.get(name)
        if entry is None or not entry.server:
            return False
        serving = self.gateway.serving(entry.server)
        return serving.health.state == "healthy" and serving.health.protocol_version in MODERN_PROTOCOL_VERSIONS

    async def respond(self, data: dict[str, Any], request: Any = None) -> dict[str, Any]:
        """The JSON-RPC response for an eligible request (`request`: the HTTP request, for headers)."""
        self.taken += 1
        params = data["params"]
        name: str = params["name"]
        meta: dict[str, Any] = params["_meta"]
        version: str = meta[types.PROTOCOL_VERSION_META_KEY]
        request_id = data["id"]
        ctx = FastRequestContext(
            protocol_version=version, params=params, request_id=request_id, meta=meta, request=request
        )
        # The same SERVER span the SDK's OpenTelemetryMiddleware makes, continuing `_meta`'s context.
        attributes: dict[str, Any] = {
            "mcp.method.name": "tools/call",
            "mcp.protocol.version": version,
            "jsonrpc.request.id": str(request_id),
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            FAST_PATH_ATTRIBUTE: True,
        }
        with _tracer.start_as_current_span(
            f"tools/call {name}",
            kind=SpanKind.SERVER,
            attributes=attributes,
            context=spans.extract_context(meta),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            route = UpstreamRoute(ctx, self.upstream.connection_id)  # type: ignore[arg-type]
            if self.gateway.access is not None:
                spans.mark_client(self.gateway.access.principal(route.headers), span)
            try:
                result = await self.gateway.call_tool(name, params.get("arguments", {}), meta=meta, route=route)
            except UnknownTool as exc:
                return _error(span, request_id, types.INVALID_PARAMS, str(exc))
            except ToolArgumentsInvalid as exc:
                result = text_result(str(exc), is_error=True, meta={"mcproute/error": "invalid_arguments"})
            except InvalidRequest as exc:  # after ToolArgumentsInvalid, its subclass (the same order as the SDK path)
                return _error(span, request_id, types.INVALID_PARAMS, str(exc))
            except UpstreamUnavailable as exc:
                kind = "timeout" if type(exc).__name__ == "DownstreamTimeout" else "unavailable"
                result = text_result(
                    self.gateway.redactor.scrub(f"mcproute: {exc}"), is_error=True, meta={"mcproute/error": kind}
                )
            except MCPError as exc:
                return _error(span, request_id, exc.error.code, exc.error.message, exc.error.data)
            except Exception as exc:  # as the SDK's modern loop: logged, a generic internal error on the wire
                logger.exception("tools/call %r failed", name)
                span.set_attribute(sc.ERROR_TYPE, type(exc).__qualname__)
                span.record_exception(exc)
                span.set_status(StatusCode.ERROR, str(exc))
                return {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "error": {"code": types.INTERNAL_ERROR, "message": "Internal server error"},
                }
            if result.get("isError") is True:
                span.set_attribute(sc.ERROR_TYPE, "tool_error")
                span.set_status(StatusCode.ERROR)
        return {"jsonrpc": "2.0", "id": request_id, "result": self._shape(result)}

    def _shape(self, result: dict[str, Any]) -> dict[str, Any]:
        # What the SDK's serializer adds for a 2026-07-28 result: `resultType` and the serverInfo stamp.
        if result.get("resultType") is None:
            result["resultType"] = "complete"
        raw_meta = result.get("_meta")
        if raw_meta is None:
            result["_meta"] = {types.SERVER_INFO_META_KEY: self.upstream.server.server_info_stamp}
        elif isinstance(raw_meta, dict) and raw_meta.get(types.SERVER_INFO_META_KEY) is None:
            result["_meta"] = {**raw_meta, types.SERVER_INFO_META_KEY: self.upstream.server.server_info_stamp}
        return result


class StdioFastPath(FastPath):
    """Decides, per incoming line, whether to answer it here; counts what it answered."""

    def __init__(self, upstream: Any) -> None:
        super().__init__(upstream)
        self.era: str | None = None  # "modern" / "legacy", fixed by the first request
        self._inflight: dict[Any, anyio.CancelScope] = {}

    def observe(self, line: bytes) -> dict[str, Any] | None:
        """Return the parsed request if it is to be answered here, else None (SDK path).

        Also follows the era decision and cancels a fast-path call the client cancelled."""
        if self.era is None:
            self._decide_era(line)
            return None
        if self.era != "modern":
            return None
        if b'"notifications/cancelled"' in line and self._inflight:
            self._cancel(line)
            return None
        if b'"tools/call"' not in line:
            return None
        try:
            data = json.loads(line)
        except ValueError:
            return None
        return data if self.eligible(data) and data["id"] not in self._inflight else None

    def _decide_era(self, line: bytes) -> None:
        try:
            data = json.loads(line)
        except ValueError:
            return
        if not isinstance(data, dict) or "method" not in data or "id" not in data:
            return  # notifications and responses do not decide the era (as in the SDK)
        params = data.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        modern = (
            data.get("method") != "initialize" and isinstance(meta, Mapping) and types.PROTOCOL_VERSION_META_KEY in meta
        )
        self.era = "modern" if modern else "legacy"

    def _cancel(self, line: bytes) -> None:
        try:
            data = json.loads(line)
            request_id = data["params"]["requestId"]
        except (ValueError, KeyError, TypeError):
            return
        scope = self._inflight.get(request_id)
        if scope is not None:
            scope.cancel()

    async def answer(self, data: dict[str, Any]) -> bytes | None:
        """The response line for an eligible request (None: the client cancelled it)."""
        request_id = data["id"]
        scope = anyio.CancelScope()
        self._inflight[request_id] = scope
        try:
            with scope:
                return encode_line(await self.respond(data))
            return None  # cancelled: JSON-RPC says no response
        finally:
            self._inflight.pop(request_id, None)


def encode(response: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; a lone surrogate (valid in a Python str, not in UTF-8) falls back to
    ASCII escapes instead of raising inside a transport task."""
    try:
        return json.dumps(response, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        return json.dumps(response, separators=(",", ":")).encode()


def encode_line(response: Mapping[str, Any]) -> bytes:
    return encode(response) + b"\n"


def _error(span: Any, request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    span.set_attributes({sc.ERROR_TYPE: str(code), "rpc.response.status_code": str(code)})
    span.set_status(StatusCode.ERROR, message)
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}
