"""What the click-through learner counts per tool beside its memory of steps: bounded, immutable.

- A **prototype** per revealed tool: the sum of the unit vectors of the steps that revealed it
  (its direction is what a new step is compared with) and how many steps revealed it. Unlike the
  step memory, it does not forget old steps of a tool that is still in use.
- **Confusion counts**: how often, when the static ranking led with tool L, the step revealed
  tool T (a static ranker's habitual mistakes are worth learning as such: "when it says L, it is
  T a third of the time").

Bounds: at most `max_tools` prototypes (the least recently revealed tool leaves first) and
`max_pairs` confusion pairs (the least recently counted pair leaves first); counts stop at
`MAX_COUNT`. Compact form: prototype directions as int8 (x127, base64, like `VectorMemory`) with
their norms, so 1,024 prototypes of 384-d vectors are about 0.5 MB of JSON.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_COUNT = 1_000_000
MAX_TOOLS = 16_384
MAX_PAIRS = 65_536


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True, slots=True, eq=False)
class ToolStats:
    dim: int
    # tool -> sum of its revealed unit vectors (float32, read-only); least recently revealed first
    prototypes: Mapping[str, np.ndarray]
    counts: Mapping[str, int]  # tool -> revealed steps (same keys as prototypes)
    # (static leader, revealed tool) -> count; least recently counted first
    confusion: Mapping[tuple[str, str], int]
    led: Mapping[str, int]  # static leader -> the sum of its confusion counts
    max_tools: int = 1024
    max_pairs: int = 4096

    @classmethod
    def empty(cls, dim: int, max_tools: int = 1024, max_pairs: int = 4096) -> ToolStats:
        _check_bounds(dim, max_tools, max_pairs, "tool stats")
        return cls(dim, {}, {}, {}, {}, max_tools, max_pairs)

    def add(self, unit: np.ndarray, tool: str, leader: str | None) -> ToolStats:
        """Count one revealed step (`unit`: its unit vector); `leader`: the static ranking's first tool."""
        protos, counts = dict(self.prototypes), dict(self.counts)
        old = protos.pop(tool, None)  # re-inserted last: the most recently revealed
        total = np.asarray(unit, dtype=np.float32) if old is None else old + unit
        protos[tool] = _frozen(total.astype(np.float32))
        counts[tool] = min(counts.pop(tool, 0) + 1, MAX_COUNT)
        while len(protos) > self.max_tools:
            gone = next(iter(protos))
            del protos[gone], counts[gone]
        confusion, led = dict(self.confusion), dict(self.led)
        if leader is not None:
            pair = (leader, tool)
            n = confusion.pop(pair, 0)
            if n < MAX_COUNT:
                led[leader] = led.get(leader, 0) + 1
                n += 1
            confusion[pair] = n
            while len(confusion) > self.max_pairs:
                first = next(iter(confusion))
                lead, c = first[0], confusion.pop(first)
                led[lead] -= c
                if led[lead] <= 0:
                    del led[lead]
        return ToolStats(self.dim, protos, counts, confusion, led, self.max_tools, self.max_pairs)

    def similarity(self, tool: str, unit: np.ndarray) -> float | None:
        """Cosine of a unit vector with the tool's prototype (None: never revealed, or forgotten)."""
        p = self.prototypes.get(tool)
        if p is None:
            return None
        norm = float(np.linalg.norm(p))
        return float(p @ unit) / norm if norm > 0.0 else 0.0

    def count(self, tool: str) -> int:
        return self.counts.get(tool, 0)

    def share(self, leader: str, tool: str) -> float:
        """The share of steps led statically by `leader` that revealed `tool` (one pseudo-step of doubt)."""
        n = self.led.get(leader, 0)
        return self.confusion.get((leader, tool), 0) / (n + 1) if n else 0.0

    # -- compact form ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        names = list(self.prototypes)
        rows = np.stack([self.prototypes[n] for n in names]) if names else np.zeros((0, self.dim), np.float32)
        norms = np.linalg.norm(rows, axis=1) if names else np.zeros(0)
        unit = rows / np.where(norms == 0.0, 1.0, norms)[:, None]
        q = np.clip(np.rint(unit * 127.0), -127, 127).astype(np.int8)
        return {
            "dim": self.dim,
            "max_tools": self.max_tools,
            "max_pairs": self.max_pairs,
            "tools": names,
            "counts": [self.counts[n] for n in names],
            "norms": [round(float(x), 6) for x in norms],
            "directions_int8": base64.b64encode(q.tobytes()).decode("ascii"),
            "confusion": [[lead, tool, n] for (lead, tool), n in self.confusion.items()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "tool stats") -> ToolStats:
        try:
            dim, max_tools, max_pairs = int(data["dim"]), int(data["max_tools"]), int(data["max_pairs"])
            names, counts, norms = list(data["tools"]), [int(c) for c in data["counts"]], list(data["norms"])
            raw = base64.b64decode(str(data["directions_int8"]), validate=True)
            pairs = [(str(a), str(b), int(n)) for a, b, n in data["confusion"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: malformed ({exc!r})") from None
        _check_bounds(dim, max_tools, max_pairs, where)
        if not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
            raise ValueError(f"{where}: tool names must be distinct non-empty strings")
        if len(names) > max_tools or len(counts) != len(names) or len(norms) != len(names):
            raise ValueError(f"{where}: {len(names)} tools, {len(counts)} counts, {len(norms)} norms (max {max_tools})")
        if not all(1 <= c <= MAX_COUNT for c in counts):
            raise ValueError(f"{where}: a tool count outside [1, {MAX_COUNT}]")
        if not all(isinstance(x, (int, float)) and math.isfinite(x) and 0.0 <= x <= MAX_COUNT for x in norms):
            raise ValueError(f"{where}: a prototype norm that is not a finite number within [0, {MAX_COUNT}]")
        if len(raw) != dim * len(names):
            raise ValueError(f"{where}: {len(raw)} prototype bytes for {len(names)} tools of {dim}")
        if len(pairs) > max_pairs or not all(a and b and 1 <= n <= MAX_COUNT for a, b, n in pairs):
            raise ValueError(f"{where}: more than {max_pairs} confusion pairs, or an empty name or bad count")
        rows = np.frombuffer(raw, dtype=np.int8).reshape(len(names), dim).astype(np.float32) / 127.0
        lengths = np.linalg.norm(rows, axis=1, keepdims=True)
        rows = rows / np.where(lengths == 0.0, 1.0, lengths) * np.asarray(norms, dtype=np.float32)[:, None]
        protos = {n: _frozen(rows[i].copy()) for i, n in enumerate(names)}
        confusion: dict[tuple[str, str], int] = {}
        led: dict[str, int] = {}
        for a, b, n in pairs:
            confusion[(a, b)] = n
            led[a] = led.get(a, 0) + n
        if len(confusion) != len(pairs):
            raise ValueError(f"{where}: a confusion pair listed twice")
        return cls(dim, protos, dict(zip(names, counts, strict=True)), confusion, led, max_tools, max_pairs)


def _check_bounds(dim: int, max_tools: int, max_pairs: int, where: str) -> None:
    if dim < 1 or not 1 <= max_tools <= MAX_TOOLS or not 1 <= max_pairs <= MAX_PAIRS:
        raise ValueError(
            f"{where}: dim {dim}, max_tools {max_tools} (1..{MAX_TOOLS}) or max_pairs {max_pairs} (1..{MAX_PAIRS})"
            " out of bounds"
        )
