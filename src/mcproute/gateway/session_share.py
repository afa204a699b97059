"""Any replica serves any handshake-era session: session records in the shared state store.

A handshake-era HTTP session (`Mcp-Session-Id`) used to live only in the process that answered
its `initialize`; behind a load balancer without affinity its next request reached another
replica and got 404 "Session not found". Now:

- `SessionRecorder` (an SDK server middleware) writes a `SessionRecord` when a session's
  `initialize` succeeds (before the client sees the session id), and updates it when the client
  sets a log level or (un)subscribes a resource.
- `SessionShare` (ASGI, behind the auth guard, in front of the SDK's `/mcp` app): a request naming
  a session this process does not hold, but the store knows, is served here: the session is
  revived (`_session_revive.revive`) in the initialized state, with the client's params, log
  level and subscriptions, then the request goes on as if the session had always been here.
  Unknown (or idle-expired) ids still get the SDK's 404. A session is bound to the principal that
  opened it: another principal's request naming it gets the same 404, on every replica.
  DELETE removes the record; every replica's copy then answers 404 within `check_every` seconds
  (each copy re-checks the record that often, which also renews its idle timeout).

The conversation a session is bound to is derived from its id (gateway/identity.py), the same on
every replica, so stickiness across replicas is exactly as on one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import anyio
from mcp.server.streamable_http import SESSION_ID_PATTERN
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcproute.access.keys import CLIENT_HEADER
from mcproute.errors import StateError
from mcproute.gateway import _session_revive
from mcproute.gateway.identity import session_conversation_id
from mcproute.state.sessions import SessionRecord, SessionStore

logger = logging.getLogger(__name__)

_SESSION = b"mcp-session-id"
_CLIENT = CLIENT_HEADER.encode()
_MAX_ID = 256  # longer ids were never minted by anyone: not worth a store read
_FULL = "Too many open sessions"
_RECORDED = ("initialize", "logging/setLevel", "resources/subscribe", "resources/unsubscribe")


class SessionShare:
    """ASGI middleware: serve here a session another replica opened; keep its record current."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        manager: StreamableHTTPSessionManager,
        store: SessionStore,
        restore: Callable[[Any, SessionRecord], Any],
        check_every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        path: str = "/mcp",
    ) -> None:
        _session_revive.check_sdk(manager)
        self.app = app
        self.manager = manager
        self.store = store
        self.restore = restore  # async (connection, record): log level + subscriptions on a revived copy
        self.check_every = check_every
        self.clock = clock
        self.path = path
        self.owners: dict[str, str | None] = {}  # principal of each session held here
        self._checked: dict[str, float] = {}  # when each held session's record was last checked
        self._reviving: dict[str, anyio.Lock] = {}

    def held(self) -> dict[str, Any]:
        return _session_revive.live_sessions(self.manager)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            return await self.app(scope, receive, send)
        sid = principal = None
        for k, v in scope["headers"]:
            if k == _SESSION:
                sid = v.decode("latin-1")
            elif k == _CLIENT:
                principal = v.decode("latin-1")
        if sid is None or len(sid) > _MAX_ID or not SESSION_ID_PATTERN.fullmatch(sid):
            return await self.app(scope, receive, send)  # no session, or one the SDK refuses itself
        if sid in self.held():
            if sid in self.owners and self.owners[sid] != principal:
                return await _not_found(send, sid, "another principal's session")
            if not await self._still_live(sid):
                await _session_revive.end_session(self.manager, sid)
                return await _not_found(send, sid, "ended elsewhere or idle")
        else:
            refused = await self._bring_here(sid, principal)
            if refused:
                return await _not_found(send, sid, refused)
        if scope["method"] != "DELETE":
            return await self.app(scope, receive, send)
        status: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self.app(scope, receive, watch)
        if status and status[0] < 400:
            self.forget(sid)
            try:
                await self.store.delete_session(sid)
            except StateError as exc:
                logger.warning("session %s ended, but its record stays until it idles out: %s", sid[:8], exc)

    def forget(self, sid: str) -> None:
        self.owners.pop(sid, None)
        self._checked.pop(sid, None)

    def remember(self, sid: str, principal: str | None, *, shared: bool = True) -> None:
        """`sid` is held here for `principal`; `shared`: its record is in the store (re-check it)."""
        self.owners[sid] = principal
        if shared:
            self._checked[sid] = self.clock()
        if len(self.owners) > 2 * len(self.held()) + 64:  # copies the SDK has since dropped (idle, DELETE)
            for gone in [s for s in self.owners if s not in self.held()]:
                self.forget(gone)

    async def _still_live(self, sid: str) -> bool:
        """Re-check the record at most every `check_every` s (renewing its idle timeout)."""
        now = self.clock()
        if sid not in self._checked or now - self._checked[sid] < self.check_every:
            return True  # (not in it: a session whose record could not be written stays local)
        self._checked[sid] = now
        try:
            return await self.store.touch_session(sid)
        except StateError as exc:
            logger.warning("session %s: cannot check its record (%s); serving this replica's copy", sid[:8], exc)
            return True

    async def _bring_here(self, sid: str, principal: str | None) -> str | None:
        """Revive `sid` here if the store knows it; the reason to refuse it, else None (an id the
        store does not know goes on to the SDK, which answers 404 as always)."""
        lock = self._reviving.setdefault(sid, anyio.Lock())
        try:
            async with lock:
                if sid in self.held():  # a concurrent request (the GET stream, say) revived it
                    return "another principal's session" if self.owners.get(sid, principal) != principal else None
                try:
                    record = await self.store.load_session(sid)
                except StateError as exc:
                    logger.warning("session %s: cannot read its record: %s", sid[:8], exc)
                    return None
                if record is None:
                    return None
                if record.principal != principal:
                    return "another principal's session"
                limit = self.manager.max_sessions
                if limit is not None and len(self.held()) >= limit:
                    return _FULL  # the SDK's own cap on sessions held at once holds for revived ones too
                connection = await _session_revive.revive(
                    self.manager, sid, record.protocol_version, record.client_params
                )
                self.remember(sid, record.principal)
                await self.restore(connection, record)
                logger.info("session %s: served here from its shared record", sid[:8])
                return None
        finally:
            if not lock.statistics().tasks_waiting:
                self._reviving.pop(sid, None)


