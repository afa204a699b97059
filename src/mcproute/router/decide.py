"""One decision per agent step: which tool, which tier and model — with the conversation's stickiness.

    decide(step, state, index, scorer, calibration, models, policy, now=...) -> Decision

combines the tool ranking (`ToolIndex.rank`), the raw reasoning score (`TierScorer.score`) and
its calibrated threshold, then applies `router.conversation` (hysteresis, cascade, cheapest
adequate model, sticky deployment, tool/server affinity). Pure: the only clock is the injected
one used to measure latency; `now` is the time of the step (it tells whether the provider's
prompt cache can still be warm). Deterministic: ties break by score, then stable catalogue order.

The inputs are typed as Protocols so any index/scorer of the right shape works (the shipped ones
are `mcproute.router.tools.ToolIndex` and `mcproute.router.tiers.TierScorer`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

from mcproute.config import RoutingConfig
from mcproute.router.conversation import (
    AffinityResult,
    TierChoice,
    apply_affinity,
    cache_warm,
    choose_model,
    choose_tier,
)
from mcproute.router.step import Candidate, ConversationState, Decision, ModelSpec, Step, ToolSpec
from mcproute.router.tiers import TierSignals
from mcproute.router.tools import RetrievalContext

# Only the fields TierSignals knows are passed, so either side may add signals independently.
_SIGNAL_FIELDS = frozenset(f.name for f in dataclasses.fields(TierSignals))


class RankingLike(Protocol):
    @property
    def candidates(self) -> Sequence[Candidate]: ...
    @property
    def no_tool(self) -> bool: ...


class ToolIndexLike(Protocol):
    def rank(
        self, text: str, *, context: RetrievalContext | None = None, k: int = 10, vector: Any = None
    ) -> RankingLike: ...


class TierScoreLike(Protocol):
    @property
    def score(self) -> float: ...
    @property
    def signals(self) -> Mapping[str, float]: ...
    @property
    def reason(self) -> str: ...


class TierScorerLike(Protocol):
    def score(self, text: str, signals: Any = None, *, vector: Any = None) -> TierScoreLike: ...


class CalibrationLike(Protocol):
    @property
    def threshold(self) -> float: ...
    @property
    def version(self) -> str: ...


def tier_signals(step: Step, state: ConversationState | None) -> Any:
    """The conversation signals for the tier scorer (`router.tiers.TierSignals`)."""
    values: dict[str, Any] = {
        "previous_tier": state.tier if state else None,
        "tool_errors": state.tool_errors if state else 0,
        "failed_validations": 1 if state is not None and state.cascade_reason else 0,
        "step_count": state.step_count if state else 0,
        "intelligence_priority": step.hints.intelligence_priority,
        "tier_override": step.hints.tier_override,
        "user_override": step.hints.tier_override,
    }
    return TierSignals(**{k: v for k, v in values.items() if k in _SIGNAL_FIELDS})


def _server_lookup(tools: Mapping[str, ToolSpec] | None, separator: str) -> Callable[[str], str | None]:
    def server_of(name: str) -> str | None:
        if tools is not None and name in tools:
            return tools[name].server or None
        # Without the catalogue, the namespace prefix is the server (gateway.separator).
        head, sep, _ = name.partition(separator)
        return head if sep else None

    return server_of


def decide(
    step: Step,
    state: ConversationState | None,
    index: ToolIndexLike,
    scorer: TierScorerLike,
    calibration: CalibrationLike,
    models: Sequence[ModelSpec],
    policy: RoutingConfig,
    *,
    now: float,
    tools: Mapping[str, ToolSpec] | None = None,
    unhealthy: Collection[str] = (),
    separator: str = "__",
    clock: Callable[[], float] | None = None,
) -> Decision:
    """Route one step. `tools` maps namespaced names to specs (for server affinity); `unhealthy`
    holds deployment keys the reliability layer has opened a breaker on; `clock` (seconds, e.g.
    `time.perf_counter`) measures `latency_ms`, which is 0.0 without one."""
    started = clock() if clock is not None else 0.0
    if state is not None and state.conversation_id != step.conversation_id:
        state = None  # never let one conversation's state steer another's step
    context = RetrievalContext.from_state(state) if state is not None else None
    ranking = index.rank(step.text, context=context, k=policy.top_k, vector=step.vector)
    affinity: AffinityResult = apply_affinity(ranking.candidates, state, _server_lookup(tools, separator))
    chosen = None if ranking.no_tool or not affinity.candidates else affinity.candidates[0]

    # The same encoder vector that ranked the tools scores the tier (None: the scorer's shape-only fallback).
    tscore = scorer.score(step.text, signals=tier_signals(step, state), vector=step.vector)
    threshold = calibration.threshold if policy.threshold is None else policy.threshold
    version = (
        calibration.version if policy.threshold is None else f"{calibration.version}+threshold={policy.threshold:g}"
    )
    warm = cache_warm(state, now)
    tier_choice = choose_tier(state, tscore.score, threshold, policy, hints=step.hints, warm=warm)
    model_choice = choose_model(
        tier_choice.tier,
        models,
        state,
        policy,
        conversation_id=step.conversation_id,
        needs_tools=chosen is not None,
        unhealthy=unhealthy,
        model_override=step.hints.model_override,
        warm=warm,
    )

    signals = dict(tscore.signals)
    signals["fast_streak"] = float(tier_choice.fast_streak)
    signals["cache_warm"] = 1.0 if warm else 0.0
    if state is not None and state.cascade_reason and tier_choice.tier == "reasoning" and state.tier == "fast":
        signals["cascade"] = 1.0
    if chosen is not None and chosen.name in affinity.boosts:
        signals["affinity_boost"] = affinity.boosts[chosen.name]
    no_tool_score = getattr(ranking, "no_tool_score", None)
    if isinstance(no_tool_score, (int, float)):
        signals["no_tool_score"] = float(no_tool_score)

    parts = [(tier_choice.held, tier_choice.reason), (model_choice.held, model_choice.reason)]
    if affinity.reason and chosen is not None:
        parts.append((affinity.held, affinity.reason))
    broken = [r for held, r in parts if not held and r]
    sticky_held = not broken
    sticky_reason = "; ".join(broken or [r for _, r in parts if r]) + "."

    decision = Decision(
        step_id=step.step_id,
        conversation_id=step.conversation_id,
        tool=chosen.name if chosen else None,
        tool_score=chosen.score if chosen else 0.0,
        alternatives=affinity.candidates,
        tier=model_choice.tier,
        model=model_choice.model,
        model_alternatives=model_choice.alternatives,
        reasoning_score=round(float(tscore.score), 6),
        threshold=threshold,
        signals=signals,
        reason=_reason(chosen, len(affinity.candidates), ranking, tier_choice, model_choice, tscore, threshold),
        sticky_held=sticky_held,
        sticky_reason=sticky_reason,
        policy_version=version,
        deployment=model_choice.deployment,
        fast_streak=tier_choice.fast_streak,
    )
    if clock is not None:
        decision = dataclasses.replace(decision, latency_ms=round((clock() - started) * 1000.0, 4))
    return decision


def _reason(
    chosen: Candidate | None,
    n: int,
    ranking: RankingLike,
    tier_choice: TierChoice,
    model: Any,
    tscore: TierScoreLike,
    threshold: float,
) -> str:
    if chosen is not None:
        tool = f"{chosen.name} ranks first of {n} tool{'' if n == 1 else 's'} (score {chosen.score:.2f})"
    elif ranking.no_tool and n:
        # The bar is the deployment's (routing.no_tool_threshold): say where the step fell short of it.
        score, bar = getattr(ranking, "no_tool_score", None), getattr(ranking, "threshold", None)
        tool = "no tool fits this step"
        if isinstance(score, (int, float)) and isinstance(bar, (int, float)):
            tool += f" (P(fit) {1.0 - score:.2f} < {bar:.2f})"
    else:
        tool = "no tool in the catalogue matches this step"
    side = "≥" if tscore.score >= threshold else "<"
    why = f": {tscore.reason.rstrip('.')}" if tscore.reason else ""
    if model.model is None:
        return f"{tool}; no model can run it: {model.reason}."
    tier = tier_choice.tier
    on = f"the {model.tier} tier" + (f" (a tier change: {model.reason})" if model.tier != tier else "")
    score = f"reasoning score {tscore.score:.2f} {side} threshold {threshold:.2f}{why}"
    if (tscore.score >= threshold) != (tier == "reasoning") and model.tier == tier:
        # The conversation (or the caller), not this step's score, chose the tier: say what did,
        # then the score that would have chosen otherwise.
        return f"{tool}; {model.model} on {on} ({tier_choice.reason}); on its own, {score}."
    return f"{tool}; {model.model} on {on}, {score}."
