"""The `pins` table of the SQLite store: statements run on the store's connection (sqlite.py
owns the connection, its lock and the thread hop; this module only knows the table).

Schema version 2 adds the table (`CREATE TABLE IF NOT EXISTS`, like every table here, so a
version-1 file gains it on open and keeps its conversations).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from mcproute.state.pins import PinRecord, select

SCHEMA = """
CREATE TABLE IF NOT EXISTS pins (
    server TEXT NOT NULL,
    tool TEXT NOT NULL,
    hash TEXT NOT NULL,
    definition TEXT NOT NULL,
    pinned_at REAL NOT NULL,
    pending_hash TEXT,
    pending_definition TEXT,
    pending_since REAL,
    PRIMARY KEY (server, tool)
)
"""
VERSION = 2


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _row(row: tuple[Any, ...]) -> PinRecord:
    server, tool, digest, defn, pinned_at, p_hash, p_defn, p_since = row
    return PinRecord(
        server,
        tool,
        digest,
        json.loads(defn),
        pinned_at,
        p_hash,
        json.loads(p_defn) if p_defn is not None else None,
        p_since,
    )


def load(conn: sqlite3.Connection) -> dict[tuple[str, str], PinRecord]:
    rows = conn.execute(
        "SELECT server, tool, hash, definition, pinned_at, pending_hash, pending_definition, pending_since "
        "FROM pins ORDER BY server, tool"
    ).fetchall()
    out: dict[tuple[str, str], PinRecord] = {}
    for row in rows:
        rec = _row(row)
        out[rec.key] = rec
    return out


def save(conn: sqlite3.Connection, records: Sequence[PinRecord]) -> None:
    conn.executemany(
        "INSERT INTO pins (server, tool, hash, definition, pinned_at, pending_hash, pending_definition, pending_since) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(server, tool) DO UPDATE SET hash = excluded.hash, "
        "definition = excluded.definition, pinned_at = excluded.pinned_at, pending_hash = excluded.pending_hash, "
        "pending_definition = excluded.pending_definition, pending_since = excluded.pending_since",
        [
            (
                r.server,
                r.tool,
                r.hash,
                _json(r.definition),
                r.pinned_at,
                r.pending_hash,
                _json(r.pending_definition),
                r.pending_since,
            )
            for r in records
        ],
    )


def approve(conn: sqlite3.Connection, target: str | None, now: float) -> list[PinRecord]:
    """Inside the caller's transaction: re-pin the matching records that have a pending definition."""
    chosen = [r.approved(now) for r in select(list(load(conn).values()), target) if r.pending_hash is not None]
    save(conn, chosen)
    return chosen
