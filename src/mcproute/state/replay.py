"""The replay log: each routed step's inputs beside its decision, in the SQLite state file.

Two tables next to the conversation store's (same file, own connection: WAL lets a gateway write
while `mcproute replay` reads):

- `replay_steps`: one row per recorded step — the text (or only its sha256 under `keep: hashes`),
  the step vector (float32 bytes), hints, the conversation state *before* the step (the store's
  compact codec), the catalogue version, the tier model version and feedback shift, the models
  and unhealthy deployments the router saw, the clock, the decision (tool, tier, model), tokens,
  cost and the execution outcome.
- `replay_catalogs`: each catalogue version's tool specs, stored once (so replay rebuilds the same
  `ToolIndex`, in the same order).

Retention (`replay.max_steps`, `replay.max_age_days`) is enforced on write, at most once a minute
for the age sweep and whenever the row count passes the bound; catalogue versions no step refers
to any more are dropped with it. Feedback rewards stay in the conversation store's `steps` table
(recorded later); they are joined in on read.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import anyio.to_thread

from mcproute.errors import StateError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replay_steps (
    step_id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    text TEXT,
    text_sha256 TEXT NOT NULL,
    vector BLOB,
    inputs TEXT NOT NULL,
    state BLOB,
    catalog_version TEXT NOT NULL,
    tool TEXT,
    tier TEXT,
    model TEXT,
    decision TEXT NOT NULL,
    usage TEXT
);
CREATE INDEX IF NOT EXISTS replay_steps_by_age ON replay_steps(created_at);
CREATE INDEX IF NOT EXISTS replay_steps_by_conversation ON replay_steps(conversation_id, created_at);
CREATE TABLE IF NOT EXISTS replay_catalogs (
    version TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    tools TEXT NOT NULL
)
"""
SWEEP_EVERY = 60.0  # seconds between age sweeps


@dataclass(frozen=True, slots=True)
class KeptStep:
    """One row of `replay_steps`, as read back (JSON columns decoded)."""

    step_id: str
    conversation_id: str
    created_at: float
    text: str | None
    text_sha256: str
    vector: bytes | None
    inputs: Mapping[str, Any]
    state: bytes | None
    catalog_version: str
    decision: Mapping[str, Any]
    usage: Mapping[str, Any]
    reward: float | None  # the conversation store's feedback, when given (and not yet expired)


class ReplayLog(Protocol):
    """What the recorder writes to and `mcproute replay` reads from: `ReplayStore` (SQLite, here)
    or `RedisReplayStore` (state/redis_replay.py)."""

    async def keep(self, row: Mapping[str, Any], catalog: tuple[str, Sequence[Mapping[str, Any]]] | None) -> None: ...
    async def prune(self) -> int: ...
    def read_steps(self, *, since: float | None = None, conversation: str | None = None) -> list[KeptStep]: ...
    def catalog(self, version: str) -> list[dict[str, Any]] | None: ...
    def count(self) -> int: ...
    async def close(self) -> None: ...
    def close_sync(self) -> None: ...


