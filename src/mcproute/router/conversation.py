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

import hashlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace

from mcproute.config import RoutingConfig
from mcproute.errors import ModelToolCallError
from mcproute.router.step import Candidate, ConversationState, Decision, ModelSpec, StepHints, Tier

CACHE_TTL = 300.0  # seconds; provider prompt caches live ~5 min (Anthropic default, OpenAI minimum)
MAX_TOOLS = 8  # tools/servers remembered per conversation
MAX_TEXTS = 3  # step texts remembered
TEXT_CHARS = 300  # each remembered text and the last tool result are cut to this
AFFINITY_WEIGHT = 0.15  # boost at full affinity, as a share of the candidates' score spread
AFFINITY_GATE = 0.5  # only candidates within this share of the spread below the leader are boosted

_OTHER: dict[Tier, Tier] = {"reasoning": "fast", "fast": "reasoning"}


# ---------------------------------------------------------------- tier


@dataclass(frozen=True, slots=True)
class TierChoice:
    tier: Tier
    held: bool  # False: the conversation changed tier (or was forced to)
    reason: str  # one sentence
    fast_streak: int  # carried into the state by `advance`


def cache_warm(state: ConversationState | None, now: float) -> bool:
    return state is not None and state.model is not None and 0.0 <= now - state.updated_at < CACHE_TTL


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


# ---------------------------------------------------------------- model and deployment


@dataclass(frozen=True, slots=True)
class ModelChoice:
    tier: Tier  # may differ from the asked tier (override, cross-tier fallback)
    model: str | None  # None: no adequate model is available
    deployment: str | None
    alternatives: tuple[Candidate, ...]  # adequate models, chosen first; score = cheapness
    held: bool
    reason: str


def blended_price(m: ModelSpec) -> float:
    # Agent steps are input-heavy (long context, short replies): weigh input 3:1.
    return (3.0 * m.price_input + m.price_output) / 4.0


def cheapness(m: ModelSpec) -> float:
    return round(1.0 / (1.0 + blended_price(m)), 6)


def rendezvous(conversation_id: str, keys: Sequence[str]) -> list[str]:
    """Deployment keys in this conversation's order of preference (highest random weight first).

    Rendezvous (highest-random-weight) hashing: adding or removing one deployment moves only the
    conversations that preferred it. blake2b, not `hash()`, so every process agrees.
    """

    def weight(key: str) -> bytes:
        return hashlib.blake2b(f"{conversation_id}\x00{key}".encode(), digest_size=8).digest()

    return sorted(keys, key=lambda k: (weight(k), k), reverse=True)


def choose_replica(
    conversation_id: str,
    keys: Sequence[str],
    current: str | None = None,
    unhealthy: Collection[str] = (),
    *,
    what: str = "deployment",
) -> tuple[str | None, bool, str]:
    """(key, held, reason) — keep `current` while healthy, else this conversation's preferred healthy key.

    Serves model deployments and tool-server replicas (`urls: [...]`) alike.
    """
    if not keys:
        return None, True, ""
    if current in keys and current not in unhealthy:
        return (
            current,
            True,
            f"kept {what} {current} so its prompt cache stays warm"
            if what == "deployment"
            else f"kept {what} {current}",
        )
    order = rendezvous(conversation_id, keys)
    healthy = [d for d in order if d not in unhealthy]
    if not healthy:
        # Nothing healthy to fail over to: keep the preferred one and let reliability report it.
        pick = current if current in keys else order[0]
        return pick, current is None or pick == current, f"no healthy {what}; kept {pick}"
    if current is None or current not in keys:
        return healthy[0], True, f"{what} {healthy[0]} by consistent hashing"
    return healthy[0], False, f"{what} {current} is unhealthy; failed over to {healthy[0]}"


def choose_deployment(
    conversation_id: str, model: ModelSpec, current: str | None, unhealthy: Collection[str] = ()
) -> tuple[str | None, bool, str]:
    """(deployment, held, reason) for one model: `choose_replica` over its deployment keys."""
    dep, held, reason = choose_replica(conversation_id, model.deployments, current, unhealthy)
    return dep, held, reason.replace("no healthy deployment;", f"no healthy deployment of {model.name};")


def choose_model(
    tier: Tier,
    models: Sequence[ModelSpec],
    state: ConversationState | None,
    policy: RoutingConfig,
    *,
    conversation_id: str,
    needs_tools: bool = True,
    unhealthy: Collection[str] = (),
    model_override: str | None = None,
    warm: bool = True,
) -> ModelChoice:
    """The cheapest adequate available model of `tier`, unless the conversation's own still fits."""
    adequate = [m for m in models if m.available and (m.supports_tools or not needs_tools)]
    # Cheapest first; equal prices keep configuration order (stable sort).
    by_price = sorted(adequate, key=blended_price)
    current = state.model if state is not None else None

    def done(m: ModelSpec, held: bool, reason: str) -> ModelChoice:
        same = state is not None and current == m.name
        dep, dep_held, dep_reason = choose_deployment(
            conversation_id, m, state.deployment if state is not None and same else None, unhealthy
        )
        alts = (
            m,
            *[x for x in by_price if x.tier == m.tier and x is not m],
            *[x for x in by_price if x.tier != m.tier],
        )
        reason = reason + (f"; {dep_reason}" if dep_reason and (not dep_held or same) else "")
        return ModelChoice(
            m.tier, m.name, dep, tuple(Candidate(x.name, cheapness(x)) for x in alts), held and dep_held, reason
        )

    if model_override:
        named = next((m for m in models if m.name == model_override), None)
        if named is not None and named in adequate:
            return done(named, current in (None, named.name), f"the caller asked for model {named.name}")
        # An unusable override is not fatal: say why and route normally.
        why = (
            "is not configured"
            if named is None
            else (named.unavailable_reason or "is unavailable or cannot call tools")
        )
        note = f"requested model {model_override} {why}; "
    else:
        note = ""
    in_tier = [m for m in by_price if m.tier == tier]
    if not in_tier:
        unavailable = [m for m in models if m.tier == tier and not m.available]
        listed = ", ".join(f"{m.name}: {m.unavailable_reason or 'unavailable'}" for m in unavailable)
        why = f"no adequate {tier}-tier model is available" + (f" ({listed})" if listed else "")
        other = [m for m in by_price if m.tier == _OTHER[tier]]
        if policy.cross_tier_fallback and other:
            return done(other[0], False, f"{note}{why}; fell back to {other[0].name} on the {other[0].tier} tier")
        return ModelChoice(
            tier, None, None, tuple(Candidate(x.name, cheapness(x)) for x in by_price), False, f"{note}{why}"
        )
    keep = next((m for m in in_tier if m.name == current), None)
    if keep is not None and (warm or keep is in_tier[0]):
        return done(
            keep,
            True,
            f"{note}kept model {keep.name}" + (" so its prompt cache stays warm" if keep is not in_tier[0] else ""),
        )
    cheapest = in_tier[0]
    if current is None or state is None or state.tier != tier:
        return done(cheapest, not note, f"{note}{cheapest.name} is the cheapest adequate {tier}-tier model")
    if keep is not None:  # cold cache: nothing to lose by moving to a cheaper model
        return done(
            cheapest,
            False,
            f"{note}moved from {current} to the cheaper {cheapest.name}: its prompt cache was already cold",
        )
    gone = next((m for m in models if m.name == current), None)
    why = "is no longer configured" if gone is None else (gone.unavailable_reason or "is unavailable")
    return done(cheapest, False, f"{note}model {current} {why}; moved to {cheapest.name}")


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
