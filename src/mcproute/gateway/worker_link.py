"""Handshake-era sessions under `serve --workers N`: any worker serves any session's request.

A handshake-era session (`Mcp-Session-Id`) lives in the worker that answered its `initialize`:
the SDK's session manager keeps the session's streams in that process. The kernel hands each new
connection to whichever worker accepts first, and clients open several connections (a GET stream
beside the POSTs, a pool), so a session's next request often lands on another worker, which would
answer "Session not found". `SessionRouter` sits behind each worker's auth guard (so a made-up
session id costs no peer probe before the caller is authenticated): a request naming a
session this worker does not hold is passed, unchanged and streamed both ways, to the worker that
holds it, over that worker's private Unix socket. Which worker that is, it asks the others once
(`OWNS_PATH`, authenticated by a secret the parent gave every worker) and remembers.

When the owner is gone (killed, restarting), the request is answered here: with the session's
record in the shared store (gateway/session_share.py), this worker revives the session and serves
it; without one, the SDK says 404 "Session not found", which tells a client to start a new
session (MCP spec, "Session Management"). Forwarding to a live owner comes first on purpose: the
owner holds the session's GET stream (notifications, list changes) and waits for the client's
answers to its server->client requests, which a revived copy elsewhere would never see.
2026-07-28 requests carry no session and never take this path.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Container
from pathlib import Path

import anyio
import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcproute.gateway._fast_http import replay

logger = logging.getLogger(__name__)

OWNS_PATH = "/_mcproute/owns"  # a peer asks: do you hold session X? (peer secret required)
PEER_HEADER = "x-mcproute-peer"
VIA_HEADER = "x-mcproute-via-worker"  # on a forwarded response: the worker that passed it on
_SESSION = b"mcp-session-id"
_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"upgrade", b"proxy-connection", b"content-length"}
_REMEMBER = 10_000  # session -> owner entries kept


class SessionRouter:
    """ASGI middleware: forward a request for another worker's session to that worker."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        sessions: Callable[[], Container[str]],
        me: int,
        peers: dict[int, Path],
        secret: str,
        max_bytes: int,
        path: str = "/mcp",
    ) -> None:
        self.app = app
        self.sessions = sessions  # this worker's live sessions (the SDK manager's table)
        self.me = me
        self.peers = {i: p for i, p in peers.items() if i != me}
        self.secret = secret
        self.max_bytes = max_bytes
        self.path = path
        self._owner: OrderedDict[str, int] = OrderedDict()
        self._clients: dict[int, httpx.AsyncClient] = {}  # one per peer, for the process's life

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        sid = _header(scope, _SESSION)
        if scope["path"] != self.path or sid is None or sid in self.sessions() or not self.peers:
            return await self.app(scope, receive, send)
        owner = await self._find(sid)
        if owner is None:
            return await self.app(scope, receive, send)  # nobody holds it: the SDK answers 404
        await self._forward(owner, sid, scope, receive, send)

    # -- who holds a session ----------------------------------------------------------------

    async def answer_owns(self, scope: Scope, send: Send) -> None:
        given = _header(scope, PEER_HEADER.encode()) or ""
        if not hmac.compare_digest(given, self.secret):
            return await _respond(send, 404, {"error": "not found"})
        sid = dict(_query(scope)).get("session", "")
        await _respond(send, 200, {"owns": bool(sid) and sid in self.sessions(), "worker": self.me})

    async def _find(self, sid: str) -> int | None:
        if sid in self._owner:
            self._owner.move_to_end(sid)
            return self._owner[sid]
        for index in self.peers:
            try:
                r = await self._client(index).get(
                    OWNS_PATH, params={"session": sid}, headers={PEER_HEADER: self.secret}, timeout=5.0
                )
                owns = r.status_code == 200 and r.json().get("owns") is True
            except (httpx.HTTPError, ValueError):
                continue  # a peer that is down or restarting holds nothing
            if owns:
                self._owner[sid] = index
                while len(self._owner) > _REMEMBER:
                    self._owner.popitem(last=False)
                return index
        return None

    def _client(self, index: int) -> httpx.AsyncClient:
        client = self._clients.get(index)
        if client is None:
            transport = httpx.AsyncHTTPTransport(uds=str(self.peers[index]))
            client = self._clients[index] = httpx.AsyncClient(
                transport=transport, base_url="http://worker", timeout=httpx.Timeout(5.0, read=None)
            )
        return client

    # -- passing a request on ---------------------------------------------------------------

    async def _forward(self, owner: int, sid: str, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                return await _respond(send, 413, _jsonrpc_error(f"request body over {self.max_bytes} bytes"))
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _HOP]
        target = scope["path"] + (("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else "")
        request = self._client(owner).build_request(scope["method"], target, headers=headers, content=bytes(body))
        try:
            response = await self._client(owner).send(request, stream=True)
        except httpx.HTTPError as exc:
            # The owner went away with its copy of the session: served here instead, which revives
            # the session from its shared record, or (no record) the SDK answers 404.
            self._owner.pop(sid, None)
            logger.info("session %s: worker %d is gone (%s); serving it here", sid[:8], owner, exc)
            return await self.app(scope, replay(bytes(body), True, receive), send)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [(k, v) for k, v in response.headers.raw if k.lower() not in _HOP]
                    + [(VIA_HEADER.encode(), str(self.me).encode())],
                }
            )
            async with anyio.create_task_group() as tg:

                async def stop_on_disconnect() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    tg.cancel_scope.cancel()  # the client left: stop reading the owner's stream

                tg.start_soon(stop_on_disconnect)
                try:
                    async for chunk in response.aiter_raw():
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                except httpx.HTTPError as exc:
                    logger.info("session %s: worker %d stream ended early (%s)", sid[:8], owner, exc)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await response.aclose()


class OwnsProbe:
    """ASGI, outermost: answers a peer's `OWNS_PATH` question (peer secret checked) before the
    auth guard, which a peer cannot pass (it holds no client's token), and passes everything
    else on to the guarded app, where `SessionRouter` sits behind authentication."""

    def __init__(self, app: ASGIApp, router: SessionRouter) -> None:
        self.app = app
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == OWNS_PATH:
            return await self.router.answer_owns(scope, send)
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k.lower() == name:
            return str(v.decode("latin-1"))
    return None


def _query(scope: Scope) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(scope.get("query_string", b"").decode("latin-1"))


def _jsonrpc_error(message: str) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}}


async def _respond(send: Send, status: int, payload: object) -> None:
    body = json.dumps(payload).encode()
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body})
