"""Online tool learning (click-through): an online softmax re-ranker over the static ranking.

After a decision the tool the step actually needed is revealed (in the gateway: the tool the model
called among the top-k it was offered; in the evals: the expected tool). The learner remembers the
revealed steps (a bounded `VectorMemory` of vectors with their tools, plus per-tool prototypes and
confusion counts: `online_tool_stats.py`) and re-ranks a new step's candidates — the static list,
plus tools its nearest revealed steps used that the step may use — by a linear score

    logit(c) = w . f(c)          softmax over the candidates = P(c is the tool the step needs)

with eight features per candidate (`FEATURES`):

    score_gap      (score - leader's score) / score_scale, clipped to [-8, 0]
    static_rank    1 / (static rank + 1)          (an added tool: rank = list length, score = lowest)
    vote           kNN vote: sum_{i: tool_i = c} w_i / (sum_i w_i + prior_weight), w_i = cosine_i - floor
                   (> 0 only) over the k nearest revealed steps                          [0, 1)
    prototype      cosine of the step with the tool's prototype (its revealed steps' vectors, summed)
    has_prototype  1 if the tool was revealed before, else 0
    log_count      log(1 + times the tool was revealed)                      [0, log(1 + 10^6)]
    confusion      share of revealed steps, statically led by this step's static leader, that used c
    nearest        highest cosine of the step with a revealed step of c (among the `nearest` closest)

`w` starts at (1, 0, ..., 0) — exactly the static order — and after each reveal takes one SGD step
of the softmax cross-entropy (`lr`) towards the revealed tool, when it is among the candidates.
The learned arm decides with a running average of those weights (`averaged`: the mean of the
first steps, then an exponential average at rate `average`), which follows the trend and not the
last reveal: on MetaTool streamed at reveal 1.0 it added 0.002-0.006 top1 on each of five seeds
(docs/learning.md).
Re-ranked scores stay in ranker units: score'(c) = leader's score + score_scale x (logit(c) - max
logit), so with the starting weights they are the static scores.

The ranking's "no tool fits" verdict is kept unless the new leader's kNN vote is at least the
trust in force: the learner re-orders, it does not invent need. That trust is learned per
deployment from what followed the static verdict: a step the static ranking said needed no tool,
on which a tool was called anyway, is a *miss*; one answered without a tool (the tools were still
offered) is a *hold*. The trust moves from `trust` towards `trust_floor` with the share of misses,
shrunk by `trust_prior` pseudo-steps of holds:

    trust in force = trust - (trust - trust_floor) x misses / (misses + holds + trust_prior)

so where the verdict is rarely wrong (chat next to tools) it stays near `trust`, and where every
step uses a tool (an agent backend) the neighbours' vote is believed sooner.

Two sets of weights ("arms") compete on the same features: `learned` (the SGD weights above) and
`vote`, fixed at (1, 0, vote_weight / score_scale, 0, ...), i.e. score + vote_weight x vote (the
fixed-formula learner this one replaced). The softmax needs many reveals before its weights are
worth more than the vote formula; the vote formula never improves past what it is. A self-check
keeps an arm that does not help switched off and picks the better one: when a tool is revealed
together with the static ranking of its step, each arm first re-ranks that step as it would have
(before learning it) and counts a win (it would have put the revealed tool first, the static
ranking did not) or a loss (the reverse). An arm may decide only while its wins - losses > gate x
sqrt(wins + losses); of those that may, the one with the larger wins - losses decides (the learned
one on a tie). With no arm passing — data where the revealed tools follow no learnable pattern —
the ranking stays static. `wins` / `losses` count the same for the decisions in force (the
gateway's adoption replay reads them).

Bounds: every learned weight stays within [-max_weight, max_weight] and moves by at most
`max_step` per reveal; every feature is bounded (above), so one reveal moves a candidate's logit by
at most `ToolLearning.max_update_effect()`; the vote arm moves a score by at most `vote_weight`.
The memory holds at most `capacity` steps, the stats at most `max_tools` prototypes and
`max_pairs` confusion pairs.
"""

from __future__ import annotations

import math
from collections.abc import Container, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mcproute.router.online_memory import DEFAULT_CAPACITY, VectorMemory, check_labels
from mcproute.router.online_tool_stats import MAX_COUNT, ToolStats
from mcproute.router.retrieval_types import Ranking
from mcproute.router.step import Candidate

