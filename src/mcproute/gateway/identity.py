"""Which conversation a request belongs to — pure, first match wins.

The newest MCP protocol era (2026-07-28) has no session, so a conversation needs an identity of
its own. The sources, in order:

1. `conversation_id` argument of a meta-tool (`mcproute__route`, `mcproute__run_step`, ...);
2. `_meta["mcproute/conversation_id"]` on any request;
3. the HTTP header `X-Conversation-Id`;
4. the W3C trace id from `_meta.traceparent` (on by default, `routing.conversation_from_traceparent`);
5. the legacy MCP session id (`Mcp-Session-Id`: a handshake-era session over HTTP);
6. the connection: one stdio pipe has exactly one client, so the serving process's lifetime is
   one conversation in either protocol era (5 and 6: on by default, `routing.conversation_from_connection`);
7. otherwise a new id, which the caller must hand back to the client so it can continue (a
   2026-07-28 client over HTTP: that era has no session and HTTP no connection to hang one on).

Ids the *client* chose (1–3) are validated and rejected with a clear message when too long or
made of odd characters: silently rewriting them would split one conversation in two without
anyone noticing. Ids the client did not choose (a trace id, a session id) are never the client's
fault: a malformed traceparent is skipped, as W3C Trace Context says, and an odd session id is
hashed into a valid one.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Literal, NamedTuple

from mcproute.errors import InvalidConversationId

META_KEY = "mcproute/conversation_id"
HEADER = "X-Conversation-Id"
ARGUMENT = "conversation_id"
MAX_LENGTH = 128
# Letters, digits and a few separators that UUIDs, ULIDs, base64 and "user:thread" ids use; no
# whitespace, quotes, slashes or control characters, so ids are safe in logs, spans and SQL.
_ALLOWED = re.compile(r"[A-Za-z0-9._:@+=-]+")
_ALLOWED_TEXT = "letters, digits and . _ : @ + = -"
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")

Source = Literal["argument", "meta", "header", "traceparent", "session", "connection", "new"]


class ConversationIdentity(NamedTuple):
    """Unpacks as `(id, source)`; `source == "new"` means the caller must return the id."""

    id: str
    source: Source


def validate_conversation_id(value: object, where: str) -> str:
    """Return `value` if it is a usable id, else raise `InvalidConversationId` naming `where`."""
    if not isinstance(value, str):
        raise InvalidConversationId(f"conversation id from {where} must be a string, got {type(value).__name__}")
    if len(value) > MAX_LENGTH:
        raise InvalidConversationId(
            f"conversation id from {where} is {len(value)} characters long; the limit is {MAX_LENGTH}"
        )
    if not _ALLOWED.fullmatch(value):
        pos, ch = next((i, c) for i, c in enumerate(value) if not _ALLOWED.fullmatch(c))
        raise InvalidConversationId(
            f"conversation id from {where} has an invalid character {ch!r} at position {pos}; use only {_ALLOWED_TEXT}"
        )
    return value


def trace_id_from_traceparent(traceparent: object) -> str | None:
    """The 32-hex trace id of a valid W3C `traceparent`, else None (invalid ones are ignored)."""
    if not isinstance(traceparent, str):
        return None
    m = _TRACEPARENT.fullmatch(traceparent.strip())
    # Version ff is forbidden, an all-zero trace id is invalid; version 00 has no extra parts; later versions may.
    if (
        not m
        or m.group(1) == "ff"
        or m.group(2) == "0" * 32
        or m.group(3) == "0" * 16
        or (m.group(1) == "00" and m.group(5))
    ):
        return None
    return m.group(2)


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def _given(value: Any) -> bool:
    # An empty value is "not given": clients with a templated empty default should not be refused.
    return value is not None and value != ""


def _session_to_id(session_id: str) -> str:
    if len(session_id) <= MAX_LENGTH and _ALLOWED.fullmatch(session_id):
        return session_id
    return "s-" + hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def session_conversation_id(session_id: str) -> str:
    """The conversation a handshake-era session is bound to: a function of its id alone, so every
    replica serving the session (gateway/session_share.py) resolves the same one."""
    return _session_to_id(session_id)


def new_conversation_id() -> str:
    return uuid.uuid4().hex


def resolve_conversation_id(
    *,
    arguments: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    session_id: str | None = None,
    connection_id: str | None = None,
    from_traceparent: bool = True,
    from_connection: bool = True,
    new_id: Callable[[], str] = new_conversation_id,
) -> ConversationIdentity:
    """Resolve a request's conversation; first match wins (see the module docstring).

    `arguments` are the meta-tool's arguments (pass None for a proxied tool call: a downstream
    tool's own `conversation_id` argument is not ours to interpret), `meta` is the request's
    `_meta`, `headers` the HTTP request headers (None over stdio), `session_id` the
    `Mcp-Session-Id`, `connection_id` the id the stdio server gave its one connection.
    `from_connection=False` ignores both (for a program that multiplexes many conversations over
    one connection and names none of them).
    """
    if arguments is not None and _given(arguments.get(ARGUMENT)):
        return ConversationIdentity(
            validate_conversation_id(arguments[ARGUMENT], f"the {ARGUMENT!r} argument"), "argument"
        )
    if meta is not None and _given(meta.get(META_KEY)):
        return ConversationIdentity(validate_conversation_id(meta[META_KEY], f"_meta[{META_KEY!r}]"), "meta")
    header = _header(headers, HEADER)
    if _given(header):
        return ConversationIdentity(validate_conversation_id(header, f"the {HEADER} header"), "header")
    if from_traceparent and meta is not None:
        trace_id = trace_id_from_traceparent(meta.get("traceparent"))
        if trace_id is not None:
            return ConversationIdentity(trace_id, "traceparent")
    if from_connection and _given(session_id):
        return ConversationIdentity(_session_to_id(str(session_id)), "session")
    if from_connection and _given(connection_id):
        return ConversationIdentity(_session_to_id(str(connection_id)), "connection")
    return ConversationIdentity(validate_conversation_id(new_id(), "the id generator"), "new")