class SessionRecorder:
    """SDK server middleware: keep each HTTP session's record in the store current."""

    def __init__(self, store: SessionStore, share: SessionShare, idle_timeout: float) -> None:
        self.store = store
        self.share = share
        self.idle_timeout = idle_timeout

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        result = await call_next(ctx)
        if ctx.method not in _RECORDED:
            return result
        connection = getattr(ctx.session, "_connection", None)  # the SDK keeps it private (routing.py)
        sid = getattr(connection, "session_id", None)
        if sid is None:  # stdio, or a 2026-07-28 request: nothing to share
            return result
        try:
            if ctx.method == "initialize":
                await self._opened(ctx, sid, result)
            else:
                await self._changed(ctx, sid)
        except StateError as exc:
            logger.warning("session %s is served by this replica only: %s", sid[:8], exc)
        return result

    async def _opened(self, ctx: Any, sid: str, result: Mapping[str, Any]) -> None:
        headers = getattr(ctx.request, "headers", None) or {}
        principal = headers.get(CLIENT_HEADER)
        now = time.time()
        params = {k: v for k, v in (ctx.params or {}).items() if k != "_meta"}
        version = result.get("protocolVersion") if isinstance(result, Mapping) else None
        record = SessionRecord(
            session_id=sid,
            protocol_version=str(version or params.get("protocolVersion") or ctx.protocol_version),
            client_params=params,
            principal=principal,
            conversation_id=session_conversation_id(sid),
            created_at=now,
            last_seen=now,
            idle_timeout=self.idle_timeout,
        )
        self.share.remember(sid, principal, shared=False)  # bound to its principal here, whatever happens next
        await self.store.save_session(record)
        self.share.remember(sid, principal)

    async def _changed(self, ctx: Any, sid: str) -> None:
        params, method, now = ctx.params or {}, ctx.method, time.time()

        def change(record: SessionRecord) -> SessionRecord:
            if method == "logging/setLevel":
                return replace(record, log_level=str(params.get("level")), last_seen=now)
            uri = str(params.get("uri"))
            subs = [u for u in record.subscriptions if u != uri]
            if method == "resources/subscribe":
                subs.append(uri)
            return replace(record, subscriptions=tuple(subs), last_seen=now)

        # Atomic in the store: two subscribes of one session at once (on any replicas) both land.
        await self.store.update_session(sid, change)


async def _not_found(send: Send, sid: str, why: str) -> None:
    # Exactly what the SDK answers for a session it does not hold, so a client cannot tell an
    # unknown id from another principal's (and, at its session cap, what it answers then: 503).
    logger.info("session %s refused here: %s", sid[:8], why)
    status, code, message = (503, -32603, _FULL) if why == _FULL else (404, -32600, "Session not found")
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})
