"""The `SessionStore` side of every store (memory, real SQLite, a real redis-server): handshake-era
MCP session records saved, read, touched, idle-expired and deleted; SQLite shared by two
connections (as `serve --workers` processes share the file)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from mcproute.state import MemoryStore, SessionRecord, SessionStore, SqliteStore
from mcproute.state.redis_store import RedisStore
from redis_fixture import RedisServer
from store_support import Clock

pytestmark = pytest.mark.anyio


def record(sid: str = "a1b2", now: float = 1_000_000.0, **kw: object) -> SessionRecord:
    base = SessionRecord(
        session_id=sid,
        protocol_version="2025-11-25",
        client_params={
            "protocolVersion": "2025-11-25",
            "capabilities": {"sampling": {}},
            "clientInfo": {"name": "probe", "version": "1.0"},
        },
        principal="alice",
        conversation_id=sid,
        created_at=now,
        last_seen=now,
        idle_timeout=60.0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    return Clock()


Make = Callable[[], SessionStore]


def builder(kind: str, request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Make:
    prefix = [""]

    def build() -> SessionStore:
        if kind == "memory":
            return MemoryStore(clock=clock)
        if kind == "redis":
            server: RedisServer = request.getfixturevalue("redis_server")
            prefix[0] = prefix[0] or server.fresh_prefix()  # a second store sees the first one's keys
            return RedisStore(server.url, prefix=prefix[0], clock=clock)
        return SqliteStore(tmp_path / "state.sqlite3", clock=clock)

    return build


@pytest.fixture(params=["memory", "sqlite", "redis"])
def make(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Make:
    return builder(str(request.param), request, tmp_path, clock)


@pytest.fixture(params=["sqlite", "redis"])  # memory is one process's own: nothing to share
def shared(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Make:
    return builder(str(request.param), request, tmp_path, clock)


@pytest.fixture
async def store(make: Make) -> AsyncIterator[SessionStore]:
    s = make()
    async with s:  # type: ignore[attr-defined]
        yield s


async def test_a_saved_session_reads_back_whole(store: SessionStore) -> None:
    assert isinstance(store, SessionStore)
    assert await store.load_session("a1b2") is None
    rec = record(log_level="debug", subscriptions=("fx+file:///a", "fx+file:///b"))
    await store.save_session(rec)
    assert await store.load_session("a1b2") == rec
    assert await store.load_session("other") is None
    changed = replace(rec, log_level="error", subscriptions=("fx+file:///a",))
    await store.save_session(changed)  # an update replaces the record
    assert await store.load_session("a1b2") == changed


async def test_idle_sessions_expire_and_a_touch_restarts_the_clock(store: SessionStore, clock: Clock) -> None:
    await store.save_session(record())
    clock.now += 50
    assert await store.touch_session("a1b2") is True  # used at +50: lives until +110
    clock.now += 50
    loaded = await store.load_session("a1b2")
    assert loaded is not None and loaded.last_seen == 1_000_050.0 and loaded.created_at == 1_000_000.0
    clock.now += 11  # +111: 61 s idle, over the 60 s timeout
    assert await store.load_session("a1b2") is None
    assert await store.touch_session("a1b2") is False  # an expired session is not revived by a touch
    assert await store.touch_session("never") is False


async def test_delete_removes_the_record(store: SessionStore) -> None:
    await store.save_session(record())
    await store.save_session(record("c3d4"))
    assert await store.delete_session("a1b2") is True
    assert await store.load_session("a1b2") is None
    assert await store.touch_session("a1b2") is False
    assert await store.delete_session("a1b2") is False
    assert await store.load_session("c3d4") == record("c3d4")  # the other one is untouched


async def test_a_second_store_on_the_same_backing_sees_saves_touches_and_deletes(shared: Make, clock: Clock) -> None:
    store, other = shared(), shared()
    async with store, other:  # type: ignore[attr-defined]
        await store.save_session(record())
        assert await other.load_session("a1b2") == record()
        clock.now += 30
        assert await other.touch_session("a1b2")
        loaded = await store.load_session("a1b2")
        assert loaded is not None and loaded.last_seen == clock.now
        assert await other.delete_session("a1b2")
        assert await store.load_session("a1b2") is None


async def test_a_redis_record_carries_a_redis_expiry_of_its_idle_timeout(redis_server: RedisServer) -> None:
    prefix = redis_server.fresh_prefix()
    async with RedisStore(redis_server.url, prefix=prefix) as store:
        import time

        await store.save_session(record(now=time.time()))
        ttl_ms = await store.client.pttl(f"{prefix}hs:a1b2")
        # The expiry is the record's 60 s idle timeout (not unset, not another value); the lower
        # bounds leave room for a stalled machine between the calls: this checks values, not speed.
        assert 30_000 < ttl_ms <= 60_000
        assert await store.touch_session("a1b2")
        assert 30_000 < await store.client.pttl(f"{prefix}hs:a1b2") <= 60_000


def subscribe(uri: str) -> Callable[[SessionRecord], SessionRecord]:
    return lambda r: replace(r, subscriptions=(*r.subscriptions, uri))


async def test_an_update_changes_the_live_record_and_nothing_else(store: SessionStore, clock: Clock) -> None:
    assert await store.update_session("a1b2", subscribe("fx+file:///a")) is None  # nothing to update
    assert await store.load_session("a1b2") is None  # ... and nothing written
    await store.save_session(record())
    new = await store.update_session("a1b2", subscribe("fx+file:///a"))
    assert new is not None and new.subscriptions == ("fx+file:///a",)
    assert await store.load_session("a1b2") == new
    clock.now += 61  # idle past its timeout: an update does not bring it back
    assert await store.update_session("a1b2", subscribe("fx+file:///b")) is None


async def test_concurrent_updates_of_one_session_all_land(shared: Make) -> None:
    """Two stores on one backing (two replicas) each apply ten subscribes at once: a read-modify-
    write would lose some; every one of the twenty must be in the record."""
    store, other = shared(), shared()
    async with store, other:  # type: ignore[attr-defined]
        await store.save_session(record())
        uris = [f"fx+file:///{i}" for i in range(20)]
        async with anyio.create_task_group() as tg:
            for i, uri in enumerate(uris):
                tg.start_soon((store if i % 2 else other).update_session, "a1b2", subscribe(uri))
        loaded = await store.load_session("a1b2")
        assert loaded is not None and sorted(loaded.subscriptions) == sorted(uris)
