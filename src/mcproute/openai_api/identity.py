"""Which conversation a chat-completions request belongs to.

Chat-completions clients resend the whole history on every turn and never name their conversation,
so without cooperation each request would look like a new one and stickiness would be lost. Order:

1. the `X-Conversation-Id` header (validated like every client-chosen id: a bad one is refused,
   never rewritten, or one conversation would silently split in two);
2. a fingerprint of the conversation's opening — every system/developer message before the first
   user message, that first user message, and the request's `user` field — which every later turn
   of the same loop resends unchanged.

Two loops that open with exactly the same system prompt and first user message (and `user`) share
a fingerprint, hence a conversation: a client that runs many identical conversations at once
should send `X-Conversation-Id`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from mcproute.gateway.identity import ConversationIdentity
from mcproute.providers import Message

if TYPE_CHECKING:
    from mcproute.runtime import Engine

PREFIX = "oa-"  # fingerprint ids are recognisable in traces and `mcproute traces`
FINGERPRINT = "fingerprint"  # the identity source reported in `x-mcproute-conversation-source`


def opening(messages: Sequence[Message]) -> list[list[str]]:
    """The messages that identify a conversation: leading system messages plus the first user one."""
    out: list[list[str]] = []
    for m in messages:
        if m.role == "system":
            out.append(["system", m.content])
        elif m.role == "user":
            out.append(["user", m.content])
            break
    return out


def fingerprint(messages: Sequence[Message], user: str | None = None) -> str:
    data = json.dumps({"opening": opening(messages), "user": user or ""}, ensure_ascii=False, separators=(",", ":"))
    return PREFIX + hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def conversation_identity(
    engine: Engine, headers: Mapping[str, str], messages: Sequence[Message], user: str | None = None
) -> ConversationIdentity:
    """The header if given (raises InvalidConversationId when it is malformed), else the fingerprint."""
    ident = engine.identity(headers=headers)
    if ident.source != "new":
        return ident
    return ConversationIdentity(fingerprint(messages, user), cast(Any, FINGERPRINT))
