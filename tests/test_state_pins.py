"""The `PinStore` side of both stores: upsert, load, approve; and the SQLite schema migration
(a version-1 state file gains the pins table and keeps its conversations)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from mcproute.router.step import ConversationState
from mcproute.state import PinRecord, PinStore, SqliteStore
from store_support import each_store

ECHO = PinRecord("fx", "echo", "a" * 64, {"name": "echo", "description": "v1"}, 10.0)
CLOCK = PinRecord("fx", "clock", "b" * 64, {"name": "clock"}, 11.0)
OTHER = PinRecord("time", "echo", "c" * 64, {"name": "echo"}, 12.0)


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[PinStore]:
    async with each_store(request, tmp_path) as s:
        yield s


@pytest.mark.anyio
async def test_save_load_and_upsert(store: PinStore) -> None:
    assert isinstance(store, PinStore)
    assert await store.load_pins() == {}
    await store.save_pins([ECHO, CLOCK, OTHER])
    assert await store.load_pins() == {r.key: r for r in (CLOCK, ECHO, OTHER)}
    pending = replace(
        ECHO, pending_hash="d" * 64, pending_definition={"name": "echo", "description": "v2"}, pending_since=20.0
    )
    await store.save_pins([pending])
    loaded = await store.load_pins()
    assert loaded[("fx", "echo")] == pending and loaded[("fx", "echo")].status == "changed-pending"
    assert len(loaded) == 3


@pytest.mark.anyio
async def test_approve_re_pins_only_matching_pending_records(store: PinStore) -> None:
    waiting = [
        replace(r, pending_hash="e" * 64, pending_definition={"name": r.tool, "description": "new"}, pending_since=30.0)
        for r in (ECHO, CLOCK, OTHER)
    ]
    await store.save_pins(waiting)
    assert [r.key for r in await store.approve_pins("fx/echo", now=40.0)] == [("fx", "echo")]
    assert sorted(r.key for r in await store.approve_pins("fx", now=41.0)) == [("fx", "clock")]  # echo is done already
    assert await store.approve_pins("fx", now=42.0) == []
    pins = await store.load_pins()
    assert pins[("fx", "echo")].hash == "e" * 64 and pins[("fx", "echo")].pinned_at == 40.0
    assert (
        pins[("fx", "echo")].definition == {"name": "echo", "description": "new"}
        and pins[("fx", "echo")].status == "pinned"
    )
    assert pins[("time", "echo")].status == "changed-pending"  # another server's pin is untouched


@pytest.mark.anyio
async def test_pins_survive_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    async with SqliteStore(path) as first:
        await first.save_pins([ECHO])
    async with SqliteStore(path) as second:
        assert await second.load_pins() == {ECHO.key: ECHO}


@pytest.mark.anyio
async def test_a_version_1_state_file_gains_the_pins_table_and_keeps_its_conversations(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    async with SqliteStore(path) as store:
        await store.save(ConversationState(conversation_id="c1"))
    # Make it look exactly like a file written before pins existed.
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE pins")
        conn.execute("PRAGMA user_version = 1")
    async with SqliteStore(path) as store:
        assert (await store.load("c1")) is not None
        assert await store.load_pins() == {}
        await store.save_pins([ECHO])
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 2  # 3 once outcomes came
        assert conn.execute("SELECT COUNT(*) FROM pins").fetchone()[0] == 1


@pytest.mark.anyio
async def test_pins_version_moves_when_another_connection_writes(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    async with SqliteStore(path) as gateway, SqliteStore(path) as cli:
        start = await gateway.pins_version()
        await gateway.save_pins([ECHO])  # its own write: it knows what it wrote
        assert await gateway.pins_version() == start
        await cli.approve_pins("fx", now=1.0)  # nothing pending: no commit of substance, but a transaction
        await cli.save_pins([CLOCK])
        assert await gateway.pins_version() != start
        assert set(await gateway.load_pins()) == {ECHO.key, CLOCK.key}
