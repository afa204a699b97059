"""What the store tests share: a settable clock, and each backend (memory, real SQLite, a real
redis-server under a fresh key prefix) opened for one test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from mcproute.state import MemoryStore, SqliteStore
from mcproute.state.redis_store import RedisStore
from redis_fixture import RedisServer


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def each_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[MemoryStore | SqliteStore | RedisStore]:
    """The store `request.param` names ("memory", "sqlite" or "redis"), open for the test."""
    s: MemoryStore | SqliteStore | RedisStore
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        s = RedisStore(server.url, prefix=server.fresh_prefix())
    else:
        s = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "state.sqlite3")
    async with s:
        yield s
