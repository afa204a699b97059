"""Online tier learning: revealed outcomes nudge the static tier score, within a bound.

An outcome says how much the reasoning tier gained over the fast one on a step: `gain` in
[-1, 1] (strong right and fast wrong: +1; both right or both wrong: 0; fast right and strong
wrong: -1; a feedback reward or a shadow comparison maps onto the same scale, runtime/learning.py).
The learner keeps the revealed steps' vectors with their gains (a bounded `VectorMemory`) and
corrects the static logit by how much more (or less) the strong tier gained on the most similar
revealed steps than on revealed steps in general:

    est        = (sum_i w_i g_i + prior_weight * prior) / (sum_i w_i + prior_weight)
                 over the k nearest revealed steps, w_i = cosine_i - floor (> 0 only)
    prior      = sum of all revealed gains / (revealed + 1)
    correction = clamp(weight * (est - prior), -cap, +cap)        added to the static logit

Why it is safe when little is revealed: with no similar neighbour est == prior, so the correction
is 0 and the score is the static one; `prior_weight` pseudo-steps pull every estimate toward the
prior (shrinkage), so a single revealed step moves a score by at most
weight * 2 * (1 - floor) / prior_weight logits (see `max_update_effect`), and the whole correction
never exceeds `cap`. The memory holds at most `capacity` steps (oldest leave first).
A self-check keeps a learner that does not help switched off: before each revealed step is
learned, the correction it would have had is compared with what was revealed (evidence
t = correction x (gain - prior), positive when the correction pointed the right way); corrections
apply only while sum(t) > gate x sqrt(sum(t^2)), i.e. the learner has been right more than chance
on steps it had not seen. On data where neighbours do not predict outcomes the score stays static.

Defaults were chosen on outcomes_mmlu streamed (docs/learning.md) and are the same for every source.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mcproute.router.online_memory import DEFAULT_CAPACITY, VectorMemory, check_labels


@dataclass(frozen=True, slots=True)
class TierLearning:
    """Hyper-parameters of the tier learner (one set for every source)."""

    k: int = 128
    floor: float = 0.2
    prior_weight: float = 16.0
    weight: float = 40.0
    cap: float = 4.0  # logits
    gate: float = 1.0  # the self-check must exceed this many standard errors before corrections apply
    capacity: int = DEFAULT_CAPACITY

    def __post_init__(self) -> None:
        if self.k < 1 or not 0.0 <= self.floor < 1.0 or self.prior_weight <= 0.0:
            raise ValueError("tier learning: k >= 1, 0 <= floor < 1 and prior_weight > 0 are required")
        if not 0.0 <= self.weight <= 1000.0 or not 0.0 <= self.cap <= 20.0 or self.gate < 0.0:
            raise ValueError("tier learning: weight within [0, 1000], cap within [0, 20] logits, gate >= 0")

    def max_update_effect(self) -> float:
        """The most one revealed step can move any score's logit (before the overall cap)."""
        # est moves by <= 2 (1 - floor) / prior_weight, the prior by <= 1 / (revealed + 2) <= 1/2;
        # and the correction is clamped to [-cap, cap] before and after.
        return min(2.0 * self.cap, self.weight * (2.0 * (1.0 - self.floor) / self.prior_weight + 0.5))


@dataclass(frozen=True, slots=True)
class TierLearner:
    memory: VectorMemory
    params: TierLearning = TierLearning()
    revealed: int = 0  # outcomes learned from since the start (the memory keeps the last `capacity`)
    evidence: float = 0.0  # sum of t over the self-check (module docstring)
    evidence_sq: float = 0.0  # sum of t^2

    @property
    def active(self) -> bool:
        """Whether corrections apply: the self-check has seen them help beyond chance."""
        return self.evidence_sq > 0.0 and self.evidence > self.params.gate * math.sqrt(self.evidence_sq)

    @classmethod
    def start(cls, dim: int, params: TierLearning | None = None) -> TierLearner:
        p = params or TierLearning()
        return cls(VectorMemory.empty(dim, p.capacity), p)

    def correction(self, vector: np.ndarray | None) -> float:
        """Logit to add to the static tier score of a step with this vector (0 while inactive)."""
        return self.candidate_correction(vector) if self.active else 0.0

    def _prior(self) -> float:
        return float(np.asarray(self.memory.labels, dtype=np.float64).sum()) / (len(self.memory) + 1)

    def candidate_correction(self, vector: np.ndarray | None) -> float:
        """The correction the memory proposes, whether or not the self-check lets it apply."""
        mem, p = self.memory, self.params
        if vector is None or not len(mem):
            return 0.0
        gains = np.asarray(mem.labels, dtype=np.float64)
        prior = float(gains.sum()) / (len(gains) + 1)
        idx, w = mem.neighbours(vector, p.k, p.floor)
        if not len(idx):
            return 0.0
        est = (float(w @ gains[idx]) + p.prior_weight * prior) / (float(w.sum()) + p.prior_weight)
        return max(-p.cap, min(p.cap, p.weight * (est - prior)))

    def adjust(self, score: float, vector: np.ndarray | None) -> float:
        """The static score (0..1) with the correction applied in logit space."""
        c = self.correction(vector)
        if c == 0.0 or score <= 0.0 or score >= 1.0:  # an override (exactly 0 or 1) is never moved
            return score
        z = math.log(score / (1.0 - score)) + c
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))

    def learn(self, vector: np.ndarray, gain: float) -> TierLearner:
        g = float(gain)
        if not math.isfinite(g) or not -1.0 <= g <= 1.0:
            raise ValueError(f"a tier outcome's gain must be within [-1, 1], got {gain!r}")
        t = self.candidate_correction(vector) * (g - self._prior()) if len(self.memory) else 0.0
        return replace(
            self,
            memory=self.memory.add(vector, g),
            revealed=self.revealed + 1,
            evidence=self.evidence + t,
            evidence_sq=self.evidence_sq + t * t,
        )

    def to_dict(self) -> dict[str, Any]:
        p = self.params
        return {
            "params": {
                "k": p.k,
                "floor": p.floor,
                "prior_weight": p.prior_weight,
                "weight": p.weight,
                "cap": p.cap,
                "gate": p.gate,
                "capacity": p.capacity,
            },
            "revealed": self.revealed,
            "evidence": [self.evidence, self.evidence_sq],
            "memory": self.memory.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TierLearner:
        try:
            params = TierLearning(**dict(data["params"]))
            memory = VectorMemory.from_dict(data["memory"], "tier memory")
            check_labels(memory.labels, (int, float))
            memory = replace(memory, labels=tuple(float(g) for g in memory.labels))
            if any(not -1.0 <= g <= 1.0 for g in memory.labels):
                raise ValueError("a remembered gain is outside [-1, 1]")
            revealed = int(data["revealed"])
            ev, ev_sq = (float(x) for x in data["evidence"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed tier learner state ({exc!r})") from None
        if not (math.isfinite(ev) and math.isfinite(ev_sq) and ev_sq >= 0.0):
            raise ValueError("malformed tier learner state: evidence must be finite, its square sum >= 0")
        return cls(memory, params, revealed, ev, ev_sq)
