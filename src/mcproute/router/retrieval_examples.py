"""Taught tools: how close a step is to the requests a tool was taught with (`tools.examples`).

A tool with examples (yours, or the shipped ones of the official reference servers:
runtime/tool_examples.py) has a *centroid*: the mean of its examples' sentence vectors, unit
length. The ranking adds `EXAMPLE_WEIGHT x (cos(step, centroid) - BASELINE)` to each taught
candidate's score, after the reranker:

* `BASELINE` is the cosine a request typically has with the centroid of a tool it is *not* for
  (0.135 ± 0.049 over the shipped examples and the other 36 tools' centroids; no-tool requests:
  0.067), so a taught tool gains only when the step is closer to its examples than that, and an
  untaught tool (term 0) is not pushed down by the mere presence of taught ones. A fixed baseline,
  not the mean over the catalogue's taught tools: with one taught tool that mean would cancel the
  term entirely;
* it re-orders the candidates and never changes whether a tool fits at all: P(fit) is still the
  static leader's (the no-tool model was fitted without this term).

The examples also still pull the tool's own vector (the `cos` features, `blend` in
runtime/tool_examples.py); the two do different things: the blend changes what the reranker
sees, this term says how far the examples alone point. `EXAMPLE_WEIGHT` was chosen on the
hand-written dev sets only, each teaching the other (docs/routing-tools.md).
"""

from __future__ import annotations

from collections.abc import Container, Mapping

import numpy as np

EXAMPLE_WEIGHT = 2.0  # ranker units per unit of cosine above BASELINE
BASELINE = 0.15


class TaughtTools:
    """Tool name -> unit centroid of its examples; mutable like the index that owns it."""

    def __init__(self) -> None:
        self._rows: dict[str, np.ndarray] = {}
        self._names: tuple[str, ...] = ()
        self._matrix: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, name: object) -> bool:
        return name in self._rows

    def set(self, names: Mapping[str, object], examples: Mapping[str, np.ndarray]) -> None:
        """For each of `names`: its centroid from `examples` (the mean of its example vectors, any
        scale), or none when `examples` has none for it."""
        for name in names:
            mean = examples.get(name)
            v = None if mean is None else np.asarray(mean, dtype=np.float32)
            norm = float(np.linalg.norm(v)) if v is not None else 0.0
            if v is not None and norm > 0.0 and np.isfinite(norm):
                self._rows[name] = v / norm
            else:
                self._rows.pop(name, None)
        self._matrix = None

    def closeness(self, vector: np.ndarray, alive: Container[str]) -> dict[str, float]:
        """Per taught tool still in the catalogue: cos(step, its centroid) - BASELINE."""
        if self._matrix is None:
            self._names = tuple(self._rows)
            self._matrix = np.stack([self._rows[n] for n in self._names]) if self._rows else None
        if self._matrix is None or self._matrix.shape[1] != vector.shape[0]:
            return {}
        cos = self._matrix @ np.asarray(vector, dtype=np.float32)
        return {n: float(c) - BASELINE for n, c in zip(self._names, cos, strict=True) if n in alive}
