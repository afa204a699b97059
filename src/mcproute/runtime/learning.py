"""`routing.learning` (off by default): the gateway's online learning loop (docs/learning.md).

What feeds it: the tool the model called among the tools a step offered, or that it called none
of them (click-through, the tool learner); `feedback` rewards on a step (the tier learner: a
reward r on a fast step is a gain of -r, on a reasoning step +r — a badly rated fast answer says
the reasoning tier was needed, a badly rated reasoning answer that it was not worth it; clamped to
[-1, 1]); cascades (a fast model's invalid tool call escalated at once: gain +1, the reasoning
tier was needed); and judged shadows (runtime/shadow.py: the reasoning answer's judge score minus
the fast one's).

Two learners per kind: the *candidate* learns from every revealed outcome; the *adopted* one
decides. Every `propose_every` outcomes the candidate is proposed as a new version. It is
adopted only when replay over the outcomes revealed since the last version says it is not worse:
each of those steps was scored by the candidate before it learned it (the learners' self-check,
router/online_*.py), so the figures are out of sample — wins >= losses for tools, evidence >= 0 for
the tier. Otherwise the version is recorded as rejected (`mcproute policy history` says why) and
the adopted one stays. Steps the loop waits to hear about are kept in a bounded LRU (vector and
static ranking only, never text).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from mcproute.config_sections import LearningConfig
from mcproute.router.online_policy import LearnedIndex, LearnedScorer
from mcproute.router.online_tier import TierLearner
from mcproute.router.online_tools import ToolLearner
from mcproute.router.retrieval_types import Ranking
from mcproute.state.policies import PolicyStore, PolicyVersion, make

log = logging.getLogger("mcproute.learning")
MAX_PENDING = 4096


@dataclass(frozen=True, slots=True)
class _Seen:
    vector: np.ndarray
    static: Ranking | None
    available: frozenset[str]
    tier: str


class LearningLoop:
    def __init__(self, config: LearningConfig) -> None:
        self.config = config
        self.version: PolicyVersion | None = None  # the adopted version (None: static)
        self.tier: TierLearner | None = None  # candidates, learning all the time
        self.tools: ToolLearner | None = None
        self.tier_in_force: TierLearner | None = None
        self.tools_in_force: ToolLearner | None = None
        self._pending: OrderedDict[str, _Seen] = OrderedDict()
        self._since = 0
        self._mark = (0, 0, 0.0)  # (wins, losses, evidence) at the last proposal

    @property
    def version_id(self) -> str | None:
        return self.version.id if self.version is not None else None

    async def load(self, store: object) -> None:
        """Start from the version in force in the store, if any (an unreadable one: from scratch, said)."""
        if not isinstance(store, PolicyStore):
            return
        current = await store.current_policy()
        if current is None:
            return
        try:
            tier = TierLearner.from_dict(current.state["tier"]) if "tier" in current.state else None
            tools = ToolLearner.from_dict(current.state["tools"]) if "tools" in current.state else None
        except ValueError as exc:
            log.warning(
                "mcproute: learned policy %s is unreadable (%s); deciding with the static policy", current.id, exc
            )
            return
        self.version, self.tier, self.tools, self.tier_in_force, self.tools_in_force = current, tier, tools, tier, tools
        self._mark = self._check()

    # -- deciding --------------------------------------------------------------------------------

    def index(self, index: Any, available: frozenset[str]) -> LearnedIndex:
        return LearnedIndex(index, self.tools_in_force if self.config.tools else None, available)

    def scorer(self, scorer: Any) -> LearnedScorer:
        return LearnedScorer(scorer, self.tier_in_force if self.config.tier else None)

    def remember(self, step_id: str, vector: Any, static: Ranking | None, available: frozenset[str], tier: str) -> None:
        if vector is None:
            return  # nothing to learn from without the encoder's vector
        self._pending[step_id] = _Seen(np.asarray(vector, dtype=np.float32), static, available, tier)
        self._pending.move_to_end(step_id)
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)

    # -- revealed outcomes -----------------------------------------------------------------------

    def tool_called(self, step_id: str, tool: str) -> bool:
        seen = self._pending.get(step_id)
        if seen is None or not self.config.tools or tool not in seen.available:
            return False
        offered = seen.static is not None and tool in {c.name for c in seen.static.candidates}
        if not offered:
            return False  # only a tool chosen among those offered says which one was right
        if self.tools is None:
            self.tools = ToolLearner.start(int(seen.vector.shape[0]))
        self.tools = self.tools.learn(seen.vector, tool, seen.static, seen.available)
        self._since += 1
        return True

    def no_tool_called(self, step_id: str) -> bool:
        """The model answered the step without calling any of the tools it was offered: a hold of
        the static "no tool fits" verdict when it said so, and a self-check either way."""
        seen = self._pending.get(step_id)
        if seen is None or not self.config.tools or seen.static is None or not seen.static.candidates:
            return False
        if self.tools is None:
            self.tools = ToolLearner.start(int(seen.vector.shape[0]))
        self.tools = self.tools.learn_no_tool(seen.vector, seen.static, seen.available)
        self._since += 1
        return True

    def feedback(self, step_id: str, reward: float) -> bool:
        seen = self._pending.get(step_id)
        if seen is None or not self.config.tier:
            return False
        return self.gain(step_id, -reward if seen.tier == "fast" else reward)

    def cascaded(self, step_id: str) -> bool:
        """An implicit outcome: the fast model's tool call failed the tool's schema and the step
        escalated at once (a cascade), so the reasoning tier was needed on this step: gain +1."""
        return self.gain(step_id, 1.0)

    def gain(self, step_id: str, gain: float) -> bool:
        """Learn how much the reasoning tier was worth on a step, clamped to [-1, 1]."""
        seen = self._pending.get(step_id)
        if seen is None or not self.config.tier:
            return False
        gain = max(-1.0, min(1.0, float(gain)))
        if self.tier is None:
            self.tier = TierLearner.start(int(seen.vector.shape[0]))
        self.tier = self.tier.learn(seen.vector, gain)
        self._since += 1
        return True

    # -- versions --------------------------------------------------------------------------------

    def _check(self) -> tuple[int, int, float]:
        tools, tier = self.tools, self.tier
        return (tools.wins if tools else 0, tools.losses if tools else 0, tier.evidence if tier else 0.0)

    async def maybe_propose(self, store: object, now: float) -> PolicyVersion | None:
        """Every `propose_every` outcomes: record the candidate as a version, adopted or rejected."""
        if self._since < self.config.propose_every or not isinstance(store, PolicyStore):
            return None
        wins, losses, evidence = self._check()
        w0, l0, e0 = self._mark
        dw, dl, de = wins - w0, losses - l0, evidence - e0
        ok = dw >= dl and de >= 0.0
        metrics = {"outcomes": self._since, "tool_wins": dw, "tool_losses": dl, "tier_evidence": round(de, 6)}
        state: dict[str, Any] = {}
        if self.tier is not None:
            state["tier"] = self.tier.to_dict()
        if self.tools is not None:
            state["tools"] = self.tools.to_dict()
        reason = f"{self._since} outcomes; replay of them: tools {dw} better, {dl} worse; tier evidence {de:+.3f}" + (
            "" if ok else " (worse: not adopted)"
        )
        version = make(self.version_id, now, reason, "adopted" if ok else "rejected", state, metrics)
        await store.record_policy(version)
        self._since, self._mark = 0, (wins, losses, evidence)
        if ok:
            self.version, self.tier_in_force, self.tools_in_force = version, self.tier, self.tools
        return version