FEATURES = ("score_gap", "static_rank", "vote", "prototype", "has_prototype", "log_count", "confusion", "nearest")
# The largest |value| each feature can take (the update bound is built from them).
FEATURE_BOUNDS = (8.0, 1.0, 1.0, 1.0, 1.0, math.log1p(MAX_COUNT), 1.0, 1.0)
START_WEIGHTS = (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)  # = the static order
ARMS = ("vote", "learned")
STATE_FORMAT = 4  # 4 adds the no-tool counts, 3 the averaged weights; 2 is read (its weights are the average); 1 is not
_READS = (2, 3, 4)
_SAYS = {
    "score_gap": "static score",
    "static_rank": "static rank",
    "vote": "neighbours' vote",
    "prototype": "similarity to its revealed steps",
    "has_prototype": "revealed before",
    "log_count": "times revealed",
    "confusion": "share revealed when the static ranking led with {leader}",
    "nearest": "nearest revealed step",
}


@dataclass(frozen=True, slots=True)
class ToolLearning:
    """Hyper-parameters of the click-through learner (one set for every source)."""

    k: int = 16  # neighbours that vote
    floor: float = 0.4
    prior_weight: float = 0.5
    nearest: int = 64  # neighbours searched for the `nearest` feature
    score_scale: float = 5.0  # ranker score units per logit
    lr: float = 0.3
    max_weight: float = 10.0
    max_step: float = 1.0
    vote_weight: float = 4.0  # the vote arm: ranker score units at a unanimous vote
    trust: float = 0.6  # the leader's vote that overrides a "no tool fits" verdict, before any evidence
    trust_floor: float = 0.2  # ... when every revealed "no tool" verdict was followed by a tool call
    trust_prior: float = 4.0  # pseudo-steps of holds that the share of misses is shrunk by
    gate: float = 1.0  # an arm's wins - losses must exceed gate x sqrt(wins + losses) before it decides
    average: float = 0.05  # the learned arm decides with an average of its weights at least this recent (1: the last)
    capacity: int = DEFAULT_CAPACITY
    max_tools: int = 1024
    max_pairs: int = 4096

    def __post_init__(self) -> None:
        if self.k < 1 or self.nearest < self.k or not 0.0 <= self.floor < 1.0 or self.prior_weight <= 0.0:
            raise ValueError("tool learning: k >= 1, nearest >= k, 0 <= floor < 1 and prior_weight > 0 are required")
        if not 0.0 < self.score_scale <= 100.0 or not 0.0 <= self.lr <= 10.0:
            raise ValueError("tool learning: score_scale within (0, 100], lr within [0, 10]")
        if not 1.0 <= self.max_weight <= 100.0 or not 0.0 < self.max_step <= self.max_weight:
            raise ValueError("tool learning: max_weight within [1, 100], max_step within (0, max_weight]")
        if not 0.0 < self.trust <= 1.0 or self.gate < 0.0 or not 0.0 <= self.vote_weight <= 100.0:
            raise ValueError("tool learning: trust within (0, 1], gate >= 0, vote_weight within [0, 100]")
        if not 0.0 < self.trust_floor <= self.trust or self.trust_prior <= 0.0:
            raise ValueError("tool learning: trust_floor within (0, trust], trust_prior > 0")
        if not 0.0 < self.average <= 1.0:
            raise ValueError("tool learning: average within (0, 1]")

    def trust_after(self, misses: int, holds: int) -> float:
        """The leader's kNN vote that overrides a "no tool fits" verdict after these outcomes of
        such verdicts (module docstring)."""
        return self.trust - (self.trust - self.trust_floor) * misses / (misses + holds + self.trust_prior)

    def max_update_effect(self) -> float:
        """The most one reveal can move any candidate's learned logit (x score_scale in ranker units)."""
        return self.max_step * sum(FEATURE_BOUNDS)

    def vote_weights(self) -> tuple[float, ...]:
        return (1.0, 0.0, self.vote_weight / self.score_scale, 0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class _View:
    """One step's candidates as the re-ranker sees them."""

    names: tuple[str, ...]  # the static list, then the added tools
    features: np.ndarray  # (len(names), len(FEATURES))
    votes: Mapping[str, float]


@dataclass(frozen=True, slots=True, eq=False)
class ToolLearner:
    memory: VectorMemory
    stats: ToolStats
    params: ToolLearning = ToolLearning()
    weights: tuple[float, ...] = START_WEIGHTS
    revealed: int = 0
    wins: int = 0  # the self-check of the decisions in force (module docstring)
    losses: int = 0
    checks: tuple[tuple[int, int], ...] = ((0, 0), (0, 0))  # (wins, losses) per arm, in ARMS order
    averaged: tuple[float, ...] = START_WEIGHTS  # what the learned arm decides with (module docstring)
    steps: int = 0  # SGD steps taken
    misses: int = 0  # revealed steps the static ranking said needed no tool, that called one
    holds: int = 0  # ... that called none (the module docstring)

    @property
    def arm(self) -> str | None:
        """The arm deciding now (None: none has passed its self-check; the ranking stays static)."""
        g = self.params.gate
        ok = [i for i, (w, lost) in enumerate(self.checks) if w - lost > g * math.sqrt(w + lost)]
        return ARMS[max(ok, key=lambda i: (self.checks[i][0] - self.checks[i][1], i))] if ok else None

    @property
    def active(self) -> bool:
        return self.arm is not None

    @property
    def trust(self) -> float:
        """The leader's kNN vote that overrides a "no tool fits" verdict now (module docstring)."""
        return self.params.trust_after(self.misses, self.holds)

    def _weights(self, arm: str | None) -> tuple[float, ...]:
        return self.averaged if arm == "learned" else self.params.vote_weights() if arm == "vote" else START_WEIGHTS

    @classmethod
    def start(cls, dim: int, params: ToolLearning | None = None) -> ToolLearner:
        p = params or ToolLearning()
        return cls(VectorMemory.empty(dim, p.capacity), ToolStats.empty(dim, p.max_tools, p.max_pairs), p)

    # -- deciding --------------------------------------------------------------------------------

    def rerank(
        self, ranking: Ranking, vector: np.ndarray | None, k: int = 10, available: Container[str] | None = None
    ) -> Ranking:
        """`ranking` re-ordered by the arm in force (unchanged while none is, without a vector or
        without candidates). `available`: the tools this step may use; a tool outside it never joins."""
        arm = self.arm
        return ranking if arm is None else self._rerank(ranking, vector, k, available, arm)

    def _view(self, ranking: Ranking, unit: np.ndarray, available: Container[str] | None) -> _View:
        p, mem, stats = self.params, self.memory, self.stats
        idx, sims = mem.nearest(unit, p.nearest)
        labels = [mem.labels[i] for i in idx.tolist()]
        close = [(t, s - p.floor) for t, s in zip(labels[: p.k], sims[: p.k].tolist(), strict=True) if s > p.floor]
        total = sum(w for _, w in close) + p.prior_weight
        votes: dict[str, float] = {}
        for t, w in close:
            votes[t] = votes.get(t, 0.0) + w / total
        best: dict[str, float] = {}
        for t, s in zip(labels, sims.tolist(), strict=True):
            best.setdefault(t, s)  # most similar first
        cands = ranking.candidates
        names = [c.name for c in cands]
        listed = set(names)
        names += [t for t in votes if t not in listed and (available is None or t in available)]
        top, low, leader = cands[0].score, cands[-1].score, cands[0].name
        rows = []
        for r, name in enumerate(names):
            listed_here = r < len(cands)
            score = cands[r].score if listed_here else low
            proto = stats.similarity(name, unit)
            rows.append(
                (
                    min(0.0, max((score - top) / p.score_scale, -FEATURE_BOUNDS[0])),
                    1.0 / ((r if listed_here else len(cands)) + 1),
                    votes.get(name, 0.0),
                    0.0 if proto is None else proto,
                    0.0 if proto is None else 1.0,
                    math.log1p(stats.count(name)),
                    stats.share(leader, name),
                    best.get(name, 0.0),
                )
            )
        return _View(tuple(names), np.asarray(rows, dtype=np.float64), votes)

    def _rerank(
        self, ranking: Ranking, vector: np.ndarray | None, k: int, available: Container[str] | None, arm: str
    ) -> Ranking:
        unit = _unit(vector)
        if unit is None or not ranking.candidates:
            return ranking
        return self._decide(ranking, self._view(ranking, unit, available), k, arm)

    def _decide(self, ranking: Ranking, view: _View, k: int, arm: str | None) -> Ranking:
        w = np.asarray(self._weights(arm))
        logits = view.features @ w
        order = np.argsort(-logits, kind="stable").tolist()
        top, best = ranking.candidates[0].score, float(logits[order[0]])
        scores = [top + self.params.score_scale * (float(x) - best) for x in logits]
        cands = tuple(Candidate(view.names[i], round(scores[i], 6)) for i in order[:k])
        lead = order[0]
        no_tool = ranking.no_tool and view.votes.get(view.names[lead], 0.0) < self.trust
        note = ""
        if lead != 0:
            note = f"; click-through: {view.names[lead]} moved up from " + (
                f"static rank {lead + 1}" if lead < len(ranking.candidates) else "outside the static list"
            )
            note += f" ({self._why(view, lead, w)}; {arm} re-ranker, {self.revealed} revealed steps)"
        elif order[: len(ranking.candidates)] != list(range(len(ranking.candidates))):
            note = f"; click-through ({arm} re-ranker, {self.revealed} revealed steps) re-ordered the candidates after the leader"
        return replace(ranking, candidates=cands, no_tool=no_tool, explanation=ranking.explanation + note)

    def _why(self, view: _View, lead: int, w: np.ndarray) -> str:
        """The two features that most raised the new leader over the static one, with their values."""
        f = view.features
        gain = w * (f[lead] - f[0])
        top = [j for j in np.argsort(-gain, kind="stable")[:2].tolist() if gain[j] > 0.0]
        says = [_SAYS[FEATURES[j]].format(leader=view.names[0]) for j in top]
        return ", ".join(f"{s} {f[lead, j]:.2f} vs {f[0, j]:.2f}" for s, j in zip(says, top, strict=True))

    # -- learning --------------------------------------------------------------------------------

    def learn(
        self,
        vector: np.ndarray,
        tool: str,
        ranking: Ranking | None = None,
        available: Container[str] | None = None,
    ) -> ToolLearner:
        """Remember that a step with this vector used `tool`; with the step's static `ranking`, also
        score the self-check on it and take one gradient step of the re-ranker first."""
        if not isinstance(tool, str) or not tool:
            raise ValueError("a revealed tool must be a non-empty tool name")
        unit = _unit(vector)
        if unit is None or unit.shape[0] != self.memory.dim:
            raise ValueError(f"a revealed step needs a finite non-zero vector of {self.memory.dim} entries")
        weights, leader, averaged, steps, checked = self.weights, None, self.averaged, self.steps, {}
        if ranking is not None and ranking.candidates:
            leader = ranking.candidates[0].name
            view = self._view(ranking, unit, available)
            checked = self._checked(ranking, view, tool)
            if tool in view.names:
                weights = self._step(view, view.names.index(tool))
                steps += 1
                rate = max(1.0 / steps, self.params.average)
                averaged = tuple(float(a + rate * (w - a)) for a, w in zip(averaged, weights, strict=True))
        return replace(
            self,
            memory=self.memory.add(unit, tool),
            stats=self.stats.add(unit, tool, leader),
            weights=weights,
            revealed=self.revealed + 1,
            averaged=averaged,
            steps=steps,
            misses=self.misses + (ranking is not None and bool(ranking.candidates) and ranking.no_tool),
            **checked,
        )

    def learn_no_tool(
        self, vector: np.ndarray, ranking: Ranking, available: Container[str] | None = None
    ) -> ToolLearner:
        """A step was answered without a tool although `ranking`'s tools were offered: score the
        self-check on it and, when the static ranking had said so too, count a hold. Nothing is
        remembered for the re-ranker (there is no tool to move up)."""
        unit = _unit(vector)
        if unit is None or unit.shape[0] != self.memory.dim:
            raise ValueError(f"a revealed step needs a finite non-zero vector of {self.memory.dim} entries")
        if not ranking.candidates:
            return self
        return replace(
            self,
            revealed=self.revealed + 1,
            holds=self.holds + ranking.no_tool,
            **self._checked(ranking, self._view(ranking, unit, available), None),
        )

    def _checked(self, ranking: Ranking, view: _View, tool: str | None) -> dict[str, Any]:
        """The self-check on a revealed step (`tool` None: no tool was called), before it is learned:
        per arm, and for the arm in force, a win when the arm would have led with what was used and
        the static ranking did not, a loss for the reverse."""
        static_right = _leader(ranking) == tool
        right = {arm: _leader(self._decide(ranking, view, 1, arm)) == tool for arm in ARMS}
        wins, losses, in_force = self.wins, self.losses, self.arm
        if in_force is not None:
            wins += right[in_force] and not static_right
            losses += static_right and not right[in_force]
        checks = tuple(
            (w + (right[arm] and not static_right), lost + (static_right and not right[arm]))
            for arm, (w, lost) in zip(ARMS, self.checks, strict=True)
        )
        return {"wins": wins, "losses": losses, "checks": checks}

    def _step(self, view: _View, target: int) -> tuple[float, ...]:
        """One SGD step of the softmax cross-entropy towards `target`, each weight's move and value clipped."""
        p, w = self.params, np.asarray(self.weights)
        logits = view.features @ w
        prob = np.exp(logits - logits.max())
        prob /= prob.sum()
        prob[target] -= 1.0
        move = np.clip(-p.lr * (view.features.T @ prob), -p.max_step, p.max_step)
        return tuple(float(x) for x in np.clip(w + move, -p.max_weight, p.max_weight))

    # -- compact form ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        p = self.params
        return {
            "format": STATE_FORMAT,
            "params": {f: getattr(p, f) for f in ToolLearning.__dataclass_fields__},
            "weights": dict(zip(FEATURES, self.weights, strict=True)),
            "averaged": dict(zip(FEATURES, self.averaged, strict=True)),
            "steps": self.steps,
            "revealed": self.revealed,
            "check": [self.wins, self.losses],
            "arms": {arm: list(c) for arm, c in zip(ARMS, self.checks, strict=True)},
            "no_tool": {"misses": self.misses, "holds": self.holds},
            "memory": self.memory.to_dict(),
            "stats": self.stats.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolLearner:
        if not isinstance(data, Mapping) or data.get("format") not in _READS:
            got = data.get("format", 1) if isinstance(data, Mapping) else type(data).__name__
            raise ValueError(
                f"malformed tool learner state: format {got!r}, this learner reads {' or '.join(map(str, _READS))}"
            )
        try:
            params = ToolLearning(**dict(data["params"]))
            memory = VectorMemory.from_dict(data["memory"], "tool memory")
            check_labels(memory.labels, str)
            stats = ToolStats.from_dict(data["stats"], "tool stats")
            named = dict(data["weights"])
            weights = tuple(float(named[f]) for f in FEATURES)
            mean = dict(data["averaged"]) if data["format"] >= 3 else named
            averaged = tuple(float(mean[f]) for f in FEATURES)
            steps = int(data["steps"]) if data["format"] >= 3 else 0
            revealed = int(data["revealed"])
            wins, losses = (int(x) for x in data["check"])
            nt = dict(data["no_tool"]) if data["format"] >= 4 else {"misses": 0, "holds": 0}
            misses, holds = int(nt["misses"]), int(nt["holds"])
            arms = dict(data["arms"])
            checks = tuple((int(arms[a][0]), int(arms[a][1])) for a in ARMS)
            if set(arms) != set(ARMS) or any(len(arms[a]) != 2 for a in ARMS):
                raise ValueError(f"arms must be exactly {', '.join(ARMS)}, each [wins, losses]")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed tool learner state ({exc!r})") from None
        if set(named) != set(FEATURES) or set(mean) != set(FEATURES):
            raise ValueError(f"malformed tool learner state: weights must name exactly {', '.join(FEATURES)}")
        if not all(math.isfinite(x) and abs(x) <= params.max_weight for x in (*weights, *averaged)):
            raise ValueError(
                f"malformed tool learner state: a weight outside [-{params.max_weight}, {params.max_weight}]"
            )
        if min(wins, losses, revealed, steps, misses, holds) < 0 or min(min(c) for c in checks) < 0:
            raise ValueError("malformed tool learner state: negative counts")
        if memory.dim != stats.dim or memory.capacity != params.capacity:
            raise ValueError("malformed tool learner state: memory and stats disagree with each other or the params")
        if (stats.max_tools, stats.max_pairs) != (params.max_tools, params.max_pairs):
            raise ValueError("malformed tool learner state: the stats' bounds are not the params'")
        return cls(memory, stats, params, weights, revealed, wins, losses, checks, averaged, steps, misses, holds)


def _unit(vector: np.ndarray | None) -> np.ndarray | None:
    if vector is None:
        return None
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(v))
    return v / norm if math.isfinite(norm) and norm > 0.0 else None


def _leader(ranking: Ranking) -> str | None:
    return ranking.candidates[0].name if ranking.candidates and not ranking.no_tool else None
