"""Spans (from our JSONL file or Jaeger) turned into per-conversation decision timelines, for
`mcproute traces`: one row per step with every decision field the route span carries, what the
step asked (when content capture is on) and how it turned out."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcproute.telemetry import semconv as sc

if TYPE_CHECKING:  # at run time reader.py imports this module (it re-exports the timelines)
    from mcproute.telemetry.reader import SpanRecord


@dataclass(frozen=True, slots=True)
class TimelineRow:
    step: str
    trace_id: str
    start_ns: int
    tool: str | None
    model: str | None
    tier: str | None
    reason: str | None
    latency_ms: float
    cost_usd: float | None
    sticky_held: bool | None
    source: str | None
    attempts: int
    errors: tuple[str, ...] = ()
    sticky_reason: str | None = None  # what held (or broke) the conversation's tier, model and tools
    # The rest of the decision record, as the route span carries it (None: not recorded).
    tool_score: float | None = None
    alternatives: tuple[tuple[str, float | None], ...] = ()  # tools, best first (the chosen one included)
    model_alternatives: tuple[tuple[str, float | None], ...] = ()
    signals: Mapping[str, Any] = field(default_factory=dict)
    reasoning_score: float | None = None
    threshold: float | None = None
    policy_version: str | None = None
    decision_latency_ms: float | None = None  # the router's own compute time
    deployment: str | None = None
    dry_run: bool | None = None
    text: str | None = None  # the step's request text: only with telemetry.capture_content
    tool_calls: tuple[str, ...] = ()  # tools actually called under the step
    outcome: str = "ok"  # "ok", or what failed: "tool error", "error: <type>"
    # The reply cache (runtime/reply_cache.py): "exact" | "similar" (a hit), "miss", or None (not
    # consulted); why it was bypassed; the hit's cosine and what it saved.
    cache: str | None = None
    cache_bypass: str | None = None
    cache_similarity: float | None = None
    cache_saved_usd: float | None = None


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    conversation_id: str
    steps: int
    first_ns: int
    last_ns: int
    tiers: tuple[str, ...]
    cost_usd: float
    services: tuple[str, ...] = field(default=())


def _by_trace(spans: Iterable[SpanRecord]) -> dict[str, list[SpanRecord]]:
    out: dict[str, list[SpanRecord]] = {}
    for s in spans:
        out.setdefault(s.trace_id, []).append(s)
    return out


def _descendants(root: SpanRecord, trace_spans: Sequence[SpanRecord]) -> list[SpanRecord]:
    children: dict[str | None, list[SpanRecord]] = {}
    for s in trace_spans:
        children.setdefault(s.parent_span_id, []).append(s)
    out, todo = [], [root.span_id]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c.span_id)
    return out


def _ranked(value: Any) -> tuple[tuple[str, float | None], ...]:
    """`[[name, score], ..., "…"]` (a bounded JSON string) as pairs; the cut marker is dropped."""
    try:
        items = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        return ()
    if not isinstance(items, list):
        return ()
    return tuple(
        (str(x[0]), float(x[1]) if isinstance(x[1], (int, float)) else None)
        for x in items
        if isinstance(x, list) and len(x) == 2
    )


def _signals(value: Any) -> dict[str, Any]:
    try:
        out = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        return {}
    return dict(out) if isinstance(out, dict) else {}


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _text(a: Mapping[str, Any]) -> str | None:
    return _str(a.get(sc.STEP_TEXT))


def _outcome(errors: Sequence[str], tools: Sequence[SpanRecord], route: SpanRecord) -> str:
    if any(t.attributes.get(sc.TOOL_IS_ERROR) is True for t in tools):
        return "tool error"
    if errors:
        return "error: " + ", ".join(dict.fromkeys(errors))
    if route.status == "ERROR":
        return "error: " + (route.status_description or str(route.attributes.get(sc.ERROR_TYPE) or "unknown"))
    return "ok"


def timeline(spans: Iterable[SpanRecord], conversation_id: str) -> list[TimelineRow]:
    """One row per route span of the conversation, oldest first."""
    traces = _by_trace(spans)
    rows: list[TimelineRow] = []
    for trace_spans in traces.values():
        by_id = {s.span_id: s for s in trace_spans}
        for route in trace_spans:
            if route.name != sc.ROUTE_SPAN_NAME or route.conversation_id != conversation_id:
                continue
            below = _descendants(route, trace_spans)
            chats = [s for s in below if s.attributes.get(sc.GEN_AI_OPERATION_NAME) == sc.OP_CHAT]
            tools = [s for s in below if s.name.startswith(sc.TOOLS_CALL_SPAN_PREFIX + " ") and s.kind == "CLIENT"]
            costs = [
                float(c.attributes[sc.COST_USD])
                for c in chats
                if isinstance(c.attributes.get(sc.COST_USD), (int, float))
            ]
            cost = route.attributes.get(sc.COST_USD)
            # Latency the client saw: the enclosing server span when there is one, else the route span.
            outer = route
            while outer.parent_span_id and outer.parent_span_id in by_id:
                outer = by_id[outer.parent_span_id]
            a = route.attributes
            tool = a.get(sc.DECISION_TOOL) or (tools[0].attributes.get(sc.GEN_AI_TOOL_NAME) if tools else None)
            errors = tuple(str(s.attributes[sc.ERROR_TYPE]) for s in [*chats, *tools] if sc.ERROR_TYPE in s.attributes)
            rows.append(
                TimelineRow(
                    step=str(a.get(sc.STEP_ID, route.span_id)),
                    trace_id=route.trace_id,
                    start_ns=route.start_ns,
                    tool=tool,
                    model=a.get(sc.DECISION_MODEL),
                    tier=a.get(sc.DECISION_TIER),
                    reason=a.get(sc.DECISION_REASON),
                    latency_ms=outer.duration_ms if outer.end_ns >= route.end_ns else route.duration_ms,
                    cost_usd=float(cost) if isinstance(cost, (int, float)) else (sum(costs) if costs else None),
                    sticky_held=a.get(sc.STICKY_HELD) if isinstance(a.get(sc.STICKY_HELD), bool) else None,
                    source=a.get(sc.DECISION_SOURCE),
                    attempts=len(chats),
                    errors=errors,
                    sticky_reason=a.get(sc.STICKY_REASON),
                    tool_score=_num(a.get(sc.DECISION_TOOL_SCORE)),
                    alternatives=_ranked(a.get(sc.DECISION_ALTERNATIVES)),
                    model_alternatives=_ranked(a.get(sc.DECISION_MODEL_ALTERNATIVES)),
                    signals=_signals(a.get(sc.DECISION_SIGNALS)),
                    reasoning_score=_num(a.get(sc.DECISION_REASONING_SCORE)),
                    threshold=_num(a.get(sc.DECISION_THRESHOLD)),
                    policy_version=_str(a.get(sc.POLICY_VERSION)),
                    decision_latency_ms=_num(a.get(sc.DECISION_LATENCY_MS)),
                    deployment=_str(a.get(sc.DEPLOYMENT))
                    or next((d for c in chats if (d := _str(c.attributes.get(sc.DEPLOYMENT)))), None),
                    dry_run=a.get("mcproute.dry_run") if isinstance(a.get("mcproute.dry_run"), bool) else None,
                    text=_text(a),
                    tool_calls=tuple(
                        str(t.attributes.get(sc.GEN_AI_TOOL_NAME) or t.name.split(" ", 1)[1])
                        for t in sorted(tools, key=lambda t: t.start_ns)
                    ),
                    outcome=_outcome(errors, tools, route),
                    cache=_cache(a),
                    cache_bypass=_str(a.get(sc.CACHE_BYPASS)),
                    cache_similarity=_num(a.get(sc.CACHE_SIMILARITY)),
                    cache_saved_usd=_num(a.get(sc.CACHE_SAVED_USD)),
                )
            )
    rows.sort(key=lambda r: r.start_ns)
    return rows


def _cache(a: Mapping[str, Any]) -> str | None:
    hit = a.get(sc.CACHE_HIT)
    if not isinstance(hit, bool):
        return None
    return _str(a.get(sc.CACHE_KIND)) or "exact" if hit else "miss"


def conversations(spans: Iterable[SpanRecord]) -> list[ConversationSummary]:
    """Every conversation with at least one route span, most recent first."""
    spans = list(spans)
    ids = {s.conversation_id for s in spans if s.name == sc.ROUTE_SPAN_NAME and s.conversation_id}
    out = []
    for cid in ids:
        rows = timeline(spans, cid)
        if not rows:
            continue
        tiers = tuple(dict.fromkeys(r.tier for r in rows if r.tier))
        services = tuple(sorted({s.service for s in spans if s.conversation_id == cid and s.service}))
        out.append(
            ConversationSummary(
                cid,
                len(rows),
                rows[0].start_ns,
                rows[-1].start_ns,
                tiers,
                sum(r.cost_usd or 0.0 for r in rows),
                services,
            )
        )
    out.sort(key=lambda c: c.last_ns, reverse=True)
    return out
