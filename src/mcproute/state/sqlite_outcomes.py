"""The `outcomes` table of the SQLite store (statements only; sqlite.py owns the connection).

Schema version 3 adds the table (`CREATE TABLE IF NOT EXISTS`, so an older file gains it on open).
"""

from __future__ import annotations

import json
import sqlite3

from mcproute.state.outcomes import OutcomeRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS outcomes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    step_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outcomes_by_step ON outcomes(step_id);
CREATE INDEX IF NOT EXISTS outcomes_by_age ON outcomes(created_at)
"""
VERSION = 3


def insert(conn: sqlite3.Connection, record: OutcomeRecord, data_json: str, cutoff: float, max_rows: int) -> None:
    conn.execute(
        "INSERT INTO outcomes (step_id, conversation_id, kind, created_at, data) VALUES (?, ?, ?, ?, ?)",
        (record.step_id, record.conversation_id, record.kind, record.created_at, data_json),
    )
    # Bounded like the steps they describe: by age, then by count (oldest first; the id orders them).
    conn.execute("DELETE FROM outcomes WHERE created_at < ?", (cutoff,))
    conn.execute("DELETE FROM outcomes WHERE id <= (SELECT MAX(id) FROM outcomes) - ?", (max_rows,))


def select(
    conn: sqlite3.Connection, step_id: str | None, kind: str | None, cutoff: float, limit: int
) -> list[OutcomeRecord]:
    where, args = ["created_at >= ?"], [cutoff]
    if step_id is not None:
        where.append("step_id = ?")
        args.append(step_id)  # type: ignore[arg-type]
    if kind is not None:
        where.append("kind = ?")
        args.append(kind)  # type: ignore[arg-type]
    rows = conn.execute(
        "SELECT step_id, conversation_id, kind, created_at, data FROM outcomes WHERE "
        + " AND ".join(where)
        + " ORDER BY id DESC LIMIT ?",
        (*args, limit),
    ).fetchall()
    return [OutcomeRecord(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]
