"""Online tool learning (click-through): the tool really used after a decision re-ranks later ones.

After a decision the tool the step actually needed is revealed (in the gateway: the tool the model
called among the top-k it was offered; in the evals: the expected tool). The learner keeps the
revealed steps' vectors with that tool's name (a bounded `VectorMemory`) and, for a new step,
adds to each tool's ranking score a vote from the most similar revealed steps:

    vote(tool) = sum_{i: tool_i = tool} w_i / (sum_i w_i + prior_weight)     in [0, 1)
                 over the k nearest revealed steps, w_i = cosine_i - floor (> 0 only)
    score'     = score + weight * vote(tool)                          (so at most + weight)

A voted tool outside the ranked list joins it with the list's lowest score as its base, so a tool
the static ranking missed can be found again. The ranking's "no tool fits" verdict is kept unless
the votes are overwhelming (`vote >= trust`): the learner re-orders, it does not invent need.

A self-check keeps a learner that does not help switched off: when a tool is revealed together
with the static ranking of its step, the learner first re-ranks that step as it would have (before
learning it) and counts a win (it would have put the revealed tool first, the static ranking did
not) or a loss (the reverse). Votes apply only while wins - losses > gate x sqrt(wins + losses):
on data where similar requests do not use the same tools, the ranking stays static.

Bounds: a tool's score moves by at most `weight` in all, and one revealed step moves any vote by
at most (1 - floor) / prior_weight; the memory holds at most `capacity` steps.
"""

from __future__ import annotations

import math
from collections.abc import Container, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mcproute.router.online_memory import DEFAULT_CAPACITY, VectorMemory, check_labels
from mcproute.router.retrieval_types import Ranking
from mcproute.router.step import Candidate


@dataclass(frozen=True, slots=True)
class ToolLearning:
    """Hyper-parameters of the click-through learner (one set for every source)."""

    k: int = 16
    floor: float = 0.4
    prior_weight: float = 0.5
    weight: float = 4.0  # in units of the ranker's score
    trust: float = 0.6
    gate: float = 1.0  # wins - losses must exceed gate x sqrt(wins + losses) before votes apply
    capacity: int = DEFAULT_CAPACITY

    def __post_init__(self) -> None:
        if self.k < 1 or not 0.0 <= self.floor < 1.0 or self.prior_weight <= 0.0:
            raise ValueError("tool learning: k >= 1, 0 <= floor < 1 and prior_weight > 0 are required")
        if not 0.0 <= self.weight <= 100.0 or not 0.0 < self.trust <= 1.0 or self.gate < 0.0:
            raise ValueError("tool learning: weight within [0, 100], trust within (0, 1], gate >= 0")

    def max_update_effect(self) -> float:
        """The most one revealed step can move any tool's score."""
        return self.weight * (1.0 - self.floor) / self.prior_weight


@dataclass(frozen=True, slots=True)
class ToolLearner:
    memory: VectorMemory
    params: ToolLearning = ToolLearning()
    revealed: int = 0
    wins: int = 0  # the self-check (module docstring)
    losses: int = 0

    @property
    def active(self) -> bool:
        return self.wins - self.losses > self.params.gate * math.sqrt(self.wins + self.losses)

    @classmethod
    def start(cls, dim: int, params: ToolLearning | None = None) -> ToolLearner:
        p = params or ToolLearning()
        return cls(VectorMemory.empty(dim, p.capacity), p)

    def votes(self, vector: np.ndarray | None) -> dict[str, float]:
        mem, p = self.memory, self.params
        if vector is None or not len(mem):
            return {}
        idx, w = mem.neighbours(vector, p.k, p.floor)
        if not len(idx):
            return {}
        total = float(w.sum()) + p.prior_weight
        out: dict[str, float] = {}
        for i, wi in zip(idx.tolist(), w.tolist(), strict=True):
            name = mem.labels[i]
            out[name] = out.get(name, 0.0) + wi / total
        return out

    def rerank(
        self, ranking: Ranking, vector: np.ndarray | None, k: int = 10, available: Container[str] | None = None
    ) -> Ranking:
        """`ranking` re-ordered by the votes (unchanged while inactive, without a vector or without a
        similar revealed step). `available`: the tools this step may use; a voted tool outside it
        never joins the list."""
        return self._rerank(ranking, vector, k, available) if self.active else ranking

    def _rerank(self, ranking: Ranking, vector: np.ndarray | None, k: int, available: Container[str] | None) -> Ranking:
        votes = self.votes(vector)
        if available is not None:
            votes = {n: v for n, v in votes.items() if n in available}
        if not votes:
            return ranking
        p = self.params
        base = {c.name: c.score for c in ranking.candidates}
        low = min(base.values()) if base else 0.0
        scores = {name: s + p.weight * votes.get(name, 0.0) for name, s in base.items()}
        for name, v in votes.items():
            scores.setdefault(name, low + p.weight * v)
        order = sorted(scores, key=lambda n: -scores[n])
        cands = tuple(Candidate(n, round(scores[n], 6)) for n in order[:k])
        lead_vote = votes.get(order[0], 0.0)
        no_tool = ranking.no_tool and lead_vote < p.trust
        note = f"; click-through: {order[0]} voted {lead_vote:.2f} by {len(self.memory)} revealed steps"
        return replace(ranking, candidates=cands, no_tool=no_tool, explanation=ranking.explanation + note)

    def learn(
        self,
        vector: np.ndarray,
        tool: str,
        ranking: Ranking | None = None,
        available: Container[str] | None = None,
    ) -> ToolLearner:
        """Remember that a step with this vector used `tool`; with the step's static `ranking`,
        also score the self-check on it first."""
        if not isinstance(tool, str) or not tool:
            raise ValueError("a revealed tool must be a non-empty tool name")
        wins, losses = self.wins, self.losses
        if ranking is not None:
            static_right = _leader(ranking) == tool
            learned_right = _leader(self._rerank(ranking, vector, 10, available)) == tool
            wins += learned_right and not static_right
            losses += static_right and not learned_right
        return replace(self, memory=self.memory.add(vector, tool), revealed=self.revealed + 1, wins=wins, losses=losses)

    def to_dict(self) -> dict[str, Any]:
        p = self.params
        return {
            "params": {
                "k": p.k,
                "floor": p.floor,
                "prior_weight": p.prior_weight,
                "weight": p.weight,
                "trust": p.trust,
                "gate": p.gate,
                "capacity": p.capacity,
            },
            "revealed": self.revealed,
            "check": [self.wins, self.losses],
            "memory": self.memory.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolLearner:
        try:
            params = ToolLearning(**dict(data["params"]))
            memory = VectorMemory.from_dict(data["memory"], "tool memory")
            check_labels(memory.labels, str)
            revealed = int(data["revealed"])
            wins, losses = (int(x) for x in data["check"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed tool learner state ({exc!r})") from None
        if wins < 0 or losses < 0:
            raise ValueError("malformed tool learner state: negative self-check counts")
        return cls(memory, params, revealed, wins, losses)


def _leader(ranking: Ranking) -> str | None:
    return ranking.candidates[0].name if ranking.candidates and not ranking.no_tool else None
