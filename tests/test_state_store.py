"""Behaviour every ConversationStore must have: one specification, run against every store (memory,
real SQLite, and a real redis-server started by the tests, redis_fixture.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from mcproute.errors import InvalidRequest, StateError, UnknownStep
from mcproute.router.step import ConversationState
from mcproute.state import ConversationStore, MemoryStore, SqliteStore
from mcproute.state.redis_store import RedisStore
from redis_fixture import RedisServer
from store_support import Clock

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", "sqlite", "redis"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> Clock:
    return Clock()


Make = Callable[..., ConversationStore]


@pytest.fixture
def make(kind: str, tmp_path: Path, clock: Clock, request: pytest.FixtureRequest) -> Make:
    """A store of this run's kind (a fresh key prefix on the session's redis-server for redis)."""

    def build(**kw: object) -> ConversationStore:
        if kind == "memory":
            return MemoryStore(clock=clock, **kw)  # type: ignore[arg-type]
        if kind == "redis":
            server: RedisServer = request.getfixturevalue("redis_server")
            return RedisStore(server.url, prefix=server.fresh_prefix(), clock=clock, **kw)  # type: ignore[arg-type]
        return SqliteStore(tmp_path / "state.sqlite3", clock=clock, **kw)  # type: ignore[arg-type]

    return build


@pytest.fixture
async def store(make: Make) -> AsyncIterator[ConversationStore]:
    s = make(ttl_seconds=100.0, max_conversations=1000)
    try:
        yield s
    finally:
        await s.close()


def rich_state(cid: str) -> ConversationState:
    return ConversationState(
        conversation_id=cid,
        tier="reasoning",
        model="deep",
        deployment="deep#1",
        step_count=7,
        fast_streak=2,
        awaiting_tool_result=True,
        tools_used=("git__git_status", "git__git_diff"),
        servers_used=("git", "git"),
        recent_texts=("look at the diff", "commit it — “quoted” ünïcode"),
        last_result="diff --git a/x b/x\n" * 10,
        tool_errors=1,
        last_step_id="s7",
        updated_at=123.5,
        cascade_reason="the fast model's call to git__git_commit failed its schema",
    )


def bump(cid: str):  # a transition: one more step
    def fn(state: ConversationState | None) -> ConversationState:
        base = state or ConversationState(conversation_id=cid)
        return replace(base, step_count=base.step_count + 1)

    return fn


async def test_round_trip_keeps_every_field(store: ConversationStore) -> None:
    assert store.recovered is None
    assert await store.load("c1") is None
    state = rich_state("c1")
    await store.save(state)
    assert await store.load("c1") == state
    fresh = ConversationState(conversation_id="c2")
    await store.save(fresh)
    assert await store.load("c2") == fresh


async def test_conversations_are_isolated(store: ConversationStore) -> None:
    await store.save(rich_state("a"))
    await store.update("b", bump("b"))
    a, b = await store.load("a"), await store.load("b")
    assert a == rich_state("a")
    assert b == ConversationState(conversation_id="b", step_count=1)
    # A transition may not write another conversation's state.
    with pytest.raises(StateError, match="returned state for 'a'"):
        await store.update("b", lambda s: rich_state("a"))
    assert await store.load("a") == rich_state("a") and await store.load("b") == b
    assert await store.delete("a") is True and await store.delete("a") is False
    assert await store.load("a") is None and await store.load("b") == b


async def test_concurrent_updates_are_serialised_without_lost_update(store: ConversationStore) -> None:
    async with anyio.create_task_group() as tg:
        for _ in range(40):
            tg.start_soon(store.update, "hot", bump("hot"))
            tg.start_soon(store.update, "other", bump("other"))
    assert (await store.load("hot")).step_count == 40  # type: ignore[union-attr]
    assert (await store.load("other")).step_count == 40  # type: ignore[union-attr]
    assert len(store._locks) == 0  # type: ignore[attr-defined]  # no lock outlives its waiters


async def test_lock_spans_a_whole_step_and_is_reentrant(store: ConversationStore) -> None:
    """The gateway holds lock(cid) across load → decide → provider call → save; nobody interleaves."""

    async def step() -> None:
        async with store.lock("c"):
            state = await store.load("c") or ConversationState(conversation_id="c")
            await anyio.sleep(0)  # a provider call: other tasks run here
            await anyio.sleep(0)
            await store.save(replace(state, step_count=state.step_count + 1))
            # Re-entrant: update inside the held lock must not deadlock.
            with anyio.fail_after(5):
                await store.update("c", lambda s: replace(s, tool_errors=s.tool_errors + 1))  # type: ignore[union-attr]

    async with anyio.create_task_group() as tg:
        for _ in range(15):
            tg.start_soon(step)
    final = await store.load("c")
    assert final is not None and final.step_count == 15 and final.tool_errors == 15


async def test_failed_transition_changes_nothing(store: ConversationStore) -> None:
    await store.save(rich_state("c"))

    def boom(state: ConversationState | None) -> ConversationState:
        raise ValueError("transition bug")

    with pytest.raises(ValueError, match="transition bug"):
        await store.update("c", boom)
    assert await store.load("c") == rich_state("c")
    await store.update("c", bump("c"))  # the lock was released
    assert (await store.load("c")).step_count == 8  # type: ignore[union-attr]


async def test_ttl_eviction(store: ConversationStore, clock: Clock) -> None:
    await store.save(rich_state("old"))
    clock.now += 60
    await store.save(rich_state("young"))
    clock.now += 50  # old is 110 s idle (> ttl 100), young 50 s
    assert await store.evict() == 1
    assert await store.evict() == 0
    assert await store.load("old") is None
    assert await store.load("young") == rich_state("young")
    assert [s.conversation_id for s in await store.list_conversations()] == ["young"]
    # Expiry holds on read even before a sweep runs.
    clock.now += 10
    await store.save(rich_state("gone-soon"))
    clock.now += 101
    assert await store.load("gone-soon") is None
    clock.now += 1000
    assert await store.load("young") is None
    assert await store.list_conversations() == []


async def test_size_bound_evicts_least_recently_updated(make: Make, clock: Clock) -> None:
    store = make(max_conversations=3)
    try:
        for i in range(3):
            clock.now += 1
            await store.save(ConversationState(conversation_id=f"c{i}"))
        clock.now += 1
        await store.update("c0", bump("c0"))  # c0 is now the most recent
        for i in (3, 4):
            clock.now += 1
            await store.save(ConversationState(conversation_id=f"c{i}"))
        kept = [s.conversation_id for s in await store.list_conversations(10)]
        assert kept == ["c4", "c3", "c0"]
        assert await store.load("c1") is None and await store.load("c2") is None
    finally:
        await store.close()


async def test_list_conversations_most_recent_first_with_limit(store: ConversationStore, clock: Clock) -> None:
    for i in range(5):
        clock.now += 1
        await store.save(ConversationState(conversation_id=f"c{i}", step_count=i))
    assert [s.conversation_id for s in await store.list_conversations(2)] == ["c4", "c3"]


def decision(tier: str, policy: str = "p1") -> str:
    return json.dumps({"tier": tier, "policy_version": policy, "tool": "git__git_status", "reason": "r"})


async def test_steps_and_feedback(store: ConversationStore) -> None:
    await store.save_step("s1", "c1", decision("fast"))
    await store.save_step("s2", "c1", decision("reasoning"))
    await store.save_step("s3", "c2", decision("fast", "p2"))
    rec = await store.get_step("s1")
    assert rec is not None and rec.conversation_id == "c1" and rec.tier == "fast" and rec.reward is None
    assert rec.decision["tool"] == "git__git_status"
    got = await store.record_feedback("s1", 1.0)
    assert got.reward == 1.0 and got.feedback_at is not None
    await store.record_feedback("s3", -0.5)
    await store.record_feedback("s1", 0.5)  # last feedback wins
    stats = await store.feedback_stats()
    assert (stats.steps, stats.rated) == (3, 2)
    assert stats.mean_reward == pytest.approx(0.0)
    assert stats.by_tier["fast"].rated == 2 and stats.by_tier["fast"].mean_reward == pytest.approx(0.0)
    assert stats.by_tier["reasoning"].steps == 1 and stats.by_tier["reasoning"].mean_reward is None
    assert stats.by_policy["p2"].mean_reward == pytest.approx(-0.5)


async def test_feedback_for_unknown_step_is_refused(store: ConversationStore, clock: Clock) -> None:
    with pytest.raises(UnknownStep, match="no step 'nope'"):
        await store.record_feedback("nope", 1.0)
    await store.save_step("s1", "c1", decision("fast"))
    for bad in (2.0, float("nan"), "good", True):
        with pytest.raises(InvalidRequest, match="between -1 and 1"):
            await store.record_feedback("s1", bad)  # type: ignore[arg-type]
    clock.now += 1000  # past the TTL: the step is gone
    with pytest.raises(UnknownStep):
        await store.record_feedback("s1", 1.0)


async def test_bad_decision_json_is_a_clear_state_error(store: ConversationStore) -> None:
    with pytest.raises(StateError, match="decision for step 's1' is not valid JSON"):
        await store.save_step("s1", "c1", "{not json")
    with pytest.raises(StateError, match="must be a JSON object"):
        await store.record_step("c1", "s1", "[1]", bump("c1"))
    assert await store.load("c1") is None  # nothing half-written


async def test_record_step_writes_state_and_step_together(store: ConversationStore) -> None:
    new = await store.record_step("c1", "s1", decision("reasoning"), bump("c1"))
    assert new.step_count == 1
    assert await store.load("c1") == new
    rec = await store.get_step("s1")
    assert rec is not None and rec.tier == "reasoning"


async def test_load_with_last_step_reads_the_state_and_its_own_last_step(store: ConversationStore) -> None:
    assert await store.load_with_last_step("c1") == (None, None)

    def to(step_id: str, cid: str = "c1"):  # a transition that records `step_id` as the last step
        def fn(state: ConversationState | None) -> ConversationState:
            return replace(state or ConversationState(conversation_id=cid), last_step_id=step_id)

        return fn

    await store.record_step("c1", "s1", json.dumps({"tier": "fast", "traceparent": "tp-1"}), to("s1"))
    state, last = await store.load_with_last_step("c1")
    assert state == await store.load("c1") and last is not None
    assert (last.step_id, last.conversation_id, last.decision["traceparent"]) == ("s1", "c1", "tp-1")
    # A state naming another conversation's step never hands that step out (isolation).
    await store.save_step("s2", "c2", json.dumps({"tier": "fast", "traceparent": "tp-2"}))
    await store.update("c1", to("s2"))
    state, last = await store.load_with_last_step("c1")
    assert state is not None and state.last_step_id == "s2" and last is None
    # A state whose last step is no longer kept: the state alone.
    await store.update("c1", to("gone"))
    state, last = await store.load_with_last_step("c1")
    assert state is not None and state.last_step_id == "gone" and last is None
