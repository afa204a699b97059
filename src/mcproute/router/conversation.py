"""Stickiness across the steps of one conversation — pure functions of (state, scores, policy).

The raw router scores one step; this module decides how much the conversation's history should
override that score, and says so in one sentence each time:

- **Tier hysteresis.** Escalate at once when the reasoning score crosses the threshold. Step down
  only after `policy.step_down_after` consecutive *confident* fast steps — scores below the
  threshold by more than the switch cost (`policy.switch_cost`, the price of losing the provider's
  prompt cache) — and never while a tool call awaits its result (the streak is frozen, not reset,
  until the loop ends). When the conversation has been idle longer than a provider keeps a prompt
  cache (`CACHE_TTL`), there is no cache to lose, so the switch cost is waived.
- **Model and deployment.** The cheapest adequate available model of the tier; but a conversation
  keeps its model while it stays adequate and its cache is warm, and keeps its deployment
  (rendezvous hashing over deployment keys, so the choice survives deployments being added)
  unless that deployment is unhealthy, and then fails over only to a healthy one.
- **Tool and server affinity.** A bounded additive boost for candidates from the servers (and the
  very tools) the conversation has been using — only for candidates already within reach of the
  leader, so an irrelevant tool never climbs because of history.
- **Cascade.** A fast model whose tool call fails the tool's input schema (or names an unknown
  tool) escalates: at once within the step (`cascade`) and for the next step (`advance` records
  `cascade_reason`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace

from mcproute.config import RoutingConfig
from mcproute.errors import ModelToolCallError
from mcproute.router.model_choice import (  # re-exported: they lived here before
    CACHE_TTL as CACHE_TTL,
    ModelChoice as ModelChoice,
    blended_price as blended_price,
    cache_warm as cache_warm,
    cheapness as cheapness,
    choose_deployment as choose_deployment,
    choose_model as choose_model,
    choose_replica as choose_replica,
    rendezvous as rendezvous,
)
from mcproute.router.step import Candidate, ConversationState, Decision, ModelSpec, StepHints, Tier

MAX_TOOLS = 8  # tools/servers remembered per conversation
MAX_TEXTS = 3  # step texts remembered
TEXT_CHARS = 300  # each remembered text and the last tool result are cut to this
AFFINITY_WEIGHT = 0.15  # boost at full affinity, as a share of the candidates' score spread
AFFINITY_GATE = 0.5  # only candidates within this share of the spread below the leader are boosted

# ---------------------------------------------------------------- tier


@dataclass(frozen=True, slots=True)
class TierChoice:
    tier: Tier
    held: bool  # False: the conversation changed tier (or was forced to)
    reason: str  # one sentence
    fast_streak: int  # carried into the state by `advance`


def choose_tier(
    state: ConversationState | None,
    score: float,
    threshold: float,
    policy: RoutingConfig,
    *,
    hints: StepHints | None = None,
    warm: bool = True,
) -> TierChoice:
    """Apply hysteresis to a raw reasoning score (higher = more reason for the reasoning tier)."""
    prev = state.tier if state is not None else None
    streak = state.fast_streak if state is not None else 0
    raw: Tier = "reasoning" if score >= threshold else "fast"
    if hints is not None and hints.tier_override is not None:
        tier = hints.tier_override
        held = prev is None or prev == tier
        return TierChoice(tier, held, f"the caller asked for the {tier} tier", 0)
    if prev is None:
        return TierChoice(
            raw, True, f"new conversation: starts on {raw} (score {score:.2f} vs threshold {threshold:.2f})", 0
        )
    if state is not None and state.cascade_reason and prev == "fast":
        return TierChoice("reasoning", False, f"escalated to reasoning because {state.cascade_reason}", 0)
    if prev == "fast":
        if raw == "reasoning":
            return TierChoice(
                "reasoning", False, f"escalated at once: score {score:.2f} crossed the threshold {threshold:.2f}", 0
            )
        return TierChoice("fast", True, f"kept fast: score {score:.2f} is below the threshold {threshold:.2f}", 0)
    # On the reasoning tier: step down only with a margin, k times in a row, outside a tool loop.
    margin = policy.switch_cost if warm else 0.0
    k = policy.step_down_after
    if state is not None and state.awaiting_tool_result:
        return TierChoice(
            "reasoning",
            True,
            "kept reasoning: a tool call is awaiting its result, and the tier never changes mid tool loop",
            streak,
        )
    if score < threshold - margin:
        streak += 1
        if streak >= k:
            why = (
                f"score {score:.2f} < threshold {threshold:.2f} - switch cost {margin:.2f}"
                if warm
                else f"score {score:.2f} < threshold {threshold:.2f}, prompt cache already cold"
            )
            return TierChoice(
                "fast", False, f"stepped down to fast after {k} consecutive confident fast step{_s(k)} ({why})", 0
            )
        return TierChoice(
            "reasoning", True, f"kept reasoning: {streak} of {k} confident fast step{_s(k)} needed to step down", streak
        )
    if score < threshold:
        return TierChoice(
            "reasoning",
            True,
            f"kept reasoning: score {score:.2f} is below the threshold but within the switch cost {margin:.2f}",
            0,
        )
    return TierChoice(
        "reasoning", True, f"kept reasoning: score {score:.2f} is at or above the threshold {threshold:.2f}", 0
    )


# ---------------------------------------------------------------- tool and server affinity


@dataclass(frozen=True, slots=True)
class AffinityResult:
    candidates: tuple[Candidate, ...]  # re-ranked, boosted scores
    boosts: dict[str, float]  # tool name -> boost added
    held: bool
    reason: str  # "" when the conversation has no affinity yet


def apply_affinity(
    candidates: Sequence[Candidate],
    state: ConversationState | None,
    server_of: Callable[[str], str | None],
    *,
    weight: float = AFFINITY_WEIGHT,
    gate: float = AFFINITY_GATE,
) -> AffinityResult:
    """Boost candidates from the servers/tools this conversation has been using, within bounds.

    The boost is `weight * spread * affinity`, where `spread` is the leader's lead over the last
    candidate (so it is scale-free: retrieval scores may be any real numbers) and `affinity` in
    [0, 1] mixes how much of the recent history used the candidate's server (2/3) and whether
    the very tool was used (1/3). Only candidates within `gate * spread` of the leader qualify.
    """
    cands = tuple(candidates)
    servers = [s for s in (state.servers_used if state else ()) if s]
    tools = set(state.tools_used if state else ())
    if not cands or (not servers and not tools):
        return AffinityResult(cands, {}, True, "")
    # The server the conversation was on at its last step: "kept"/"left" are about that move
    # (the boost itself still weighs the whole recent history).
    home = servers[-1] if servers else None
    top, low = cands[0].score, cands[-1].score
    spread = top - low if top > low else max(abs(top), 1.0) * 0.1
    boosts: dict[str, float] = {}
    for c in cands:
        if c.score < top - gate * spread:
            continue
        server = server_of(c.name)
        share = servers.count(server) / len(servers) if servers and server else 0.0
        affinity = (2.0 * share + (1.0 if c.name in tools else 0.0)) / 3.0
        if affinity > 0:
            boosts[c.name] = round(weight * spread * affinity, 6)
    order = sorted(range(len(cands)), key=lambda i: (-(cands[i].score + boosts.get(cands[i].name, 0.0)), i))
    ranked = tuple(Candidate(cands[i].name, round(cands[i].score + boosts.get(cands[i].name, 0.0), 6)) for i in order)
    if home is None:
        return AffinityResult(ranked, boosts, True, "")
    lead_server = server_of(ranked[0].name)
    if lead_server == home:
        return AffinityResult(ranked, boosts, True, f"kept {home}'s tools first")
    home_tools = [c.name for c in cands if server_of(c.name) == home]
    if not home_tools:
        return AffinityResult(ranked, boosts, False, f"left {home}'s tools: none of them fits this step")
    return AffinityResult(
        ranked,
        boosts,
        False,
        f"left {home}'s tools: {ranked[0].name} is more relevant than {home_tools[0]} even after the affinity boost",
    )


# ---------------------------------------------------------------- outcome and transition


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What happened after a decision was carried out (built by the executor, not the router)."""

    text: str = ""  # the step's text, remembered for multi-turn retrieval
    tool_called: str | None = None
    server: str | None = None
    tool_error: bool = False  # the downstream tool returned an error / failed
    validation_error: str = ""  # the model's call failed the schema or named an unknown tool: why
    result_text: str = ""
    awaiting_tool_result: bool = False  # a call was made whose result the model has not seen yet


