"""In-memory `ConversationStore`: for tests and for `state.backend: memory` (nothing survives exit).

Memory is the point of the layout: each conversation is ONE `bytes` value in an `OrderedDict`
(8 bytes of last-update time, then the compact encoding from `codec`), ordered by last update so
both evictions are O(1) amortised — the oldest entries sit at the front, whether they are too old
(TTL) or one too many (size bound). No dataclass, no per-conversation lock is kept for an idle
conversation.
"""

from __future__ import annotations

import struct
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import Any

from mcproute.errors import UnknownStep
from mcproute.router.step import ConversationState
from mcproute.state import policies
from mcproute.state.base import (
    AggregateRow,
    ConversationLocks,
    FeedbackStats,
    StepRecord,
    Transition,
    check_reward,
    check_transition,
    own_step,
    parse_decision,
    summarise,
)
from mcproute.state.codec import decode_json, decode_state, encode_json, encode_state
from mcproute.state.counters import MemoryCounters, Taken
from mcproute.state.outcomes import OutcomeRecord, check_limit, encode_data
from mcproute.state.pins import PinRecord, select
from mcproute.state.policies import PolicyVersion
from mcproute.state.sessions import SessionRecord

_TS = struct.Struct("<d")


class MemoryStore:
    def __init__(
        self,
        *,
        ttl_seconds: float = 7 * 24 * 3600,
        max_conversations: int = 100_000,
        max_steps: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl = ttl_seconds
        self.max_conversations = max_conversations
        self.max_steps = max_steps
        self.recovered: str | None = None
        self._clock = clock
        self._convs: OrderedDict[str, bytes] = OrderedDict()
        # step_id -> (conversation_id, created_at, encoded decision, reward, feedback_at)
        self._steps: OrderedDict[str, tuple[str, float, bytes, float | None, float | None]] = OrderedDict()
        self._locks = ConversationLocks()
        self._pins: dict[tuple[str, str], PinRecord] = {}  # few (one per downstream tool): never evicted
        self._pins_writes = 0
        self._counters = MemoryCounters(clock)
        self._outcomes: deque[OutcomeRecord] = deque(maxlen=max_steps)  # oldest first; bounded like steps
        self._policies: list[PolicyVersion] = []  # oldest first; bounded by policies.MAX_VERSIONS
        self._sessions: dict[str, SessionRecord] = {}  # handshake-era MCP sessions (SessionStore)

    async def __aenter__(self) -> MemoryStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __len__(self) -> int:
        return len(self._convs)

    # ------------------------------------------------------------ conversations

    def lock(self, conversation_id: str) -> AbstractAsyncContextManager[None]:
        return self._locks.hold(conversation_id)

    async def take(self, key: str, amount: float, limit: float | None, expires_at: float) -> Taken:
        """Client counters (state/counters.py); lost on restart, as everything here."""
        return await self._counters.take(key, amount, limit, expires_at)

    async def load(self, conversation_id: str) -> ConversationState | None:
        return self._load(conversation_id)

    def _load(self, conversation_id: str) -> ConversationState | None:
        blob = self._convs.get(conversation_id)
        if blob is None:
            return None
        (saved_at,) = _TS.unpack_from(blob)
        if saved_at < self._clock() - self.ttl:
            del self._convs[conversation_id]
            return None
        return decode_state(conversation_id, blob[_TS.size :])

    async def load_with_last_step(self, conversation_id: str) -> tuple[ConversationState | None, StepRecord | None]:
        state = self._load(conversation_id)
        if state is None or not state.last_step_id:
            return state, None
        return state, own_step(conversation_id, self._get_step(state.last_step_id))

    async def save(self, state: ConversationState) -> None:
        self._save(state)

    def _save(self, state: ConversationState) -> None:
        now = self._clock()
        self._convs[state.conversation_id] = _TS.pack(now) + encode_state(state)
        self._convs.move_to_end(state.conversation_id)
        self._evict(now)

    async def update(self, conversation_id: str, fn: Transition) -> ConversationState:
        async with self._locks.hold(conversation_id):
            new = check_transition(conversation_id, fn(self._load(conversation_id)))
            self._save(new)
            return new

    async def record_step(
        self, conversation_id: str, step_id: str, decision_json: str, fn: Transition
    ) -> ConversationState:
        async with self._locks.hold(conversation_id):
            decision = parse_decision(step_id, decision_json)
            new = check_transition(conversation_id, fn(self._load(conversation_id)))
            self._save(new)
            self._put_step(step_id, conversation_id, decision)
            return new

    async def delete(self, conversation_id: str) -> bool:
        return self._convs.pop(conversation_id, None) is not None

    async def list_conversations(self, limit: int = 100) -> list[ConversationState]:
        self._evict(self._clock())
        out: list[ConversationState] = []
        for cid in reversed(self._convs):
            if len(out) >= limit:
                break
            out.append(decode_state(cid, self._convs[cid][_TS.size :]))
        return out

    async def evict(self) -> int:
        return self._evict(self._clock())

    def _evict(self, now: float) -> int:
        removed = 0
        cutoff = now - self.ttl
        while self._convs:
            cid, blob = next(iter(self._convs.items()))
            if _TS.unpack_from(blob)[0] >= cutoff and len(self._convs) <= self.max_conversations:
                break
            del self._convs[cid]
            removed += 1
        while self._steps:
            sid, rec = next(iter(self._steps.items()))
            if rec[1] >= cutoff and len(self._steps) <= self.max_steps:
                break
            del self._steps[sid]
        return removed

    # ------------------------------------------------------------ steps and feedback

    async def save_step(self, step_id: str, conversation_id: str, decision_json: str) -> None:
        self._put_step(step_id, conversation_id, parse_decision(step_id, decision_json))

    def _put_step(self, step_id: str, conversation_id: str, decision: dict[str, Any]) -> None:
        now = self._clock()
        self._steps[step_id] = (conversation_id, now, encode_json(decision), None, None)
        self._steps.move_to_end(step_id)
        self._evict(now)

    async def get_step(self, step_id: str) -> StepRecord | None:
        return self._get_step(step_id)

    def _get_step(self, step_id: str) -> StepRecord | None:
        rec = self._steps.get(step_id)
        if rec is None or rec[1] < self._clock() - self.ttl:
            return None
        cid, created, blob, reward, feedback_at = rec
        return StepRecord(step_id, cid, decode_json(blob), created, reward, feedback_at)

    async def record_feedback(self, step_id: str, reward: float) -> StepRecord:
        value = check_reward(step_id, reward)
        if await self.get_step(step_id) is None:
            raise UnknownStep(f"no step {step_id!r} to give feedback for (unknown, or older than the state TTL)")
        cid, created, blob, _, _ = self._steps[step_id]
        self._steps[step_id] = (cid, created, blob, value, self._clock())
        record = await self.get_step(step_id)
        assert record is not None
        return record

    async def feedback_stats(self) -> FeedbackStats:
        cutoff = self._clock() - self.ttl
        rows: list[AggregateRow] = []
        for _, created, blob, reward, _ in self._steps.values():
            if created < cutoff:
                continue
            decision = decode_json(blob)
            rows.append(
                (decision.get("tier"), decision.get("policy_version"), 1, int(reward is not None), reward or 0.0)
            )
        return summarise(rows)

    # ------------------------------------------------------------ outcomes (OutcomeStore)

    async def record_outcome(self, record: OutcomeRecord) -> None:
        encode_data(record)  # the same checks as SQLite's, so bad data fails here too
        self._outcomes.append(record)

    async def list_outcomes(
        self, *, step_id: str | None = None, kind: str | None = None, limit: int = 100
    ) -> list[OutcomeRecord]:
        n, cutoff = check_limit(limit), self._clock() - self.ttl
        out: list[OutcomeRecord] = []
        for r in reversed(self._outcomes):
            if len(out) >= n:
                break
            if r.created_at >= cutoff and step_id in (None, r.step_id) and kind in (None, r.kind):
                out.append(r)
        return out

    # ------------------------------------------------------------ learned policy versions (PolicyStore)

    async def record_policy(self, version: PolicyVersion) -> None:
        policies.decode(policies.encode(version))  # the same checks and JSON round trip as the other stores
        if any(v.id == version.id for v in self._policies):
            return
        self._policies.append(version)
        if len(self._policies) > policies.MAX_VERSIONS:
            keep = await self.current_policy()
            old = [v for v in self._policies[: -policies.MAX_VERSIONS] if keep is None or v.id != keep.id]
            self._policies = [v for v in self._policies if v not in old]

    async def get_policy(self, version_id: str) -> PolicyVersion | None:
        return next((v for v in self._policies if v.id == version_id), None)

    async def list_policies(self, limit: int = policies.MAX_VERSIONS) -> list[PolicyVersion]:
        return list(reversed(self._policies))[: policies.check_limit(limit)]

    async def current_policy(self) -> PolicyVersion | None:
        return next((v for v in reversed(self._policies) if v.status == "adopted"), None)

    # ------------------------------------------------------------ tool-definition pins (PinStore)

    async def load_pins(self) -> dict[tuple[str, str], PinRecord]:
        return dict(sorted(self._pins.items()))

    async def save_pins(self, records: Sequence[PinRecord]) -> None:
        for r in records:
            self._pins[r.key] = r
        self._pins_writes += 1

    async def approve_pins(self, target: str | None, now: float) -> list[PinRecord]:
        chosen = [r.approved(now) for r in select(list(self._pins.values()), target) if r.pending_hash is not None]
        await self.save_pins(chosen)
        return chosen

    async def pins_version(self) -> int:
        return self._pins_writes

    # ------------------------------------------------------------ MCP sessions (SessionStore)

    async def save_session(self, record: SessionRecord) -> None:
        now = self._clock()
        if len(self._sessions) >= 1024:  # sweep now and then, so idle-expired ones do not pile up
            self._sessions = {k: v for k, v in self._sessions.items() if v.live(now)}
        self._sessions[record.session_id] = record

    async def load_session(self, session_id: str) -> SessionRecord | None:
        record = self._sessions.get(session_id)
        return record if record is not None and record.live(self._clock()) else None

    async def touch_session(self, session_id: str) -> bool:
        record = await self.load_session(session_id)
        if record is None:
            return False
        self._sessions[session_id] = replace(record, last_seen=self._clock())
        return True

    async def delete_session(self, session_id: str) -> bool:
        return self._sessions.pop(session_id, None) is not None

    async def update_session(
        self, session_id: str, change: Callable[[SessionRecord], SessionRecord]
    ) -> SessionRecord | None:
        # No await between the read and the write: atomic on the event loop.
        record = self._sessions.get(session_id)
        if record is None or not record.live(self._clock()):
            return None
        self._sessions[session_id] = new = change(record)
        return new

    async def close(self) -> None:
        self._sessions.clear()
        self._convs.clear()
        self._steps.clear()
        self._outcomes.clear()
