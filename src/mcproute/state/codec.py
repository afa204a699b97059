"""Compact bytes for a `ConversationState`: what both stores keep, so 100k idle conversations fit.

Only fields that differ from their defaults are written (a fresh conversation is a few bytes),
the conversation id is left out (it is the key), JSON uses no spaces, and anything longer than
`_COMPRESS_ABOVE` bytes (typically the recent texts and the last tool result) is zlib-compressed.
The first byte says which: `j` plain JSON, `z` zlib(JSON). Unknown keys are ignored on decode so
a newer gateway's state still loads in an older one.
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from typing import Any

from mcproute.errors import StateError
from mcproute.router.step import ConversationState

_COMPRESS_ABOVE = 192
_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in dataclasses.fields(ConversationState) if f.default is not dataclasses.MISSING
}


def encode_json(obj: Any) -> bytes:
    raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    if len(raw) > _COMPRESS_ABOVE:
        packed = zlib.compress(raw, 6)
        if len(packed) < len(raw):
            return b"z" + packed
    return b"j" + raw


def decode_json(blob: bytes) -> Any:
    if not blob:
        raise StateError("empty record in the conversation store")
    kind, body = blob[:1], blob[1:]
    try:
        if kind == b"z":
            body = zlib.decompress(body)
        elif kind != b"j":
            raise StateError(f"unknown record encoding {kind!r} in the conversation store")
        return json.loads(body)
    except (zlib.error, ValueError) as exc:
        raise StateError(f"unreadable record in the conversation store: {exc}") from None


def encode_state(state: ConversationState) -> bytes:
    data: dict[str, Any] = {}
    for f in dataclasses.fields(state):
        if f.name == "conversation_id":
            continue
        value = getattr(state, f.name)
        if f.name in _DEFAULTS and value == _DEFAULTS[f.name]:
            continue
        data[f.name] = list(value) if isinstance(value, tuple) else value
    return encode_json(data)


def decode_state(conversation_id: str, blob: bytes) -> ConversationState:
    data = decode_json(blob)
    if not isinstance(data, dict):
        raise StateError(f"state of conversation {conversation_id!r} is not a JSON object")
    data["conversation_id"] = conversation_id
    try:
        return ConversationState.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise StateError(f"state of conversation {conversation_id!r} does not fit ConversationState: {exc}") from None
