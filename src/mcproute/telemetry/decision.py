"""A `Decision` as span attributes: flat, typed, and bounded so one step cannot blow up a span.

Alternatives and signals are JSON strings (OTel attributes cannot nest) capped both in count and
in characters; a capped value ends with a `"…"` marker entry so a reader can tell it was cut.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.trace import Span

from mcproute.router.step import Candidate, Decision
from mcproute.telemetry import semconv as sc

MAX_ALTERNATIVES = 8
MAX_SIGNALS = 24
MAX_NAME_CHARS = 120
MAX_JSON_CHARS = 2048
MAX_REASON_CHARS = 512
TRUNCATED = "…"


def _num(x: float) -> float | None:
    return round(float(x), 4) if math.isfinite(float(x)) else None


def _short(s: str, limit: int = MAX_NAME_CHARS) -> str:
    return s if len(s) <= limit else s[: limit - 1] + TRUNCATED


def bounded_candidates(cands: Sequence[Candidate], limit: int = MAX_ALTERNATIVES) -> str:
    """`[[name, score], ...]`, best first, at most `limit` entries and MAX_JSON_CHARS characters."""
    items: list[Any] = [[_short(c.name), _num(c.score)] for c in cands[:limit]]
    if len(cands) > limit:
        items.append(TRUNCATED)
    return _fit(items)


def bounded_signals(signals: Mapping[str, float], limit: int = MAX_SIGNALS) -> str:
    """`{name: value}` in the decision's own order, at most `limit` entries and MAX_JSON_CHARS chars."""
    keys = list(signals)[:limit]
    out: dict[str, Any] = {
        _short(str(k)): _num(signals[k]) if isinstance(signals[k], (int, float)) else _short(str(signals[k]))
        for k in keys
    }
    if len(signals) > limit:
        out[TRUNCATED] = len(signals) - limit
    text = json.dumps(out, ensure_ascii=False, separators=(",", ":"))
    while len(text) > MAX_JSON_CHARS and len(out) > 1:
        out.pop(next(k for k in reversed(list(out)) if k != TRUNCATED))
        out[TRUNCATED] = out.get(TRUNCATED, 0) + 1
        text = json.dumps(out, ensure_ascii=False, separators=(",", ":"))
    return text


def _fit(items: list[Any]) -> str:
    text = json.dumps(items, ensure_ascii=False, separators=(",", ":"))
    while len(text) > MAX_JSON_CHARS and len(items) > 1:
        items = [x for x in items if x != TRUNCATED][:-1] + [TRUNCATED]
        text = json.dumps(items, ensure_ascii=False, separators=(",", ":"))
    return text


def decision_attributes(decision: Decision) -> dict[str, Any]:
    """Every decision attribute with its semconv name; None values are left out."""
    attrs: dict[str, Any] = {
        sc.GEN_AI_CONVERSATION_ID: decision.conversation_id,
        sc.STEP_ID: decision.step_id,
        sc.DECISION_TIER: decision.tier,
        sc.DECISION_ALTERNATIVES: bounded_candidates(decision.alternatives),
        sc.DECISION_MODEL_ALTERNATIVES: bounded_candidates(decision.model_alternatives),
        sc.DECISION_SIGNALS: bounded_signals(decision.signals),
        sc.DECISION_REASON: _short(decision.reason, MAX_REASON_CHARS),
        sc.STICKY_HELD: bool(decision.sticky_held),
        sc.STICKY_REASON: _short(decision.sticky_reason, MAX_REASON_CHARS),
        sc.POLICY_VERSION: decision.policy_version,
        sc.DECISION_LATENCY_MS: _num(decision.latency_ms),
        sc.DECISION_REASONING_SCORE: _num(decision.reasoning_score),
        sc.DECISION_THRESHOLD: _num(decision.threshold),
    }
    if decision.tool is not None:
        attrs[sc.DECISION_TOOL] = decision.tool
        attrs[sc.DECISION_TOOL_SCORE] = _num(decision.tool_score)
    if decision.model is not None:
        attrs[sc.DECISION_MODEL] = decision.model
    deployment = getattr(decision, "deployment", None)  # added to Decision after this module
    if deployment:
        attrs[sc.DEPLOYMENT] = deployment
    return {k: v for k, v in attrs.items() if v is not None}


def record_decision(span: Span, decision: Decision) -> None:
    """Set the decision on the route span (`spans.route_span`)."""
    span.set_attributes(decision_attributes(decision))


def record_client_choice(
    span: Span, tool: str, server: str, reason: str = "the client called this tool by name"
) -> None:
    """A proxied call the client chose itself: its 'decision' is only the backend choice."""
    span.set_attributes(
        {
            sc.DECISION_SOURCE: sc.SOURCE_CLIENT,
            sc.DECISION_TOOL: tool,
            sc.SERVER: server,
            sc.DECISION_REASON: _short(reason, MAX_REASON_CHARS),
        }
    )


def record_step_cost(span: Span, cost_usd: float) -> None:
    """The whole step's cost (sum of its attempts), on the route span."""
    span.set_attribute(sc.COST_USD, float(cost_usd))
