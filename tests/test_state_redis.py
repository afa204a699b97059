"""Redis-specific promises, against a real redis-server (redis_fixture.py): replicas racing on one
conversation lose nothing, a replica paused past its lease cannot overwrite a newer step
(fencing), a server restart with AOF keeps every conversation, client counters are exact across
replicas, and a bad or unreachable server gives a clear error."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import anyio
import pytest
from pydantic import ValidationError

from mcproute.config import StateConfig
from mcproute.errors import StateError
from mcproute.router.step import ConversationState
from mcproute.state import MemoryStore, open_store
from mcproute.state.redis_store import RedisStore
from redis_fixture import RedisServer

pytestmark = pytest.mark.anyio
SRC = str(Path(__file__).resolve().parent.parent / "src")


def bump(cid: str):  # a transition: one more step
    def fn(state: ConversationState | None) -> ConversationState:
        base = state or ConversationState(conversation_id=cid)
        return replace(base, step_count=base.step_count + 1, last_step_id=f"{cid}-{base.step_count + 1}")

    return fn


def child(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


# A replica: N steps on one conversation, each a record_step (state + step record) under the lease.
_REPLICA = """
import json, sys, anyio
from dataclasses import replace
from mcproute.router.step import ConversationState
from mcproute.state.redis_store import RedisStore

url, prefix, name, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def bump(s):
    s = s or ConversationState(conversation_id="shared")
    return replace(s, step_count=s.step_count + 1)

async def main():
    async with RedisStore(url, prefix=prefix) as store:
        async with anyio.create_task_group() as tg:
            for i in range(n):
                tg.start_soon(store.record_step, "shared", f"{name}-{i}", json.dumps({"tier": "fast"}), bump)

anyio.run(main)
"""


def test_two_replica_processes_racing_on_one_conversation_lose_no_update(redis_server: RedisServer) -> None:
    prefix = redis_server.fresh_prefix()
    procs = [child(_REPLICA, redis_server.url, prefix, name, "40") for name in ("a", "b")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err

    async def read() -> tuple[ConversationState | None, int]:
        async with RedisStore(redis_server.url, prefix=prefix) as store:
            steps = [await store.get_step(f"{n}-{i}") for n in "ab" for i in range(40)]
            return await store.load("shared"), sum(s is not None for s in steps)

    state, steps = anyio.run(read)
    assert state is not None and state.step_count == 80
    assert steps == 80


async def test_two_store_objects_serialise_a_whole_step_through_the_lease(redis_server: RedisServer) -> None:
    """Load → (provider call) → save under `lock`, from two replicas: no step reads a stale state."""
    prefix = redis_server.fresh_prefix()
    async with RedisStore(redis_server.url, prefix=prefix) as a, RedisStore(redis_server.url, prefix=prefix) as b:

        async def step(store: RedisStore) -> None:
            async with store.lock("c"):
                state = await store.load("c") or ConversationState(conversation_id="c")
                await anyio.sleep(0.001)  # the provider call: the other replica runs meanwhile
                await store.save(replace(state, step_count=state.step_count + 1))

        async with anyio.create_task_group() as tg:
            for _ in range(15):
                tg.start_soon(step, a)
                tg.start_soon(step, b)
        final = await a.load("c")
        assert final is not None and final.step_count == 30


# A replica that takes the lease, reads, says so, then (after being frozen by the test) writes.
_PAUSED = """
import sys, anyio
from dataclasses import replace
from mcproute.errors import StateError
from mcproute.router.step import ConversationState
from mcproute.state.redis_store import RedisStore

url, prefix = sys.argv[1], sys.argv[2]

async def main():
    async with RedisStore(url, prefix=prefix, lease_seconds=0.6) as store:
        async with store.lock("c"):
            state = await store.load("c")
            print("loaded", state.step_count, flush=True)
            await anyio.sleep(0.3)  # frozen by SIGSTOP in here
            try:
                await store.save(replace(state, step_count=state.step_count + 100, tier="paused-replica"))
                print("saved", flush=True)
            except StateError as exc:
                print("refused", exc, flush=True)

