"""A bounded memory of revealed step vectors, each with a label: what the online learners recall.

Pure and immutable: `add()` returns a new memory (the oldest entry leaves once `capacity` is
reached, so the state never grows past it), `neighbours()` is one matrix-vector product. Vectors
are the encoder's unit vectors, kept as float32; `to_dict()` stores them as int8 (x127, base64):
384 bytes per entry, so a full 2,048-entry memory is about 1 MB of JSON, small enough to be a
policy version's learned state.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_CAPACITY = 2048
MAX_CAPACITY = 16_384


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True, slots=True)
class VectorMemory:
    vectors: np.ndarray  # (n, dim) float32, read-only; row i is labels[i]'s step
    labels: tuple[Any, ...]  # a tool name (str) or an outcome gain (float), per row
    capacity: int = DEFAULT_CAPACITY

    @classmethod
    def empty(cls, dim: int, capacity: int = DEFAULT_CAPACITY) -> VectorMemory:
        if not 1 <= capacity <= MAX_CAPACITY:
            raise ValueError(f"memory capacity must be from 1 to {MAX_CAPACITY}, got {capacity}")
        return cls(_frozen(np.zeros((0, dim), dtype=np.float32)), (), capacity)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.labels)

    def add(self, vector: np.ndarray, label: Any) -> VectorMemory:
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        if v.shape[0] != self.dim:
            raise ValueError(f"memory vectors have {self.dim} entries, got {v.shape[0]}")
        norm = float(np.linalg.norm(v))
        if not np.isfinite(norm) or norm == 0.0:
            raise ValueError("a remembered vector must be finite and non-zero")
        keep = self.capacity - 1  # the oldest entries leave first
        rows = np.vstack([self.vectors[-keep:] if keep else self.vectors[:0], (v / norm)[None, :]])
        labels = (*self.labels[-keep:], label) if keep else (label,)
        return VectorMemory(_frozen(rows), labels, self.capacity)

    def nearest(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(row indices, cosines) of the `k` most similar rows, most similar first."""
        if not len(self.labels):
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        sims = self.vectors @ np.asarray(vector, dtype=np.float32)
        idx = np.argsort(-sims, kind="stable")[:k]
        return idx, sims[idx].astype(np.float64)

    def neighbours(self, vector: np.ndarray, k: int, floor: float) -> tuple[np.ndarray, np.ndarray]:
        """(row indices, weights) of the `k` most similar rows; weight = cosine - floor, > 0 only."""
        idx, sims = self.nearest(vector, k)
        w = sims - floor
        keep = w > 0.0
        return idx[keep], w[keep]

    # -- compact form (a policy version's learned state) ------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        q = np.clip(np.rint(self.vectors * 127.0), -127, 127).astype(np.int8)
        return {
            "dim": self.dim,
            "capacity": self.capacity,
            "labels": list(self.labels),
            "vectors_int8": base64.b64encode(q.tobytes()).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "memory") -> VectorMemory:
        try:
            dim, cap, labels = int(data["dim"]), int(data["capacity"]), list(data["labels"])
            raw = base64.b64decode(str(data["vectors_int8"]), validate=True)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: malformed memory ({exc!r})") from None
        if dim < 1 or not 1 <= cap <= MAX_CAPACITY or len(labels) > cap:
            raise ValueError(f"{where}: dim {dim}, capacity {cap} or {len(labels)} labels out of bounds")
        if len(raw) != dim * len(labels):
            raise ValueError(f"{where}: {len(raw)} vector bytes for {len(labels)} rows of {dim}")
        rows = np.frombuffer(raw, dtype=np.int8).reshape(len(labels), dim).astype(np.float32) / 127.0
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        rows = rows / np.where(norms == 0.0, 1.0, norms)
        return cls(_frozen(rows), tuple(labels), cap)


def check_labels(labels: Sequence[Any], kind: type | tuple[type, ...]) -> None:
    for i, lab in enumerate(labels):
        if not isinstance(lab, kind) or isinstance(lab, bool):
            raise ValueError(f"memory label {i} is {type(lab).__name__}, not the expected kind")
