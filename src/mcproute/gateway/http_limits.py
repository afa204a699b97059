"""Limits on what one HTTP client can hold open: handshake sessions and half-sent requests.

- `SessionLimit` (ASGI, in front of the SDK's `/mcp` app): a client address may hold at most
  `gateway.http.max_sessions_per_client` handshake-era sessions; one more `initialize` gets 429
  naming the limit. Sessions end by DELETE or after `session_idle_timeout` (the SDK reaps them;
  here a closed one simply stops counting). Without it one client opening sessions and never
  closing them took RSS from 128 to 519 MB and then locked everyone else out with 503.
- `timed_protocol(seconds)`: uvicorn's HTTP protocol with a header read timeout — a connection
  that has not sent a whole request head within `header_timeout` seconds of connecting (or of
  starting its next request) is closed. uvicorn has no such timeout: 1,030 connections sending
  partial headers held every file descriptor and `/status` timed out.
- `quiet_accept_errors()`: `accept()` failing for want of descriptors is logged by asyncio on
  every retry; a `RepeatFilter` lets one line per minute through.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from mcproute.telemetry.repeats import RepeatFilter

logger = logging.getLogger(__name__)
_SESSION_HEADER = b"mcp-session-id"
_VERSION_HEADER = b"mcp-protocol-version"
_HANDSHAKE = {v.encode() for v in HANDSHAKE_PROTOCOL_VERSIONS}


def _opens_session(scope: Scope) -> bool:
    """What the SDK's manager would serve statefully: no session id yet, and no protocol version
    header or a handshake-era one (2026-07-28 requests are stateless and open nothing)."""
    version = None
    for k, v in scope["headers"]:
        if k == _SESSION_HEADER:
            return False
        if k == _VERSION_HEADER:
            version = v
    return version is None or version in _HANDSHAKE


class SessionLimit:
    """ASGI: count handshake sessions per client address; refuse the one over the limit (429)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        manager: StreamableHTTPSessionManager,
        per_client: int,
        idle_timeout: float,
        path: str = "/mcp",
    ) -> None:
        self.app = app
        self.manager = manager
        self.per_client = per_client
        self.idle_timeout = idle_timeout
        self.path = path
        self._by_client: dict[str, set[str]] = {}
        self._opening: dict[str, int] = {}  # initialize requests admitted but not yet answered

    def open_sessions(self, client: str) -> int:
        ids = self._by_client.get(client)
        if not ids:
            return 0
        # The SDK owns session lifetimes (DELETE, idle timeout, crash); what it forgot stops counting.
        ids.intersection_update(self.manager._server_instances)  # noqa: SLF001 - the SDK's live-session table
        if not ids:
            del self._by_client[client]
        return len(ids)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != self.path
            or not _opens_session(scope)
        ):
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("?", 0))[0]
        held = self.open_sessions(client) + self._opening.get(client, 0)
        if held >= self.per_client:
            return await _refuse(
                send,
                f"this client address already holds {held} open MCP sessions, the limit "
                f"(gateway.http.max_sessions_per_client = {self.per_client}); end one with DELETE "
                f"or let it idle out ({self.idle_timeout:g} s)",
            )
        session: list[str] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                session.extend(
                    v.decode("latin-1") for k, v in message.get("headers", []) if k.lower() == _SESSION_HEADER
                )
            await send(message)

        self._opening[client] = self._opening.get(client, 0) + 1
        try:
            await self.app(scope, receive, watch)
        finally:
            left = self._opening[client] - 1
            if left:
                self._opening[client] = left
            else:
                del self._opening[client]
            if session:
                self._by_client.setdefault(client, set()).add(session[0])


async def _refuse(send: Send, message: str) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"10"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def timed_protocol(header_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class with a header read timeout (see the module docstring)."""

    class HeaderTimeoutProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete:
                self._disarm()  # a whole head arrived: the request's own handling takes over
            elif self._header_timer is None:
                self._arm()  # bytes of a next request on a kept-alive connection: the clock starts

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if not self.transport.is_closing():
                self._header_timer = self.loop.call_later(header_timeout, self._expire)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _expire(self) -> None:
            self._header_timer = None
            cycle = self.cycle
            if cycle is None or cycle.response_complete:
                logger.debug(
                    "closing %s: no complete request head within %gs (gateway.http.header_timeout)",
                    self.client,
                    header_timeout,
                )
                self.transport.close()

    return HeaderTimeoutProtocol


@contextmanager
def quiet_accept_errors(window: float = 60.0) -> Iterator[None]:
    """While serving, asyncio's repeated `accept()` errors are logged once per `window`."""
    log = logging.getLogger("asyncio")
    f = RepeatFilter(window)
    log.addFilter(f)
    try:
        yield
    finally:
        log.removeFilter(f)
