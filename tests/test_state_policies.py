"""The `PolicyStore` side of every store: record, get, history, the version in force, bounds and
refusals; the same contract on memory, SQLite and Redis."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from mcproute.errors import InvalidRequest
from mcproute.router.online_tier import TierLearner
from mcproute.state import PolicyStore, SqliteStore
from mcproute.state.policies import MAX_VERSIONS, make
from store_support import each_store


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[PolicyStore]:
    async with each_store(request, tmp_path) as s:
        yield s


def _tier_state(n: int) -> dict:
    rng = np.random.default_rng(n)
    learner = TierLearner.start(8)
    for i in range(n):
        learner = learner.learn(rng.standard_normal(8), float(i % 2))
    return {"tier": learner.to_dict()}


@pytest.mark.anyio
async def test_record_get_history_and_current(store: PolicyStore) -> None:
    assert isinstance(store, PolicyStore)
    assert await store.current_policy() is None and await store.list_policies() == []
    v1 = make(None, 100.0, "first learned update", "adopted", _tier_state(3), {"replay_steps": 10})
    v2 = make(v1.id, 200.0, "replay: worse", "rejected", _tier_state(5), {"replay_steps": 12})
    await store.record_policy(v1)
    await store.record_policy(v2)
    await store.record_policy(v2)  # the same version twice is one version
    assert [v.id for v in await store.list_policies()] == [v2.id, v1.id]
    assert (await store.current_policy()) == v1  # a rejected version is never in force
    got = await store.get_policy(v1.id)
    assert got == v1 and TierLearner.from_dict(got.state["tier"]).revealed == 3
    assert await store.get_policy("pv-0000000000") is None
    assert v2.summary()["revealed"] == {"tier": 5} and "state" not in v2.summary()
    assert [v.id for v in await store.list_policies(limit=1)] == [v2.id]


@pytest.mark.anyio
async def test_history_is_bounded_but_keeps_the_version_in_force(store: PolicyStore) -> None:
    adopted = make(None, 1.0, "adopted long ago", "adopted", {}, {})
    await store.record_policy(adopted)
    for i in range(MAX_VERSIONS + 5):
        await store.record_policy(make(adopted.id, 10.0 + i, f"rejected {i}", "rejected", {}, {}))
    listed = await store.list_policies(limit=1000)
    assert len(listed) <= MAX_VERSIONS + 1
    assert (await store.current_policy()) == adopted
    assert listed[0].reason == f"rejected {MAX_VERSIONS + 4}"


@pytest.mark.anyio
async def test_bad_versions_are_refused_naming_what_is_wrong(store: PolicyStore) -> None:
    good = make(None, 1.0, "x", "adopted", {}, {})
    with pytest.raises(InvalidRequest, match="status must be one of"):
        await store.record_policy(make(None, 1.0, "x", "maybe", {}, {}))  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="not a finite time"):
        await store.record_policy(make(None, float("nan"), "x", "adopted", {}, {}))
    with pytest.raises(InvalidRequest, match="not JSON"):
        await store.record_policy(make(None, 1.0, "x", "adopted", {"tier": object()}, {}))
    with pytest.raises(InvalidRequest, match="bytes, over"):
        await store.record_policy(make(None, 1.0, "x", "adopted", {"blob": "x" * 4_100_000}, {}))
    with pytest.raises(InvalidRequest, match="limit must be"):
        await store.list_policies(limit=0)
    assert await store.list_policies() == []  # nothing half-written
    await store.record_policy(good)
    assert await store.current_policy() == good


def test_an_old_state_file_gains_the_policies_table(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE conversations (id TEXT PRIMARY KEY, state BLOB, updated_at REAL)")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    SqliteStore(path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM policies").fetchone() == (0,)
    assert conn.execute("PRAGMA user_version").fetchone()[0] >= 4  # 5 once MCP sessions came
    conn.close()