anyio.run(main)
"""


async def test_a_replica_paused_past_its_lease_cannot_overwrite_a_newer_step(redis_server: RedisServer) -> None:
    prefix = redis_server.fresh_prefix()
    async with RedisStore(redis_server.url, prefix=prefix, lease_seconds=0.6) as live:
        await live.save(ConversationState(conversation_id="c", step_count=1))
        paused = child(_PAUSED, redis_server.url, prefix)
        try:
            assert paused.stdout is not None
            line = await anyio.to_thread.run_sync(paused.stdout.readline)
            assert line.split() == ["loaded", "1"], line + (paused.stderr.read() if paused.stderr else "")
            os.kill(paused.pid, signal.SIGSTOP)  # a GC pause / frozen VM: it cannot renew its lease
            with anyio.fail_after(10):  # the live replica gets the lease once the frozen one's lapses
                await live.update("c", bump("c"))
            os.kill(paused.pid, signal.SIGCONT)
            out, err = await anyio.to_thread.run_sync(lambda: paused.communicate(timeout=30))
        finally:
            if paused.poll() is None:
                os.kill(paused.pid, signal.SIGCONT)
                paused.kill()
                paused.wait()
        assert paused.returncode == 0, err
        assert out.startswith("refused"), out
        assert "newer lease holder" in out or "lapsed" in out
        final = await live.load("c")
        assert final is not None and final.step_count == 2 and final.tier is None  # the newer step stands


async def test_a_redis_restart_with_aof_keeps_every_conversation(redis_server: RedisServer) -> None:
    prefix = redis_server.fresh_prefix()
    async with RedisStore(redis_server.url, prefix=prefix) as store:
        for i in range(50):
            await store.record_step(
                f"c{i}", f"s{i}", json.dumps({"tier": "fast", "policy_version": "p"}), bump(f"c{i}")
            )
        await store.record_feedback("s7", 0.5)
        await store.save_pins([])
    await anyio.to_thread.run_sync(redis_server.restart)
    async with RedisStore(redis_server.url, prefix=prefix) as store:
        for i in range(50):
            state, last = await store.load_with_last_step(f"c{i}")
            assert state is not None and state.step_count == 1, i
        assert len(await store.list_conversations(100)) == 50
        rec = await store.get_step("s7")
        assert rec is not None and rec.reward == 0.5 and rec.conversation_id == "c7"
        stats = await store.feedback_stats()
        assert (stats.steps, stats.rated) == (50, 1)


async def test_client_counters_are_exact_across_replicas(redis_server: RedisServer) -> None:
    """A limit of 50 in one window, 2 replicas × 60 concurrent takes: exactly 50 are granted."""
    prefix = redis_server.fresh_prefix()
    granted: list[bool] = []
    async with RedisStore(redis_server.url, prefix=prefix) as a, RedisStore(redis_server.url, prefix=prefix) as b:

        async def take(store: RedisStore) -> None:
            granted.append((await store.take("rpm:alice:1", 1.0, 50.0, expires_at=store._clock() + 60)).added)

        async with anyio.create_task_group() as tg:
            for _ in range(60):
                tg.start_soon(take, a)
                tg.start_soon(take, b)
        assert sum(granted) == 50
        assert (await a.take("rpm:alice:1", 0.0, None, expires_at=0)).total == 50.0
        assert (await b.take("rpm:alice:1", 0.25, None, expires_at=a._clock() + 60)).total == 50.25


async def test_open_store_uses_redis_and_falls_back_to_memory_when_unreachable(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    store = await open_store(StateConfig(backend="redis", url=redis_server.url, key_prefix="t-open:"), tmp_path)
    try:
        assert isinstance(store, RedisStore) and store.recovered is None
    finally:
        await store.close()
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # nobody listens once the socket closes
    store = await open_store(StateConfig(backend="redis", url=f"redis://:secret@127.0.0.1:{dead}/0"), tmp_path)
    assert isinstance(store, MemoryStore)
    assert store.recovered is not None and f"127.0.0.1:{dead}" in store.recovered
    assert "secret" not in store.recovered  # the password never reaches logs or /status


async def test_a_redis_outage_mid_run_is_a_clear_state_error(tmp_path: Path) -> None:
    server = RedisServer(redis_server_binary(), tmp_path)
    server.start()
    store = RedisStore(server.url, prefix="t:")
    try:
        await store.update("c", bump("c"))
        server.stop()
        with pytest.raises(StateError, match="Redis state store failed"):
            await store.update("c", bump("c"))
        with pytest.raises(StateError, match="Redis state store failed"):
            await store.load("c")
    finally:
        await store.close()
        server.stop()


def redis_server_binary() -> str:
    import shutil

    path = os.environ.get("MCPROUTE_REDIS_SERVER") or shutil.which("redis-server")
    assert path, "redis-server is not installed (make test installs it)"
    return path


def test_config_says_what_is_missing() -> None:
    with pytest.raises(ValidationError, match="needs state.url"):
        StateConfig(backend="redis")
    with pytest.raises(ValidationError, match="must start with redis://"):
        StateConfig(backend="redis", url="http://127.0.0.1:6379")
    with pytest.raises(ValidationError, match="only used by backend 'redis'"):
        StateConfig(url="redis://127.0.0.1:6379/0")


async def test_replay_log_keeps_its_bounds_and_joins_rewards(redis_server: RedisServer) -> None:
    from mcproute.state.redis_replay import RedisReplayStore

    prefix = redis_server.fresh_prefix()
    now = [1_000_000.0]
    log = RedisReplayStore(redis_server.url, prefix=prefix, max_steps=3, max_age_days=1.0, clock=lambda: now[0])
    async with RedisStore(redis_server.url, prefix=prefix, clock=lambda: now[0]) as store:
        try:
            for i in range(5):
                now[0] += 1
                row = {"step_id": f"s{i}", "conversation_id": "c", "text": f"t{i}", "text_sha256": "h",
                       "vector": b"\x00\x01", "inputs": "{}", "state": None, "catalog_version": "v1",
                       "tool": "x", "tier": "fast", "model": "m", "decision": '{"tier": "fast"}', "usage": None}  # fmt: skip
                await log.keep(row, ("v1", [{"name": "x"}]))
                await store.save_step(f"s{i}", "c", '{"tier": "fast"}')
            await store.record_feedback("s4", 1.0)
            kept = log.read_steps()
            assert [k.step_id for k in kept] == ["s2", "s3", "s4"]  # max_steps: the oldest went
            assert kept[-1].reward == 1.0 and kept[0].reward is None and kept[0].vector == b"\x00\x01"
            assert log.catalog("v1") == [{"name": "x"}] and log.count() == 3
            assert log.read_steps(conversation="other") == []
            now[0] += 2 * 86400  # past max_age
            assert log.read_steps() == []
            assert await log.prune() == 3 and log.count() == 0
        finally:
            await log.close()
