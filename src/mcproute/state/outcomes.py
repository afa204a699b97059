"""Outcome records as stored: `OutcomeRecord` and the small `OutcomeStore` protocol.

An outcome is something learned about a step after its decision: today a shadow comparison
(what the other tier would have done, runtime/shadow.py); later implicit signals the learning
loop reads. Kept apart from `ConversationStore`, like pins: a store may implement one without
the other, and a new store (Redis) needs only these two calls. Records are append-only, bounded
by the store's step TTL and step count, and small: the comparison and its figures, never prompt
or answer text (the replay log is where content is kept, under its own switch).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from mcproute.errors import InvalidRequest

MAX_DATA_BYTES = 16_384  # one record's JSON: a comparison is a few hundred bytes


@dataclass(frozen=True, slots=True)
class OutcomeRecord:
    step_id: str
    conversation_id: str
    kind: str  # "shadow"
    created_at: float
    data: Mapping[str, Any]  # a JSON object

    def data_json(self) -> str:
        return encode_data(self)


@runtime_checkable
class OutcomeStore(Protocol):
    async def record_outcome(self, record: OutcomeRecord) -> None: ...
    # Newest first; `step_id`/`kind` filter, `limit` bounds the answer.
    async def list_outcomes(
        self, *, step_id: str | None = None, kind: str | None = None, limit: int = 100
    ) -> list[OutcomeRecord]: ...


def encode_data(record: OutcomeRecord) -> str:
    """The record's data as JSON, refused (naming the step and why) if it is not a small JSON object."""
    if not isinstance(record.data, Mapping):
        raise InvalidRequest(f"outcome for step {record.step_id!r}: data must be a JSON object")
    if not record.kind or not record.step_id:
        raise InvalidRequest("an outcome needs a step id and a kind")
    try:
        text = json.dumps(dict(record.data), sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"outcome for step {record.step_id!r}: data is not JSON ({exc})") from None
    if len(text.encode("utf-8")) > MAX_DATA_BYTES:
        raise InvalidRequest(f"outcome for step {record.step_id!r}: data is over {MAX_DATA_BYTES} bytes")
    if not math.isfinite(record.created_at):
        raise InvalidRequest(f"outcome for step {record.step_id!r}: created_at is not a finite time")
    return text


def check_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100_000:
        raise InvalidRequest(f"limit must be an integer from 1 to 100000, got {limit!r}")
    return limit
