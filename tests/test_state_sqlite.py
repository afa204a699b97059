"""SQLite-specific promises: restarts (including SIGKILL), other processes, corrupt and locked files."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from mcproute.config import StateConfig
from mcproute.errors import StateError
from mcproute.router.step import ConversationState
from mcproute.state import MemoryStore, SqliteStore, open_store, state_path

pytestmark = pytest.mark.anyio

STATE = ConversationState(
    conversation_id="conv-1",
    tier="reasoning",
    model="deep",
    tools_used=("git__git_status",),
    servers_used=("git",),
    step_count=3,
)


def run_py(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, timeout=timeout
    )


async def test_state_survives_a_new_store_object_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    async with SqliteStore(path) as first:
        await first.save(STATE)
        await first.save_step("s1", "conv-1", json.dumps({"tier": "reasoning"}))
    async with SqliteStore(path) as second:
        assert second.recovered is None
        assert await second.load("conv-1") == STATE
        rec = await second.record_feedback("s1", 1.0)
        assert rec.reward == 1.0


_WRITER = """
    import sys, time, anyio
    from mcproute.router.step import ConversationState
    from mcproute.state import SqliteStore

    async def main():
        store = SqliteStore(sys.argv[1])
        await store.save(ConversationState(conversation_id="killed", tier="reasoning", model="deep",
                                           tools_used=("git__git_log",), servers_used=("git",), step_count=5))
        await store.save_step("s5", "killed", '{"tier": "reasoning"}')
        print("saved", flush=True)
        await anyio.sleep(60)  # killed here, never closes the store

    anyio.run(main)
"""

_READER = """
    import sys, json, anyio
    from mcproute.state import SqliteStore

    async def main():
        async with SqliteStore(sys.argv[1]) as store:
            state = await store.load("killed")
            step = await store.get_step("s5")
            print(json.dumps({"state": state.to_dict() if state else None, "step": step.tier if step else None,
                              "recovered": store.recovered}))

    anyio.run(main)
"""


def test_state_survives_sigkill_of_the_writing_process(tmp_path: Path) -> None:
    path = str(tmp_path / "state.sqlite3")
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_WRITER), path], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "saved"
        os.kill(writer.pid, signal.SIGKILL)
        assert writer.wait(timeout=30) == -signal.SIGKILL
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
        if writer.stdout is not None:
            writer.stdout.close()
    out = run_py(_READER, path)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["recovered"] is None
    assert got["step"] == "reasoning"
    state = ConversationState.from_dict(got["state"])
    assert (state.tier, state.model, state.tools_used, state.step_count) == ("reasoning", "deep", ("git__git_log",), 5)


_INCREMENTER = """
    import sys, anyio
    from dataclasses import replace
    from mcproute.router.step import ConversationState
    from mcproute.state import SqliteStore

    def bump(s):
        s = s or ConversationState(conversation_id="shared")
        return replace(s, step_count=s.step_count + 1)

    async def main():
        async with SqliteStore(sys.argv[1], busy_timeout=30) as store:
            for _ in range(int(sys.argv[2])):
                await store.update("shared", bump)

    anyio.run(main)
