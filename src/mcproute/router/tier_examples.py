"""Labelled example prompts, compared with a step's encoder vector (pure: vectors in, numbers out).

Users teach the tier decision their domain by example: prompts labelled `reasoning` or `fast`
(a shipped default set, `mcproute/data/tier_examples.yaml`, plus `routing.tiers.examples` from
servers.yaml). The engine encodes them once at start-up and builds an `ExampleSet`; for every
step the scorer asks how much closer the step is to the reasoning examples than to the fast ones:

    closeness(step) = mean of the top-k cosines to reasoning examples
                    - mean of the top-k cosines to fast examples            (k = 3)

A mean of the top few, not the single nearest, so one odd example cannot flip a decision alone,
yet one close example of the user's still moves it (it is one of the k). The scorer turns the
closeness into a logit with a learned weight (router/tiers.py); this module also says which
example or category a step resembles, so the reason can name it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from mcproute.router.step import Tier

Origin = Literal["shipped", "yours"]
TOP_K = 3


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    tier: Tier
    category: str = ""  # shipped examples: their category ("code review"); user examples: ""
    origin: Origin = "shipped"


@dataclass(frozen=True, slots=True)
class ExampleMatch:
    closeness: float  # top-k mean cosine to reasoning examples minus the same to fast examples
    nearest: Example | None  # the closest example on the side the closeness points to
    similarity: float  # cosine of the step to `nearest`
    category: str  # the category most of that side's top-k examples share ("" if none)


@dataclass(frozen=True)
class ExampleSet:
    """Example prompts with their unit vectors (rows of `vectors`, in `examples` order)."""

    examples: tuple[Example, ...]
    vectors: np.ndarray = field(repr=False)  # (n, dim) float32, unit rows, read-only
    k: int = TOP_K

    def __post_init__(self) -> None:
        v = np.asarray(self.vectors, dtype=np.float32)
        if v.ndim != 2 or v.shape[0] != len(self.examples):
            raise ValueError(f"need one vector per example: {len(self.examples)} examples, vectors of shape {v.shape}")
        v = v.copy()
        v.flags.writeable = False
        object.__setattr__(self, "vectors", v)
        reasoning = np.array([e.tier == "reasoning" for e in self.examples], dtype=bool)
        object.__setattr__(self, "_reasoning", reasoning)

    @classmethod
    def empty(cls, dim: int = 384) -> ExampleSet:
        return cls((), np.zeros((0, dim), dtype=np.float32))

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def count(self, tier: Tier, origin: Origin | None = None) -> int:
        return sum(1 for e in self.examples if e.tier == tier and (origin is None or e.origin == origin))

    def fingerprint(self) -> str:
        """Hash of the texts and labels: part of the policy version, since examples move decisions."""
        h = hashlib.sha256()
        for e in self.examples:
            h.update(f"{e.tier}\x1f{e.origin}\x1f{e.category}\x1f{e.text}\x1e".encode())
        return h.hexdigest()[:8]

    def merged(self, other: ExampleSet) -> ExampleSet:
        if len(self.examples) and len(other.examples) and self.dim != other.dim:
            raise ValueError(f"example vectors differ in size: {self.dim} vs {other.dim}")
        if not other.examples:
            return self
        if not self.examples:
            return other
        return ExampleSet(self.examples + other.examples, np.vstack([self.vectors, other.vectors]), self.k)

    def match(self, vector: np.ndarray) -> ExampleMatch | None:
        """How the step compares with the examples; None when one side has no example."""
        reasoning = self._reasoning  # type: ignore[attr-defined]
        if not reasoning.any() or reasoning.all():
            return None
        sims = self.vectors @ np.asarray(vector, dtype=np.float32)
        pos, neg = np.flatnonzero(reasoning), np.flatnonzero(~reasoning)
        top_pos, top_neg = _top(sims, pos, self.k), _top(sims, neg, self.k)
        closeness = float(sims[top_pos].mean() - sims[top_neg].mean())
        side = top_pos if closeness >= 0 else top_neg
        best = int(side[0])
        return ExampleMatch(closeness, self.examples[best], float(sims[best]), self._common_category(side))

    def closeness_many(self, vectors: np.ndarray, exclude_self: bool = False) -> np.ndarray:
        """closeness for many rows at once (the build script); `exclude_self` when `vectors` are
        this set's own rows, so an example is never compared with itself."""
        sims = np.asarray(vectors, dtype=np.float32) @ self.vectors.T
        if exclude_self:
            sims = sims.copy()
            np.fill_diagonal(sims, -np.inf)
        reasoning = self._reasoning  # type: ignore[attr-defined]
        k_pos, k_neg = min(self.k, int(reasoning.sum())), min(self.k, int((~reasoning).sum()))
        pos = np.sort(sims[:, reasoning], axis=1)[:, -k_pos:]
        neg = np.sort(sims[:, ~reasoning], axis=1)[:, -k_neg:]
        pos = np.where(np.isfinite(pos), pos, np.nan)
        neg = np.where(np.isfinite(neg), neg, np.nan)
        return np.nanmean(pos, axis=1) - np.nanmean(neg, axis=1)

    def _common_category(self, idx: Sequence[int] | np.ndarray) -> str:
        cats = [self.examples[i].category for i in idx if self.examples[i].category]
        if not cats:
            return ""
        best = max(set(cats), key=lambda c: (cats.count(c), -cats.index(c)))
        return best if cats.count(best) * 2 > len(idx) or best == cats[0] else ""


def _top(sims: np.ndarray, idx: np.ndarray, k: int) -> np.ndarray:
    """Indices (into sims) of the k largest among idx, largest first."""
    k = min(k, len(idx))
    part = idx[np.argpartition(-sims[idx], k - 1)[:k]] if len(idx) > k else idx
    return part[np.argsort(-sims[part], kind="stable")]
