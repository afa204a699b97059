"""The `policies` table of the SQLite store (statements only; sqlite.py owns the connection).

Schema version 4 adds the table (`CREATE TABLE IF NOT EXISTS`, so an older file gains it on open).
"""

from __future__ import annotations

import sqlite3

from mcproute.state.policies import MAX_VERSIONS, PolicyVersion, decode

SCHEMA = """
CREATE TABLE IF NOT EXISTS policies (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    data TEXT NOT NULL
)
"""
VERSION = 4


def insert(conn: sqlite3.Connection, version: PolicyVersion, data_json: str) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO policies (id, status, created_at, data) VALUES (?, ?, ?, ?)",
        (version.id, version.status, version.created_at, data_json),
    )
    # The newest MAX_VERSIONS stay, and the version in force whatever its age.
    conn.execute(
        "DELETE FROM policies WHERE seq <= (SELECT MAX(seq) FROM policies) - ? AND seq != "
        "COALESCE((SELECT MAX(seq) FROM policies WHERE status = 'adopted'), -1)",
        (MAX_VERSIONS,),
    )


def get(conn: sqlite3.Connection, version_id: str) -> PolicyVersion | None:
    row = conn.execute("SELECT data FROM policies WHERE id = ?", (version_id,)).fetchone()
    return decode(row[0]) if row else None


def newest(conn: sqlite3.Connection, limit: int) -> list[PolicyVersion]:
    rows = conn.execute("SELECT data FROM policies ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
    return [decode(r[0]) for r in rows]


def current(conn: sqlite3.Connection) -> PolicyVersion | None:
    row = conn.execute("SELECT data FROM policies WHERE status = 'adopted' ORDER BY seq DESC LIMIT 1").fetchone()
    return decode(row[0]) if row else None
