"""Which model and deployment serve a step: cheapest adequate, sticky while the prompt cache is warm.

Pure functions, used by `conversation.choose_tier`'s caller (`decide()`): the cheapest adequate
available model of the tier; but a conversation keeps its model while it stays adequate and its
provider-side prompt cache is warm (`CACHE_TTL`), and keeps its deployment (rendezvous hashing over
deployment keys, so the choice survives deployments being added) unless that deployment is
unhealthy, and then fails over only to a healthy one. `choose_replica` does the same for the
replicas of an HTTP downstream server.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from mcproute.config import RoutingConfig
from mcproute.router.step import Candidate, ConversationState, ModelSpec, Tier

CACHE_TTL = 300.0  # seconds; provider prompt caches live ~5 min (Anthropic default, OpenAI minimum)
OTHER_TIER: dict[Tier, Tier] = {"reasoning": "fast", "fast": "reasoning"}


def cache_warm(state: ConversationState | None, now: float) -> bool:
    return state is not None and state.model is not None and 0.0 <= now - state.updated_at < CACHE_TTL


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
        other = [m for m in by_price if m.tier == OTHER_TIER[tier]]
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
