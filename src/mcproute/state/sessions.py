"""Handshake-era MCP sessions as stored: `SessionRecord` and the small `SessionStore` protocol.

A handshake-era HTTP session (`Mcp-Session-Id`) used to live only in the process that answered its
`initialize`. Its record in the shared store is what another replica needs to serve it as if it
had been there from the start (gateway/session_share.py): the negotiated protocol version, the
client's `initialize` params, the principal that opened it (a request from another principal is
refused), the conversation it is bound to, the log level and resource subscriptions the client set,
and when it was created and last used. A record expires `idle_timeout` seconds after it was last
used (`gateway.http.session_idle_timeout`): on read it is then invisible, as an expired session is
on one replica.

Kept apart from `ConversationStore` like pins: a store may implement one without the other. The
memory, SQLite and Redis stores implement it (sqlite_sessions.py, redis_sessions.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from mcproute.errors import StateError


@dataclass(frozen=True, slots=True)
class SessionRecord:
    session_id: str
    protocol_version: str
    client_params: Mapping[str, Any]  # the client's InitializeRequestParams, as wire JSON
    principal: str | None  # the client name the guard authenticated (None: no auth configured)
    conversation_id: str  # what identity.py derives from the session id (the same on every replica)
    created_at: float
    last_seen: float
    idle_timeout: float
    log_level: str | None = None
    subscriptions: tuple[str, ...] = field(default=())  # resource URIs, as the client named them

    @property
    def expires_at(self) -> float:
        return self.last_seen + self.idle_timeout

    def live(self, now: float) -> bool:
        return now < self.expires_at


def encode_session(record: SessionRecord) -> str:
    data = asdict(record)
    data["subscriptions"] = list(record.subscriptions)
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


def decode_session(raw: bytes | str, *, last_seen: float | None = None) -> SessionRecord:
    """A stored record; `last_seen` overrides the encoded one (stores keep it apart, so a touch
    does not rewrite the record)."""
    try:
        data = json.loads(raw)
        data["subscriptions"] = tuple(data.get("subscriptions") or ())
        if last_seen is not None:
            data["last_seen"] = last_seen
        return SessionRecord(**data)
    except (TypeError, ValueError) as exc:
        raise StateError(f"unreadable MCP session record in the state store: {exc}") from None


@runtime_checkable
class SessionStore(Protocol):
    # Insert or replace (by session id); the record expires at `record.expires_at`.
    async def save_session(self, record: SessionRecord) -> None: ...
    # The live record, or None (never saved, deleted, or idle past its timeout).
    async def load_session(self, session_id: str) -> SessionRecord | None: ...
    # Mark it used now (its idle timeout starts again); False if it is not live any more.
    async def touch_session(self, session_id: str) -> bool: ...
    # True if there was a record (live or not) to delete.
    async def delete_session(self, session_id: str) -> bool: ...
    # Read the live record, apply `change` and save the result, atomically with respect to every
    # other update of it (replicas included), so two concurrent changes both land. The new record,
    # or None when there is no live one (then nothing is written).
    async def update_session(
        self, session_id: str, change: Callable[[SessionRecord], SessionRecord]
    ) -> SessionRecord | None: ...
