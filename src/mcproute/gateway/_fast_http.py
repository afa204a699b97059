"""The HTTP twin of the stdio fast path: stateless 2026-07-28 POSTs of one plain proxied tools/call.

An ASGI layer in front of the SDK's app (behind the guard). It reads the body of a
`POST /mcp` carrying a 2026-07-28 `MCP-Protocol-Version` header, and answers it itself (one
`application/json` response, which every modern client accepts) only when the SDK would
accept the same request and run it the same way: both `Accept` types, the SDK's routing-header
checks (duplicates, `Mcp-Method`/`Mcp-Name` against the body, via its own inbound ladder), its
`Mcp-Param-*` header validation, and `FastPath.eligible`. Anything else is replayed to the SDK
byte for byte.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.streamable_http import check_accept_headers
from mcp.shared.inbound import find_duplicated_routing_header, validate_mcp_param_headers
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcproute.gateway._fast_path import FastPath, encode

_MODERN = {v.encode() for v in MODERN_PROTOCOL_VERSIONS}


class HttpFastPath(FastPath):
    """ASGI: answer eligible POSTs to `path`, pass everything else to `app` unchanged."""

    def __init__(self, upstream: Any, app: ASGIApp, *, path: str = "/mcp", max_bytes: int) -> None:
        super().__init__(upstream)
        self.app = app
        self.path = path
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            return await self.app(scope, receive, send)
        version = next((v for k, v in scope["headers"] if k == b"mcp-protocol-version"), None)
        if version not in _MODERN:
            return await self.app(scope, receive, send)
        body, complete = await read_body(receive, self.max_bytes)
        request = Request(scope)
        data = self._claim(request, body) if complete else None
        if data is None:
            return await self.app(scope, replay(body, complete, receive), send)
        response = await self.respond(data, request)
        payload = encode(response)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def _claim(self, request: Request, body: bytes) -> dict[str, Any] | None:
        has_json, has_sse = check_accept_headers(request)
        if not (has_json and has_sse) or "mcp-session-id" in request.headers:
            return None
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return None
        if find_duplicated_routing_header(request.headers.items()) is not None:
            return None
        if not self.eligible(data, dict(request.headers)):
            return None
        params = data["params"]
        schema = self.gateway.catalog.tools[params["name"]].input_schema
        if validate_mcp_param_headers(schema, params.get("arguments") or {}, request.headers) is not None:
            return None
        return data


async def read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The body, and whether it was read whole within `limit` (else the SDK gets it and refuses it)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), size <= limit
        if size > limit:
            return b"".join(chunks), False


def replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A `receive` that yields the already-read body once, then defers to the real one (for the
    rest of a body that was not read whole, and for the disconnect)."""
    sent = [False]

    async def replayed() -> Message:
        if not sent[0]:
            sent[0] = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replayed
