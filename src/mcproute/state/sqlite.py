"""SQLite `ConversationStore` (stdlib `sqlite3`, WAL): the default, survives a gateway restart.

Choices:
- WAL + `synchronous=NORMAL`: a committed step survives the process being killed (SIGKILL), and
  readers never block the writer. (It may lose the last commits on a power cut; that costs a
  conversation its tier for one step, which is acceptable for routing state.)
- Nothing is cached in Python: 100k conversations live on disk, SQLite's page cache is bounded
  (`cache_size`), and one step reads one row by primary key.
- One connection per store, guarded by a thread lock, used from anyio worker threads: every call
  is a handful of indexed statements, so the event loop never blocks on disk.
- `update`/`record_step` run read-transition-write inside `BEGIN IMMEDIATE`, which takes the write
  lock up front: two gateway processes sharing the file cannot interleave one conversation's steps
  (in-process, the per-conversation anyio lock already queues them).
- A file that is not a database or is corrupt is moved aside as `<name>.corrupt-<UTC stamp>` (with
  its -wal/-shm) and a fresh store starts, with the reason in `store.recovered` and the log. A file
  locked by another process for longer than `busy_timeout` at start is left alone (that process
  may be a live gateway) and this run uses a fresh sibling file `<stem>.fallback-<stamp><suffix>`.
  Either way the gateway starts: no crash loop.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread

from mcproute.errors import StateError, UnknownStep
from mcproute.router.step import ConversationState
from mcproute.state import policies, sqlite_outcomes, sqlite_pins, sqlite_policies, sqlite_sessions
from mcproute.state.base import (
    AggregateRow,
    ConversationLocks,
    FeedbackStats,
    StepRecord,
    Transition,
    check_reward,
    check_transition,
    own_step,
    parse_decision,
    summarise,
)
from mcproute.state.codec import decode_json, decode_state, encode_json, encode_state
from mcproute.state.counters import SCHEMA as COUNTERS_SCHEMA, Taken, sweep_sqlite, take_sqlite
from mcproute.state.outcomes import OutcomeRecord, check_limit, encode_data
from mcproute.state.pins import PinRecord
from mcproute.state.policies import PolicyVersion
from mcproute.state.sessions import SessionRecord

log = logging.getLogger("mcproute.state")
T = TypeVar("T")

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    updated_at REAL NOT NULL,
    state BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_by_age ON conversations(updated_at);
CREATE TABLE IF NOT EXISTS steps (
    step_id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    tier TEXT,
    policy_version TEXT,
    decision BLOB NOT NULL,
    reward REAL,
    feedback_at REAL
);
CREATE INDEX IF NOT EXISTS steps_by_age ON steps(created_at);
"""
    + COUNTERS_SCHEMA
)
_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_CORRUPT = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_RESYNC_EVERY = 1000  # writes between exact row counts (other processes may insert too)


def _code(exc: sqlite3.Error) -> int:
    return int(getattr(exc, "sqlite_errorcode", -1)) & 0xFF  # primary code without the extended bits


def _stamp(now: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))


