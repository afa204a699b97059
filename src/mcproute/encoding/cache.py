"""`ToolVectorCache`: tool vectors on disk, keyed by (model id + max tokens, sha256 of the exact text encoded).

    cache = ToolVectorCache(default_cache_dir() / "tool-vectors.sqlite3")
    got = cache.vectors(encoder, texts)      # got.vectors (n, dim); got.encoded = texts run through the model

A restart or a `list_changed` re-encodes only texts the cache has not seen with this model: the
key is the text itself (hashed), so a tool whose description changed gets a new vector and an
unchanged one is read back. One SQLite file serves every model id (rows of an older model are
simply never asked for) and every process on the machine (WAL; writers retry on a busy lock).
A process also keeps what it read or encoded in memory, so a catalogue change that touches one
server costs no disk read for the others.

A cache that cannot be opened or written (read-only disk, corrupt file) is reported once and then
skipped: vectors are still computed, just not kept.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger("mcproute.encoding")


class EncoderLike(Protocol):
    @property
    def model_id(self) -> str: ...
    @property
    def dim(self) -> int: ...
    @property
    def max_tokens(self) -> int: ...
    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class CachedVectors:
    vectors: np.ndarray  # (n, dim) float32, rows in the order of the texts asked for
    encoded: int  # texts run through the encoder
    from_disk: int  # texts read back from the SQLite file
    from_memory: int  # texts this process already had


class ToolVectorCache:
    """Thread-safe; `path=None` keeps vectors in memory only."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self._mem: dict[tuple[str, str], np.ndarray] = {}
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self.problem = ""  # why the disk cache is off, "" while it works
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS tool_vectors (model_id TEXT NOT NULL, text_sha256 TEXT NOT NULL,"
                    " dim INTEGER NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (model_id, text_sha256)) WITHOUT ROWID"
                )
                self._db = db
            except (OSError, sqlite3.Error) as e:
                self._off(f"cannot open {self.path}: {e}")

    def _off(self, why: str) -> None:
        if not self.problem:
            log.warning("mcproute: the tool-vector cache is off (%s); vectors are computed on every start", why)
        self.problem = why
        if self._db is not None:
            self._db.close()
            self._db = None

    def _read(self, model_id: str, keys: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        if self._db is None or not keys:
            return {}
        out: dict[str, np.ndarray] = {}
        try:
            for i in range(0, len(keys), 500):  # SQLite's bound-parameter limit
                chunk = keys[i : i + 500]
                rows = self._db.execute(
                    f"SELECT text_sha256, dim, vector FROM tool_vectors WHERE model_id = ? AND text_sha256 IN ({','.join('?' * len(chunk))})",
                    (model_id, *chunk),
                ).fetchall()
                for key, d, blob in rows:
                    if d == dim and len(blob) == 4 * dim:
                        vec = np.frombuffer(blob, dtype=np.float32).copy()
                        vec.flags.writeable = False
                        out[key] = vec
        except sqlite3.Error as e:
            self._off(f"cannot read {self.path}: {e}")
        return out

    def _write(self, model_id: str, items: Sequence[tuple[str, np.ndarray]]) -> None:
        if self._db is None or not items:
            return
        try:
            with self._db:  # one transaction: a crash leaves all of it or none
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT OR REPLACE INTO tool_vectors (model_id, text_sha256, dim, vector) VALUES (?, ?, ?, ?)",
                    [
                        (model_id, k, int(v.shape[0]), np.ascontiguousarray(v, dtype=np.float32).tobytes())
                        for k, v in items
                    ],
                )
        except sqlite3.Error as e:
            self._off(f"cannot write {self.path}: {e}")

    def vectors(self, encoder: EncoderLike, texts: Sequence[str]) -> CachedVectors:
        """The vector of each text: from memory, else the disk, else the encoder (then stored)."""
        # The truncation length changes a long text's vector, so it is part of the key.
        mid, dim = f"{encoder.model_id}/max{encoder.max_tokens}", encoder.dim
        keys = [text_key(t) for t in texts]
        out = np.zeros((len(texts), dim), dtype=np.float32)
        with self._lock:
            mem = sum(1 for k in keys if (mid, k) in self._mem)
            missing = list(dict.fromkeys(k for k in keys if (mid, k) not in self._mem))
            disk = self._read(mid, missing, dim)
            for k, v in disk.items():
                self._mem[(mid, k)] = v
        todo = {k: t for k, t in zip(keys, texts, strict=True) if (mid, k) not in self._mem}
        if todo:
            fresh = encoder.encode(list(todo.values()))  # outside the lock: it is the slow part
            items = list(zip(todo, fresh, strict=True))
            with self._lock:
                for k, v in items:
                    v.flags.writeable = False
                    self._mem[(mid, k)] = v
                self._write(mid, items)
        for i, k in enumerate(keys):
            out[i] = self._mem[(mid, k)]
        return CachedVectors(out, len(todo), len(disk), mem)

    def forget_memory(self) -> None:
        """Drop the in-process copies (the disk keeps them); for tests and benchmarks."""
        with self._lock:
            self._mem.clear()

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
