"""The `ConversationStore` protocol, its records, and the per-conversation lock both stores share.

A store keeps two things: one `ConversationState` per conversation (small, evicted by TTL and by
a size bound, least recently updated first) and one step record per routed step (the decision as
JSON, plus the reward `feedback` gave it), so feedback can find its step and calibration can
learn from rewards. Steps of one conversation are serialised: `update`/`record_step` run the
transition under a per-conversation lock (and, in SQLite, inside `BEGIN IMMEDIATE`, which also
serialises gateway processes sharing one file). Different conversations never wait for each other
in memory, and never see each other's state: a transition that returns a state for another
conversation is refused.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import anyio

from mcproute.errors import InvalidRequest, StateError
from mcproute.router.step import ConversationState

Transition = Callable[[ConversationState | None], ConversationState]


@dataclass(frozen=True, slots=True)
class StepRecord:
    step_id: str
    conversation_id: str
    decision: Mapping[str, Any]
    created_at: float
    reward: float | None = None
    feedback_at: float | None = None

    @property
    def tier(self) -> str | None:
        tier = self.decision.get("tier")
        return tier if isinstance(tier, str) else None


@dataclass(frozen=True, slots=True)
class TierFeedback:
    steps: int = 0  # step records kept for this tier
    rated: int = 0  # of which have a reward
    mean_reward: float | None = None


@dataclass(frozen=True, slots=True)
class FeedbackStats:
    """What calibration needs: how rewarded each tier's steps were (per policy version too)."""

    steps: int = 0
    rated: int = 0
    mean_reward: float | None = None
    by_tier: Mapping[str, TierFeedback] = field(default_factory=dict)
    by_policy: Mapping[str, TierFeedback] = field(default_factory=dict)


@runtime_checkable
class ConversationStore(Protocol):
    recovered: str | None  # set when a corrupt/locked file was replaced by a fresh store: why

    async def load(self, conversation_id: str) -> ConversationState | None: ...
    # The state and the record of its last step (its `last_step_id`, if still kept and of this
    # conversation), in one read: a step needs both and the SQLite store pays a thread hop per call.
    async def load_with_last_step(self, conversation_id: str) -> tuple[ConversationState | None, StepRecord | None]: ...
    async def save(self, state: ConversationState) -> None: ...
    async def update(self, conversation_id: str, fn: Transition) -> ConversationState: ...
    def lock(self, conversation_id: str) -> AbstractAsyncContextManager[None]: ...  # re-entrant per task
    async def record_step(
        self, conversation_id: str, step_id: str, decision_json: str, fn: Transition
    ) -> ConversationState: ...
    async def save_step(self, step_id: str, conversation_id: str, decision_json: str) -> None: ...
    async def get_step(self, step_id: str) -> StepRecord | None: ...
    async def record_feedback(self, step_id: str, reward: float) -> StepRecord: ...
    async def feedback_stats(self) -> FeedbackStats: ...
    async def list_conversations(self, limit: int = 100) -> list[ConversationState]: ...
    async def delete(self, conversation_id: str) -> bool: ...
    async def evict(self) -> int: ...
    async def close(self) -> None: ...


# ---------------------------------------------------------------- helpers shared by the stores


def check_transition(conversation_id: str, new: object) -> ConversationState:
    if not isinstance(new, ConversationState):
        raise StateError(
            f"transition for conversation {conversation_id!r} returned {type(new).__name__}, not ConversationState"
        )
    if new.conversation_id != conversation_id:
        # Isolation guard: one conversation's step must never write another's state.
        raise StateError(f"transition for conversation {conversation_id!r} returned state for {new.conversation_id!r}")
    return new


def own_step(conversation_id: str, record: StepRecord | None) -> StepRecord | None:
    """`record` if it belongs to `conversation_id` (isolation guard for `load_with_last_step`)."""
    return record if record is not None and record.conversation_id == conversation_id else None


def check_reward(step_id: str, reward: object) -> float:
    if (
        isinstance(reward, bool)
        or not isinstance(reward, (int, float))
        or not math.isfinite(reward)
        or not -1.0 <= reward <= 1.0
    ):
        raise InvalidRequest(f"reward for step {step_id!r} must be a number between -1 and 1, got {reward!r}")
    return float(reward)


def parse_decision(step_id: str, decision_json: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(decision_json, Mapping):
        return dict(decision_json)
    try:
        data = json.loads(decision_json)
    except (TypeError, ValueError) as exc:
        raise StateError(f"decision for step {step_id!r} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise StateError(f"decision for step {step_id!r} must be a JSON object")
    return data


AggregateRow = tuple[str | None, str | None, int, int, float]  # tier, policy, steps, rated, reward sum


def summarise(rows: list[AggregateRow]) -> FeedbackStats:
    """Rows of (tier, policy_version, steps, rated, sum of rewards) → FeedbackStats."""
    by_tier: dict[str, list[float]] = {}
    by_policy: dict[str, list[float]] = {}
    total = [0.0, 0.0, 0.0]
    for tier, policy, steps, rated, reward_sum in rows:
        for acc in (
            by_tier.setdefault(tier or "unknown", [0.0, 0.0, 0.0]),
            by_policy.setdefault(policy or "unknown", [0.0, 0.0, 0.0]),
            total,
        ):
            acc[0] += steps
            acc[1] += rated
            acc[2] += reward_sum
    return FeedbackStats(
        int(total[0]),
        int(total[1]),
        _mean(total),
        {k: TierFeedback(int(v[0]), int(v[1]), _mean(v)) for k, v in sorted(by_tier.items())},
        {k: TierFeedback(int(v[0]), int(v[1]), _mean(v)) for k, v in sorted(by_policy.items())},
    )


def _mean(acc: list[float]) -> float | None:
    return acc[2] / acc[1] if acc[1] else None


class ConversationLocks:
    """One anyio lock per conversation that has a waiter — never 100k idle locks.

    Re-entrant per task, so a gateway may hold `store.lock(cid)` around a whole step (load,
    decide, call the provider) and still call `store.update(cid, ...)` inside it.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @asynccontextmanager
    async def hold(self, conversation_id: str) -> AsyncIterator[None]:
        task = anyio.get_current_task().id
        entry = self._entries.get(conversation_id)
        if entry is None:
            entry = self._entries[conversation_id] = _Entry()
        if entry.owner == task:
            entry.depth += 1
            try:
                yield
            finally:
                entry.depth -= 1
            return
        entry.users += 1
        try:
            async with entry.lock:
                entry.owner, entry.depth = task, 1
                try:
                    yield
                finally:
                    entry.owner, entry.depth = None, 0
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._entries[conversation_id]


class _Entry:
    __slots__ = ("lock", "owner", "depth", "users")

    def __init__(self) -> None:
        self.lock = anyio.Lock()
        self.owner: int | None = None
        self.depth = 0
        self.users = 0