class ReplayStore:
    def __init__(
        self,
        path: str | Path,
        *,
        max_steps: int = 50_000,
        max_age_days: float = 30.0,
        busy_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.max_steps = max_steps
        self.max_age = max_age_days * 86400.0
        self._clock = clock
        self._lock = threading.Lock()
        self._last_sweep = float("-inf")
        self._catalogs: set[str] = set()  # versions known to be stored (this process)
        try:
            self._conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("BEGIN IMMEDIATE")
            for statement in filter(str.strip, _SCHEMA.split(";")):
                self._conn.execute(statement)
            self._conn.execute("COMMIT")
            self._count = self._conn.execute("SELECT COUNT(*) FROM replay_steps").fetchone()[0]
        except sqlite3.Error as exc:
            raise StateError(f"cannot open the replay log in {self.path}: {exc}") from None

    async def _run(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        return await anyio.to_thread.run_sync(self.call, fn)

    def call(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        with self._lock:
            try:
                return fn(self._conn)
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise StateError(f"replay log in {self.path} failed: {exc}") from None

    # ------------------------------------------------------------ writing

    async def keep(self, row: Mapping[str, Any], catalog: tuple[str, Sequence[Mapping[str, Any]]] | None) -> None:
        """Insert one step (`row`: the `replay_steps` columns) and, if not stored yet, its catalogue."""
        now = self._clock()

        def body(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            if catalog is not None and catalog[0] not in self._catalogs:
                conn.execute(
                    "INSERT OR IGNORE INTO replay_catalogs (version, created_at, tools) VALUES (?, ?, ?)",
                    (catalog[0], now, json.dumps(list(catalog[1]), separators=(",", ":"), default=str)),
                )
            cur = conn.execute(
                "INSERT OR REPLACE INTO replay_steps (step_id, conversation_id, created_at, text, text_sha256, vector, inputs, "
                "state, catalog_version, tool, tier, model, decision, usage) "
                "VALUES (:step_id, :conversation_id, :created_at, :text, :text_sha256, :vector, :inputs, :state, "
                ":catalog_version, :tool, :tier, :model, :decision, :usage)",
                {**row, "created_at": now},
            )
            self._count += cur.rowcount > 0
            self._prune(conn, now)
            conn.execute("COMMIT")
            if catalog is not None:
                self._catalogs.add(catalog[0])

        await self._run(body)

    def _prune(self, conn: sqlite3.Connection, now: float, *, force: bool = False) -> int:
        removed = 0
        if force or now - self._last_sweep >= SWEEP_EVERY:
            self._last_sweep = now
            removed += conn.execute("DELETE FROM replay_steps WHERE created_at < ?", (now - self.max_age,)).rowcount
            self._count = conn.execute("SELECT COUNT(*) FROM replay_steps").fetchone()[0]
        if self._count > self.max_steps:
            removed += conn.execute(
                "DELETE FROM replay_steps WHERE step_id IN (SELECT step_id FROM replay_steps ORDER BY created_at LIMIT ?)",
                (self._count - self.max_steps,),
            ).rowcount
            self._count = self.max_steps
        if removed:
            gone = conn.execute(
                "DELETE FROM replay_catalogs WHERE version NOT IN (SELECT DISTINCT catalog_version FROM replay_steps)"
            )
            if gone.rowcount:
                self._catalogs.clear()  # re-inserted (OR IGNORE) on their next step
        return removed

    async def prune(self) -> int:
        """Apply the retention bounds now; returns the steps removed."""

        def body(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN IMMEDIATE")
            n = self._prune(conn, self._clock(), force=True)
            conn.execute("COMMIT")
            return n

        return int(await self._run(body))

    # ------------------------------------------------------------ reading

    def read_steps(self, *, since: float | None = None, conversation: str | None = None) -> list[KeptStep]:
        """Kept steps, oldest first, with their feedback reward (synchronous: for the CLI)."""
        where: list[str] = []
        args: list[Any] = []
        if since is not None:
            where.append("r.created_at >= ?")
            args.append(since)
        if conversation is not None:
            where.append("r.conversation_id = ?")
            args.append(conversation)
        has_steps = (
            self.call(lambda c: c.execute("SELECT 1 FROM sqlite_master WHERE name = 'steps'").fetchone()) is not None
        )
        reward = "(SELECT s.reward FROM steps s WHERE s.step_id = r.step_id)" if has_steps else "NULL"
        sql = (
            f"SELECT r.step_id, r.conversation_id, r.created_at, r.text, r.text_sha256, r.vector, r.inputs, r.state, "
            f"r.catalog_version, r.decision, r.usage, {reward} FROM replay_steps r"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY r.created_at, r.rowid"
        )
        rows = self.call(lambda c: c.execute(sql, args).fetchall())
        return [
            KeptStep(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                json.loads(r[6]),
                r[7],
                r[8],
                json.loads(r[9]),
                json.loads(r[10]) if r[10] else {},
                r[11],
            )
            for r in rows
        ]

    def catalog(self, version: str) -> list[dict[str, Any]] | None:
        row = self.call(
            lambda c: c.execute("SELECT tools FROM replay_catalogs WHERE version = ?", (version,)).fetchone()
        )
        return None if row is None else list(json.loads(row[0]))

    def count(self) -> int:
        return int(self.call(lambda c: c.execute("SELECT COUNT(*) FROM replay_steps").fetchone()[0]))

    async def close(self) -> None:
        def body() -> None:
            with self._lock:
                self._conn.close()

        await anyio.to_thread.run_sync(body)

    def close_sync(self) -> None:
        with self._lock:
            self._conn.close()
