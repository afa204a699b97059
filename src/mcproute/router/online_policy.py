"""The adopted learned policy as `decide()` sees it: the static index and scorer, wrapped.

Pure: `LearnedIndex.rank` is the static ranking re-ranked by the tool learner (and keeps the
static one in `.static`, for learning from the step later); `LearnedScorer.score` is the static
tier score with the tier learner's bounded correction in logit space. `decide()` is unchanged:
it takes these where it takes the static ones, and the calibration's version names the learned
version (`...+pv-1a2b3c4d5e`), so every decision span and replay record says which one decided.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mcproute.router.online_tier import TierLearner
from mcproute.router.online_tools import ToolLearner
from mcproute.router.retrieval_types import Ranking
from mcproute.router.tiers import Calibration, TierScore, TierSignals


def versioned(calibration: Calibration, version_id: str | None) -> Calibration:
    return calibration if version_id is None else replace(calibration, version=f"{calibration.version}+{version_id}")


class LearnedIndex:
    """One decision's view of the index (made per decision: it remembers that step's static ranking)."""

    def __init__(self, index: Any, learner: ToolLearner | None, available: Container[str] | None = None) -> None:
        self.index, self.learner, self.available = index, learner, available
        self.static: Ranking | None = None

    def rank(self, text: str, *, context: Any = None, k: int = 10, vector: np.ndarray | None = None) -> Ranking:
        ranking = self.index.rank(text, context=context, k=k, vector=vector)
        self.static = ranking
        if self.learner is None:
            return ranking
        return self.learner.rerank(ranking, vector, k, self.available)


@dataclass(frozen=True, slots=True)
class LearnedScorer:
    scorer: Any  # TierScorer
    learner: TierLearner | None

    def score(self, text: str, signals: TierSignals | None = None, *, vector: np.ndarray | None = None) -> TierScore:
        s: TierScore = self.scorer.score(text, signals, vector=vector)
        if self.learner is None:
            return s
        moved = self.learner.adjust(s.score, vector)
        if moved == s.score:
            return s
        signals_ = dict(s.signals)
        signals_["learned"] = round(self.learner.correction(vector), 4)
        return replace(s, score=moved, signals=signals_)

    def __getattr__(self, name: str) -> Any:  # calibration, dim, ... as the static scorer's
        if name in ("scorer", "learner"):  # not set yet (copy, unpickle): no recursion
            raise AttributeError(name)
        return getattr(self.scorer, name)
