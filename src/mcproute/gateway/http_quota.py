"""ASGI: per-client rate limits and daily budgets on HTTP, answered with 429 + Retry-After.

Behind the guard (which authenticated the caller and stamped its name) and in front of
everything else, so a refused request costs no parsing by the SDK, no routing and no model call.
Every request to `/mcp`, `/v1/*` and `/status` counts against `requests_per_minute`; a
`tools/call` on `/mcp` also counts against `tool_calls_per_minute`; work that may spend (a
`/v1` POST, a `mcproute__run_step` call) is refused once `usd_per_day` is reached. The refusal
is shaped for its route: OpenAI's error object on `/v1`, a JSON-RPC error elsewhere whose
`data` carries the same figures as the headers (`retry_after` seconds, the `limit`, the client).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from mcproute.access import CLIENT_HEADER, Access
from mcproute.errors import ClientLimitExceeded
from mcproute.gateway._fast_http import read_body, replay
from mcproute.gateway.limits import request_id

_CLIENT = CLIENT_HEADER.encode()
# A JSON-RPC implementation-defined server error code (-32000..-32099), "429" for people reading logs.
LIMIT_ERROR_CODE = -32029
SPENDING_TOOLS = frozenset({"mcproute__run_step"})


def limit_error_data(exc: ClientLimitExceeded) -> dict[str, Any]:
    return {"status": 429, "retry_after": exc.retry_after, "limit": exc.limit, "client": exc.client}


class LimitGuard:
    def __init__(self, app: ASGIApp, *, access: Access, max_bytes: int) -> None:
        self.app = app
        self.access = access
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        raw = next((v for k, v in scope["headers"] if k == _CLIENT), None)
        client = raw.decode() if raw is not None else None
        path = str(scope.get("path", ""))
        if client is None or not _guarded(path) or client not in self.access.limits:
            return await self.app(scope, receive, send)
        body: bytes | None = None
        name = None
        if scope["method"] == "POST" and path == "/mcp":
            # Read first: the refusal carries the request's JSON-RPC id, and a tools/call counts twice.
            body, complete = await read_body(receive, self.max_bytes)
            receive = replay(body, complete, receive)
            name = _tool_call_name(body) if complete else None
        try:
            await self.access.check_request(client)
            if scope["method"] == "POST" and path.startswith("/v1/"):
                await self.access.check_budget(client)
            elif name is not None:
                await self.access.check_tool_call(client, spends=name in SPENDING_TOOLS)
        except ClientLimitExceeded as exc:
            return await _too_many(send, path, exc, body)
        await self.app(scope, receive, send)


def _guarded(path: str) -> bool:
    return path == "/mcp" or path.startswith("/v1/") or path == "/status"


def _tool_call_name(body: bytes) -> str | None:
    """The tool a `tools/call` body names (None for any other message, or one that does not parse:
    the SDK refuses those itself)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if isinstance(data, dict) and data.get("method") == "tools/call":
        params = data.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        return name if isinstance(name, str) else ""
    return None


async def _too_many(send: Send, path: str, exc: ClientLimitExceeded, body: bytes | None) -> None:
    message = str(exc)
    if path.startswith("/v1/"):
        payload: dict[str, Any] = {
            "error": {"message": message, "type": "rate_limit_exceeded", "param": None, "code": "rate_limit_exceeded"}
        }
    else:
        payload = {
            "jsonrpc": "2.0",
            "id": request_id(body) if body else None,
            "error": {"code": LIMIT_ERROR_CODE, "message": message, "data": limit_error_data(exc)},
        }
    encoded = json.dumps(payload).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(encoded)).encode()),
        (b"retry-after", str(exc.retry_after).encode()),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": encoded})