def _init(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """Open (creating) the file, retrying "locked" for up to `busy_timeout`: SQLite does not apply
    its busy handler to every lock the first opening takes (the switch to WAL), so two processes
    opening one fresh file at once (`serve --workers`) got "database is locked" within a
    millisecond, and one of them went off to a fallback file, splitting the workers' state."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            return _init_once(path, busy_timeout)
        except sqlite3.OperationalError as exc:
            if _code(exc) not in _BUSY or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def _init_once(path: Path, busy_timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("state file %s: journal_mode is %s, not WAL (unsupported filesystem?)", path, mode)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA cache_size = -4096")  # KiB: bounded page cache, not the whole table
        conn.execute("BEGIN IMMEDIATE")
        for statement in filter(str.strip, _SCHEMA.split(";")):
            conn.execute(statement)
        conn.execute(sqlite_pins.SCHEMA)  # version 2: tool-definition pins
        for statement in filter(str.strip, sqlite_outcomes.SCHEMA.split(";")):  # version 3: outcomes
            conn.execute(statement)
        conn.execute(sqlite_policies.SCHEMA)  # version 4: learned policy versions
        for statement in filter(str.strip, sqlite_sessions.SCHEMA.split(";")):  # version 5: MCP sessions
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {sqlite_sessions.VERSION}")
        conn.execute("COMMIT")
        # Touch both tables so a file with a valid header but broken pages is caught here, at start.
        conn.execute("SELECT COUNT(*) FROM conversations").fetchone()
        conn.execute("SELECT COUNT(*) FROM steps").fetchone()
        return conn
    except BaseException:
        conn.close()
        raise


def _move_aside(path: Path, aside: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        src = Path(str(path) + suffix)
        if src.exists():
            os.replace(src, Path(str(aside) + suffix))


class SqliteStore:
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        ttl_seconds: float = 7 * 24 * 3600,
        max_conversations: int = 100_000,
        max_steps: int | None = None,
        busy_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.ttl = ttl_seconds
        self.max_conversations = max_conversations
        self.max_steps = max_conversations if max_steps is None else max_steps
        self.busy_timeout = busy_timeout
        self.recovered: str | None = None
        self._clock = clock
        self._db_lock = threading.Lock()
        self._locks = ConversationLocks()
        self._closed = False
        self._writes = 0
        self._last_sweep = float("-inf")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.active_path, self._conn = self._open()
        self._conv_count, self._step_count = self._counts()

    # ------------------------------------------------------------ opening and recovery

    def _open(self) -> tuple[Path, sqlite3.Connection]:
        try:
            return self.path, _init(self.path, self.busy_timeout)
        except sqlite3.DatabaseError as exc:
            if _code(exc) in _BUSY:
                fresh = self.path.with_name(f"{self.path.stem}.fallback-{_stamp(self._clock())}{self.path.suffix}")
                self._note(
                    f"state file {self.path} is locked by another process (waited {self.busy_timeout:g} s); "
                    f"using a fresh store at {fresh} for this run — restart once the other process has "
                    f"released {self.path} to get its conversations back"
                )
                return fresh, self._init_or_fail(fresh)
            if _code(exc) in _CORRUPT:
                return self.path, self._replace_corrupt(exc)
            raise StateError(f"cannot open state file {self.path}: {exc}") from None

    def _replace_corrupt(self, exc: sqlite3.Error) -> sqlite3.Connection:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{_stamp(self._clock())}")
        _move_aside(self.path, aside)
        self._note(f"state file {self.path} is corrupt ({exc}); moved it aside to {aside} and started a fresh store")
        return self._init_or_fail(self.path)

    def _init_or_fail(self, path: Path) -> sqlite3.Connection:
        try:
            return _init(path, self.busy_timeout)
        except sqlite3.Error as exc:
            raise StateError(f"cannot create a fresh state file at {path}: {exc}") from None

    def _note(self, message: str) -> None:
        self.recovered = message
        log.error("%s", message)

    def _counts(self) -> tuple[int, int]:
        return (
            self._conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0],
            self._conn.execute("SELECT COUNT(*) FROM steps").fetchone()[0],
        )

    # ------------------------------------------------------------ running statements

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await anyio.to_thread.run_sync(self._call, fn)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._db_lock:
            if self._closed:
                raise StateError(f"state store {self.active_path} is closed")
            try:
                return fn(self._conn)
            except sqlite3.Error as exc:
                self._rollback()
                if _code(exc) in _BUSY:
                    raise StateError(
                        f"state file {self.active_path} is locked by another process for more than "
                        f"{self.busy_timeout:g} s; this step's state was not saved"
                    ) from None
                if _code(exc) in _CORRUPT and self.active_path == self.path:
                    self._conn.close()
                    self._conn = self._replace_corrupt(exc)
                    self._conv_count = self._step_count = 0
                    raise StateError(f"{self.recovered}; this step's state was lost") from None
                raise StateError(f"state store {self.active_path} failed: {exc}") from None
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the original error is the one worth reporting

    def _tx(self, body: Callable[[sqlite3.Connection], T]) -> Callable[[sqlite3.Connection], T]:
        def run(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            result = body(conn)
            conn.execute("COMMIT")
            return result

        return run

    # ------------------------------------------------------------ conversations

    def lock(self, conversation_id: str) -> AbstractAsyncContextManager[None]:
        return self._locks.hold(conversation_id)

    # ------------------------------------------------------------ client counters (state/counters.py)

    async def take(self, key: str, amount: float, limit: float | None, expires_at: float) -> Taken:
        now = self._clock()
        self._writes += 1
        sweep = self._writes % _RESYNC_EVERY == 0

        def body(conn: sqlite3.Connection) -> Taken:
            if sweep:
                sweep_sqlite(conn, now)
            return take_sqlite(conn, key, amount, limit, expires_at, now)

        return await self._run(self._tx(body))

    def _read(self, conn: sqlite3.Connection, cid: str) -> ConversationState | None:
        row = conn.execute("SELECT updated_at, state FROM conversations WHERE id = ?", (cid,)).fetchone()
        if row is None or row[0] < self._clock() - self.ttl:
            return None  # expired rows are deleted by the next sweep, not on the read path
        return decode_state(cid, row[1])

    def _write(self, conn: sqlite3.Connection, state: ConversationState) -> None:
        now = self._clock()
        cid = state.conversation_id
        existed = conn.execute("SELECT 1 FROM conversations WHERE id = ?", (cid,)).fetchone() is not None
        conn.execute(
            "INSERT INTO conversations (id, updated_at, state) VALUES (?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET updated_at = excluded.updated_at, state = excluded.state",
            (cid, now, encode_state(state)),
        )
        self._conv_count += not existed
        self._bound(conn, now)

    def _bound(self, conn: sqlite3.Connection, now: float) -> int:
        """TTL sweep (at most every ttl/10 or 60 s) and size bound; runs inside the caller's transaction."""
        removed = 0
        self._writes += 1
        if now - self._last_sweep >= min(self.ttl / 10, 60.0):
            self._last_sweep = now
            cutoff = now - self.ttl
            removed += conn.execute("DELETE FROM conversations WHERE updated_at < ?", (cutoff,)).rowcount
            conn.execute("DELETE FROM steps WHERE created_at < ?", (cutoff,))
            self._conv_count, self._step_count = self._counts_in(conn)
        elif self._writes % _RESYNC_EVERY == 0:
            self._conv_count, self._step_count = self._counts_in(conn)
        if self._conv_count > self.max_conversations:
            self._conv_count = conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0]
            excess = self._conv_count - self.max_conversations
            if excess > 0:
                removed += conn.execute(
                    "DELETE FROM conversations WHERE id IN (SELECT id FROM conversations ORDER BY updated_at LIMIT ?)",
                    (excess,),
                ).rowcount
                self._conv_count = self.max_conversations
        if self._step_count > self.max_steps:
            self._step_count = conn.execute("SELECT COUNT(*) FROM steps").fetchone()[0]
            excess = self._step_count - self.max_steps
            if excess > 0:
                conn.execute(
                    "DELETE FROM steps WHERE step_id IN (SELECT step_id FROM steps ORDER BY created_at LIMIT ?)",
                    (excess,),
                )
                self._step_count = self.max_steps
        return removed

    @staticmethod
    def _counts_in(conn: sqlite3.Connection) -> tuple[int, int]:
        return (
            conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0],
            conn.execute("SELECT COUNT(*) FROM steps").fetchone()[0],
        )

    async def load(self, conversation_id: str) -> ConversationState | None:
        return await self._run(lambda conn: self._read(conn, conversation_id))

    async def load_with_last_step(self, conversation_id: str) -> tuple[ConversationState | None, StepRecord | None]:
        def body(conn: sqlite3.Connection) -> tuple[ConversationState | None, StepRecord | None]:
            state = self._read(conn, conversation_id)
            if state is None or not state.last_step_id:
                return state, None
            return state, own_step(conversation_id, self._read_step(conn, state.last_step_id))

        return await self._run(body)  # one thread hop for both reads

    async def save(self, state: ConversationState) -> None:
        await self._run(self._tx(lambda conn: self._write(conn, state)))

    async def update(self, conversation_id: str, fn: Transition) -> ConversationState:
        def body(conn: sqlite3.Connection) -> ConversationState:
            new = check_transition(conversation_id, fn(self._read(conn, conversation_id)))
            self._write(conn, new)
            return new

        async with self._locks.hold(conversation_id):
            return await self._run(self._tx(body))

    async def record_step(
        self, conversation_id: str, step_id: str, decision_json: str, fn: Transition
    ) -> ConversationState:
        decision = parse_decision(step_id, decision_json)

        def body(conn: sqlite3.Connection) -> ConversationState:
            new = check_transition(conversation_id, fn(self._read(conn, conversation_id)))
            self._write(conn, new)
            self._write_step(conn, step_id, conversation_id, decision)
            return new

        async with self._locks.hold(conversation_id):
            return await self._run(self._tx(body))

    async def delete(self, conversation_id: str) -> bool:
        def body(conn: sqlite3.Connection) -> bool:
            gone = conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,)).rowcount > 0
            self._conv_count -= gone
            return gone

        return await self._run(self._tx(body))

    async def list_conversations(self, limit: int = 100) -> list[ConversationState]:
        def body(conn: sqlite3.Connection) -> list[ConversationState]:
            rows = conn.execute(
                "SELECT id, state FROM conversations WHERE updated_at >= ? ORDER BY updated_at DESC, id LIMIT ?",
                (self._clock() - self.ttl, limit),
            ).fetchall()
            return [decode_state(cid, blob) for cid, blob in rows]

        return await self._run(body)

    async def evict(self) -> int:
        def body(conn: sqlite3.Connection) -> int:
            self._last_sweep = float("-inf")  # force the TTL sweep now
            return self._bound(conn, self._clock())

        return await self._run(self._tx(body))

    # ------------------------------------------------------------ steps and feedback

    def _write_step(self, conn: sqlite3.Connection, step_id: str, cid: str, decision: dict[str, Any]) -> None:
        tier, policy = decision.get("tier"), decision.get("policy_version")
        cur = conn.execute(
            "INSERT INTO steps (step_id, conversation_id, created_at, tier, policy_version, decision) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(step_id) DO UPDATE SET conversation_id = excluded.conversation_id, created_at = excluded.created_at, "
            "tier = excluded.tier, policy_version = excluded.policy_version, decision = excluded.decision, reward = NULL, feedback_at = NULL",
            (
                step_id,
                cid,
                self._clock(),
                tier if isinstance(tier, str) else None,
                policy if isinstance(policy, str) else None,
                encode_json(decision),
            ),
        )
        self._step_count += cur.rowcount > 0
        self._bound(conn, self._clock())

    async def save_step(self, step_id: str, conversation_id: str, decision_json: str) -> None:
        decision = parse_decision(step_id, decision_json)
        await self._run(self._tx(lambda conn: self._write_step(conn, step_id, conversation_id, decision)))

    def _read_step(self, conn: sqlite3.Connection, step_id: str) -> StepRecord | None:
        row = conn.execute(
            "SELECT conversation_id, created_at, decision, reward, feedback_at FROM steps WHERE step_id = ? AND created_at >= ?",
            (step_id, self._clock() - self.ttl),
        ).fetchone()
        if row is None:
            return None
        return StepRecord(step_id, row[0], decode_json(row[2]), row[1], row[3], row[4])

    async def get_step(self, step_id: str) -> StepRecord | None:
        return await self._run(lambda conn: self._read_step(conn, step_id))

    async def record_feedback(self, step_id: str, reward: float) -> StepRecord:
        value = check_reward(step_id, reward)

        def body(conn: sqlite3.Connection) -> StepRecord | None:
            conn.execute(
                "UPDATE steps SET reward = ?, feedback_at = ? WHERE step_id = ? AND created_at >= ?",
                (value, self._clock(), step_id, self._clock() - self.ttl),
            )
            return self._read_step(conn, step_id)

        record = await self._run(self._tx(body))
        if record is None:
            raise UnknownStep(f"no step {step_id!r} to give feedback for (unknown, or older than the state TTL)")
        return record

    async def feedback_stats(self) -> FeedbackStats:
        def body(conn: sqlite3.Connection) -> list[AggregateRow]:
            return conn.execute(
                "SELECT tier, policy_version, COUNT(*), COUNT(reward), COALESCE(SUM(reward), 0.0) FROM steps "
                "WHERE created_at >= ? GROUP BY tier, policy_version ORDER BY tier, policy_version",
                (self._clock() - self.ttl,),
            ).fetchall()

        return summarise(await self._run(body))

    # ------------------------------------------------------------ tool-definition pins (PinStore)

    async def load_pins(self) -> dict[tuple[str, str], PinRecord]:
        return await self._run(sqlite_pins.load)

    async def save_pins(self, records: Sequence[PinRecord]) -> None:
        if records:
            await self._run(self._tx(lambda conn: sqlite_pins.save(conn, records)))

    async def approve_pins(self, target: str | None, now: float) -> list[PinRecord]:
        return await self._run(self._tx(lambda conn: sqlite_pins.approve(conn, target, now)))

    async def pins_version(self) -> int:
        # data_version moves when another connection (`mcproute pins approve`, a replica) commits.
        return int(await self._run(lambda conn: conn.execute("PRAGMA data_version").fetchone()[0]))

    # ------------------------------------------------------------ outcomes (OutcomeStore)

    async def record_outcome(self, record: OutcomeRecord) -> None:
        data = encode_data(record)
        cutoff = self._clock() - self.ttl
        await self._run(self._tx(lambda conn: sqlite_outcomes.insert(conn, record, data, cutoff, self.max_steps)))

    async def list_outcomes(
        self, *, step_id: str | None = None, kind: str | None = None, limit: int = 100
    ) -> list[OutcomeRecord]:
        n, cutoff = check_limit(limit), self._clock() - self.ttl
        return await self._run(lambda conn: sqlite_outcomes.select(conn, step_id, kind, cutoff, n))

    # ------------------------------------------------------------ learned policy versions (PolicyStore)

    async def record_policy(self, version: PolicyVersion) -> None:
        data = policies.encode(version)
        await self._run(self._tx(lambda conn: sqlite_policies.insert(conn, version, data)))

    async def get_policy(self, version_id: str) -> PolicyVersion | None:
        return await self._run(lambda conn: sqlite_policies.get(conn, version_id))

    async def list_policies(self, limit: int = policies.MAX_VERSIONS) -> list[PolicyVersion]:
        n = policies.check_limit(limit)
        return await self._run(lambda conn: sqlite_policies.newest(conn, n))

    async def current_policy(self) -> PolicyVersion | None:
        return await self._run(sqlite_policies.current)

    # ------------------------------------------------------------ MCP sessions (SessionStore)

    async def save_session(self, record: SessionRecord) -> None:
        now = self._clock()
        await self._run(self._tx(lambda conn: sqlite_sessions.save(conn, record, now)))

    async def load_session(self, session_id: str) -> SessionRecord | None:
        now = self._clock()
        return await self._run(lambda conn: sqlite_sessions.load(conn, session_id, now))

    async def touch_session(self, session_id: str) -> bool:
        now = self._clock()
        return await self._run(self._tx(lambda conn: sqlite_sessions.touch(conn, session_id, now)))

    async def delete_session(self, session_id: str) -> bool:
        return await self._run(self._tx(lambda conn: sqlite_sessions.delete(conn, session_id)))

    async def update_session(
        self, session_id: str, change: Callable[[SessionRecord], SessionRecord]
    ) -> SessionRecord | None:
        now = self._clock()
        return await self._run(self._tx(lambda conn: sqlite_sessions.update(conn, session_id, change, now)))

    # ------------------------------------------------------------ lifecycle

    async def close(self) -> None:
        def body() -> None:
            with self._db_lock:
                if not self._closed:
                    self._closed = True
                    self._conn.close()

        await anyio.to_thread.run_sync(body)

    async def __aenter__(self) -> SqliteStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