"""


def test_two_processes_updating_one_conversation_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "state.sqlite3")
    SqliteStore(path)  # create the schema first so both start on a WAL file
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(_INCREMENTER), path, "60"]) for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=120) == 0

    async def read() -> ConversationState | None:
        async with SqliteStore(path) as store:
            return await store.load("shared")

    final = anyio.run(read)
    assert final is not None and final.step_count == 120


async def test_two_store_objects_on_one_file_serialise_updates(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    async with SqliteStore(path, busy_timeout=30) as a, SqliteStore(path, busy_timeout=30) as b:

        def bump(s: ConversationState | None) -> ConversationState:
            s = s or ConversationState(conversation_id="x")
            return replace(s, step_count=s.step_count + 1)

        async with anyio.create_task_group() as tg:
            for _ in range(25):
                tg.start_soon(a.update, "x", bump)
                tg.start_soon(b.update, "x", bump)
        assert (await a.load("x")).step_count == 50  # type: ignore[union-attr]


async def test_corrupt_file_is_moved_aside_and_a_fresh_store_starts(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"this is not a database, just garbage " * 200)
    async with SqliteStore(path) as store:
        assert store.recovered is not None
        assert "corrupt" in store.recovered and str(path) in store.recovered
        aside = [p for p in tmp_path.iterdir() if p.name.startswith("state.sqlite3.corrupt-")]
        assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not a database")
        assert str(aside[0]) in store.recovered
        await store.save(STATE)
        assert await store.load("conv-1") == STATE
    async with SqliteStore(path) as again:  # the fresh file is now healthy: no second recovery
        assert again.recovered is None and await again.load("conv-1") == STATE


async def test_file_with_valid_header_but_broken_pages_is_recovered(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    async with SqliteStore(path) as store:
        for i in range(300):
            await store.save(replace(STATE, conversation_id=f"c{i}", last_result="x" * 300))
    data = bytearray(path.read_bytes())
    assert len(data) > 3 * 4096
    data[4096:] = b"\xff" * (len(data) - 4096)  # keep the header page, wreck every other page
    path.write_bytes(bytes(data))
    async with SqliteStore(path) as store:
        assert store.recovered is not None and "corrupt" in store.recovered
        assert await store.load("c1") is None
        await store.save(STATE)
        assert await store.load("conv-1") == STATE


async def test_locked_file_at_start_gives_a_clear_error_and_a_fresh_store(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    async with SqliteStore(path) as first:
        await first.save(STATE)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another process sits on the write lock
        async with SqliteStore(path, busy_timeout=0.2) as store:
            assert store.recovered is not None and "locked by another process" in store.recovered
            assert store.active_path != path and store.active_path.name.startswith("state.fallback-")
            await store.save(replace(STATE, conversation_id="during-lock"))
            assert await store.load("during-lock") is not None
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    async with SqliteStore(path) as after:  # the original file was left alone
        assert after.recovered is None
        assert await after.load("conv-1") == STATE


async def test_lock_held_during_a_save_is_a_state_error_not_a_hang(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    async with SqliteStore(path, busy_timeout=0.2) as store:
        await store.save(STATE)
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            with pytest.raises(StateError, match="locked by another process.*not saved"):
                await store.save(replace(STATE, step_count=99))
            assert (await store.load("conv-1")) == STATE  # readers still work under WAL
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        await store.save(replace(STATE, step_count=99))  # and it recovers once the lock is gone
        assert (await store.load("conv-1")).step_count == 99  # type: ignore[union-attr]


async def test_closed_store_says_so(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    await store.close()
    with pytest.raises(StateError, match="is closed"):
        await store.load("x")


async def test_open_store_uses_the_data_directory(tmp_path: Path) -> None:
    cfg = StateConfig()
    assert state_path(cfg, tmp_path) == tmp_path / "state.sqlite3"
    assert state_path(StateConfig(path="sub/s.db"), tmp_path) == tmp_path / "sub" / "s.db"
    store = await open_store(cfg, tmp_path / "data")
    try:
        assert isinstance(store, SqliteStore) and store.path == tmp_path / "data" / "state.sqlite3"
        await store.save(STATE)
    finally:
        await store.close()
    assert (tmp_path / "data" / "state.sqlite3").exists()
    mem = await open_store(StateConfig(backend="memory"), tmp_path)
    assert isinstance(mem, MemoryStore)


async def test_open_store_falls_back_to_memory_when_sqlite_cannot_open(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should be")
    store = await open_store(StateConfig(), blocker)
    assert isinstance(store, MemoryStore)
    assert store.recovered is not None and "in memory for this run only" in store.recovered
    await store.save(STATE)
    assert await store.load("conv-1") == STATE


def test_processes_opening_one_fresh_file_at_once_all_get_it(tmp_path: Path) -> None:
    """`serve --workers` starts its workers together on a new data dir. SQLite does not apply its
    busy handler to the switch to WAL, so the second opener used to get "database is locked" within
    a millisecond and went off to a fallback file: the workers no longer shared conversations or
    sessions. Three processes, fifteen fresh files, each opened by all three at one instant."""
    script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from mcproute.state import SqliteStore
        root, start = Path(sys.argv[1]), float(sys.argv[2])
        for i in range(15):
            while time.time() < start + 0.2 * i:
                pass
            store = SqliteStore(root / str(i) / "state.sqlite3")
            print(i, store.active_path.name, store.recovered is None, flush=True)
        """
    )
    for i in range(15):
        (tmp_path / str(i)).mkdir()
    start = time.time() + 2.0  # past the three interpreters' start-up
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path), repr(start)], stdout=subprocess.PIPE, text=True, env=env
        )
        for _ in range(3)
    ]
    lines = [line.split() for p in procs for line in p.communicate(timeout=120)[0].splitlines()]
    assert all(p.returncode == 0 for p in procs)
    assert len(lines) == 45
    assert all(name == "state.sqlite3" and ok == "True" for _, name, ok in lines), lines
    assert not list(tmp_path.glob("*/state.fallback-*"))
