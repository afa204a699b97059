"""The `sessions` table of the SQLite store: handshake-era MCP session records (statements only;
sqlite.py owns the connection). Several `serve --workers` processes on one host share the file.

Schema version 4 adds the table (`CREATE TABLE IF NOT EXISTS`, so an older file gains it on open).
`last_seen` is its own column so a touch updates one number, not the record.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from mcproute.state.sessions import SessionRecord, decode_session, encode_session

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    last_seen REAL NOT NULL,
    idle REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions(last_seen + idle)
"""
VERSION = 5


def save(conn: sqlite3.Connection, record: SessionRecord, now: float) -> None:
    conn.execute(
        "INSERT INTO sessions (id, data, last_seen, idle) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
        "data = excluded.data, last_seen = excluded.last_seen, idle = excluded.idle",
        (record.session_id, encode_session(record), record.last_seen, record.idle_timeout),
    )
    conn.execute("DELETE FROM sessions WHERE last_seen + idle <= ?", (now,))  # idle-expired ones


def load(conn: sqlite3.Connection, session_id: str, now: float) -> SessionRecord | None:
    row = conn.execute(
        "SELECT data, last_seen FROM sessions WHERE id = ? AND last_seen + idle > ?", (session_id, now)
    ).fetchone()
    return None if row is None else decode_session(row[0], last_seen=row[1])


def touch(conn: sqlite3.Connection, session_id: str, now: float) -> bool:
    cur = conn.execute(
        "UPDATE sessions SET last_seen = ? WHERE id = ? AND last_seen + idle > ?", (now, session_id, now)
    )
    return cur.rowcount > 0


def update(
    conn: sqlite3.Connection, session_id: str, change: Callable[[SessionRecord], SessionRecord], now: float
) -> SessionRecord | None:
    """Read, change and save in the caller's transaction (BEGIN IMMEDIATE: no other writer between)."""
    record = load(conn, session_id, now)
    if record is None:
        return None
    new = change(record)
    save(conn, new, now)
    return new


def delete(conn: sqlite3.Connection, session_id: str) -> bool:
    return conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount > 0