def outcome_from_error(exc: ModelToolCallError, *, text: str = "", server: str | None = None) -> StepOutcome:
    return StepOutcome(text=text, tool_called=exc.tool, server=server, validation_error=str(exc))


def _push(items: tuple[str, ...], item: str | None, limit: int) -> tuple[str, ...]:
    return items if not item else (*items, item)[-limit:]


def advance(
    state: ConversationState | None, decision: Decision, outcome: StepOutcome, *, now: float | None = None
) -> ConversationState:
    """The conversation's state after `decision` was carried out with `outcome` (bounded)."""
    base = (
        state
        if state is not None and state.conversation_id == decision.conversation_id
        else ConversationState(decision.conversation_id)
    )
    failed = bool(outcome.validation_error) or outcome.tool_error
    cascade_reason = ""
    if outcome.validation_error and decision.tier == "fast":
        who = f"the fast model {decision.model}" if decision.model else "the fast model"
        cascade_reason = f"{who}'s tool call was invalid: {outcome.validation_error}"[:TEXT_CHARS]
    return replace(
        base,
        tier=decision.tier,
        model=decision.model,
        deployment=decision.deployment,
        step_count=base.step_count + 1,
        fast_streak=decision.fast_streak,
        awaiting_tool_result=outcome.awaiting_tool_result,
        tools_used=_push(base.tools_used, None if outcome.validation_error else outcome.tool_called, MAX_TOOLS),
        servers_used=_push(base.servers_used, None if outcome.validation_error else outcome.server, MAX_TOOLS),
        recent_texts=_push(base.recent_texts, outcome.text[:TEXT_CHARS], MAX_TEXTS),
        last_result=outcome.result_text[:TEXT_CHARS] if outcome.tool_called else base.last_result,
        tool_errors=base.tool_errors + 1 if failed else (0 if outcome.tool_called else base.tool_errors),
        last_step_id=decision.step_id,
        updated_at=base.updated_at if now is None else now,
        cascade_reason=cascade_reason,
    )


