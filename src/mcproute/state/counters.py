"""Windowed counters for per-client limits and budgets (`mcproute.access.quota` uses them).

One operation, `take(key, amount, limit, expires_at)`: atomically add `amount` to the counter
`key` unless that would pass `limit` (None: no limit, always add), and return whether it was
added and the counter's total afterwards. A key names one window (`rpm:alice:29401234` is one UTC
minute), so a window never needs resetting: its row simply expires. Reading is `take(key, 0, None)`.

Why this shape: it is one round trip that needs no read-modify-write across calls, so each
backend can make it atomic on its own terms — SQLite inside `BEGIN IMMEDIATE` (which also
serialises separate gateway processes sharing the file), and a Redis backend as one Lua script
(`GET key`; compare with the limit; `INCRBYFLOAT key amount`; `EXPIREAT key expires_at`), which
Redis runs atomically, so several replicas share one client's limits exactly.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Protocol

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY,
    value REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS counters_by_expiry ON counters(expires_at)
"""


@dataclass(frozen=True, slots=True)
class Taken:
    added: bool
    total: float


class CounterStore(Protocol):
    async def take(self, key: str, amount: float, limit: float | None, expires_at: float) -> Taken: ...


def take_sqlite(
    conn: sqlite3.Connection, key: str, amount: float, limit: float | None, expires_at: float, now: float
) -> Taken:
    """The SQLite body of `take`; the caller runs it inside `BEGIN IMMEDIATE`."""
    row = conn.execute("SELECT value, expires_at FROM counters WHERE key = ?", (key,)).fetchone()
    current = float(row[0]) if row is not None and row[1] > now else 0.0
    if limit is not None and current + amount > limit:
        return Taken(False, current)
    if amount:
        conn.execute(
            "INSERT INTO counters(key, value, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
            (key, current + amount, expires_at),
        )
    return Taken(True, current + amount)


def sweep_sqlite(conn: sqlite3.Connection, now: float) -> int:
    return conn.execute("DELETE FROM counters WHERE expires_at <= ?", (now,)).rowcount


class MemoryCounters:
    """The in-process twin (tests, `state.backend: memory`): the event loop makes it atomic."""

    def __init__(self, clock: object = None) -> None:
        import time

        self._clock = clock if callable(clock) else time.time
        self._values: dict[str, tuple[float, float]] = {}

    async def take(self, key: str, amount: float, limit: float | None, expires_at: float) -> Taken:
        now = float(self._clock())
        value, until = self._values.get(key, (0.0, 0.0))
        current = value if until > now else 0.0
        if limit is not None and current + amount > limit:
            return Taken(False, current)
        if amount:
            self._values[key] = (current + amount, expires_at)
            if len(self._values) > 10_000:  # bounded: drop expired windows
                self._values = {k: v for k, v in self._values.items() if v[1] > now}
        return Taken(True, current + amount)