def record_proxied_call(
    state: ConversationState | None,
    conversation_id: str,
    tool: str,
    server: str | None,
    *,
    error: bool = False,
    result_text: str = "",
    now: float | None = None,
) -> ConversationState:
    """A client called a namespaced tool directly: remember it so the next route knows."""
    base = (
        state if state is not None and state.conversation_id == conversation_id else ConversationState(conversation_id)
    )
    return replace(
        base,
        awaiting_tool_result=True,  # the client's model sees the result on its next step
        tools_used=_push(base.tools_used, tool, MAX_TOOLS),
        servers_used=_push(base.servers_used, server, MAX_TOOLS),
        last_result=result_text[:TEXT_CHARS],
        tool_errors=base.tool_errors + 1 if error else 0,
        updated_at=base.updated_at if now is None else now,
    )


def cascade(
    decision: Decision,
    error: ModelToolCallError | str,
    models: Sequence[ModelSpec],
    state: ConversationState | None,
    policy: RoutingConfig,
    *,
    unhealthy: Collection[str] = (),
) -> Decision:
    """Escalate within the step: the fast model's tool call was invalid, retry on reasoning."""
    why = str(error)
    if decision.tier != "fast":
        return decision
    choice = choose_model(
        "reasoning", models, state, policy, conversation_id=decision.conversation_id, unhealthy=unhealthy
    )
    if choice.model is None or choice.tier != "reasoning":
        return replace(
            decision,
            sticky_held=False,
            sticky_reason=f"could not escalate after an invalid tool call ({why}): {choice.reason}",
        )
    sentence = (
        f"cascade: {decision.model or 'the fast model'}'s tool call was invalid ({why}); escalated to {choice.model}"
    )
    return replace(
        decision,
        tier="reasoning",
        model=choice.model,
        deployment=choice.deployment,
        model_alternatives=choice.alternatives,
        signals={**decision.signals, "cascade": 1.0},
        reason=f"{decision.reason.rstrip('.')}; then {sentence}.",
        sticky_held=False,
        sticky_reason=sentence,
        fast_streak=0,
    )


def _s(n: int) -> str:
    """The plural ending for a count (a reason never says "1 steps")."""
    return "" if n == 1 else "s"
