"""mcproute's metrics, recorded through the OpenTelemetry metrics API (no SDK import here).

Names follow the GenAI and MCP semantic conventions where they define one
(`gen_ai.client.operation.duration`, `gen_ai.client.token.usage`, `mcp.client.operation.duration`);
the routing-specific ones are `mcproute.*`. `telemetry.setup()` builds the SDK MeterProvider and
makes it current with `use_provider`; with none current, the global provider is used (a no-op
unless the embedding application installed one), so recording is always safe.

Why a provider stack rather than `metrics.set_meter_provider`: the global can be set only once per
process, yet tests and reloads build fresh pipelines (the same reason as the tracer's switchable
provider in setup.py). Instruments are created once per provider and cached.

Gauges (circuit-breaker state, downstream health) are observed, not recorded: a component that
owns that state registers a source with `add_source` for its lifetime, and the observable gauges'
callbacks read every registered source at collection time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Observation

from mcproute.router.step import Decision
from mcproute.telemetry import semconv as sc

METER_NAME: Final = "mcproute"

# Semantic-convention metrics (GenAI / MCP).
GEN_AI_CLIENT_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
GEN_AI_CLIENT_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
MCP_CLIENT_OPERATION_DURATION: Final = "mcp.client.operation.duration"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"

# mcproute's own.
DECISION_KIND: Final = "mcproute.decision.kind"
DECISIONS: Final = "mcproute.decisions"
DECISION_DURATION: Final = "mcproute.decision.duration"
COST: Final = "mcproute.cost.usd"
CIRCUIT_STATE: Final = "mcproute.circuit.state"
SERVER_HEALTHY: Final = "mcproute.server.healthy"

# Buckets for seconds-valued histograms: the SDK's default boundaries (0, 5, 10, ... 10000) are
# for milliseconds and would put every model call and tool call into the first two buckets. These
# are the GenAI conventions' advice for operation duration.
DURATION_BUCKETS: Final = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
# The router's own compute time is sub-millisecond to a few milliseconds.
DECISION_BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
# Token counts: the conventions' advice (powers of 4).
TOKEN_BUCKETS: Final = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)

# A breaker's state as a number, so one gauge per deployment can be graphed and alerted on.
CIRCUIT_VALUES: Final = {"closed": 0, "half-open": 1, "half_open": 1, "open": 2, "unavailable": 3}

Source = Callable[[], Iterable[tuple[float, dict[str, Any]]]]


@dataclass(frozen=True)
class _Instruments:
    operation_duration: Histogram
    token_usage: Histogram
    tool_duration: Histogram
    decisions: Counter
    decision_duration: Histogram
    cost: Counter


_lock = threading.Lock()
_providers: list[metrics.MeterProvider] = []
_cache: dict[int, tuple[metrics.MeterProvider, _Instruments]] = {}
_sources: dict[str, list[Source]] = {CIRCUIT_STATE: [], SERVER_HEALTHY: []}


def _observe(kind: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def callback(_: CallbackOptions) -> Iterable[Observation]:
        out: list[Observation] = []
        for source in list(_sources[kind]):
            out.extend(Observation(value, attrs) for value, attrs in source())
        return out

    return callback


def _build(provider: metrics.MeterProvider) -> _Instruments:
    meter = provider.get_meter(METER_NAME)
    meter.create_observable_gauge(
        CIRCUIT_STATE,
        [_observe(CIRCUIT_STATE)],
        unit="1",
        description="Circuit breaker per model deployment: 0 closed, 1 half-open, 2 open, 3 unavailable",
    )
    meter.create_observable_gauge(
        SERVER_HEALTHY,
        [_observe(SERVER_HEALTHY)],
        unit="1",
        description="Downstream MCP server health: 1 healthy, 0 not",
    )
    return _Instruments(
        operation_duration=meter.create_histogram(
            GEN_AI_CLIENT_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration (one provider attempt)",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        ),
        token_usage=meter.create_histogram(
            GEN_AI_CLIENT_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        ),
        tool_duration=meter.create_histogram(
            MCP_CLIENT_OPERATION_DURATION,
            unit="s",
            description="Duration of a tools/call to a downstream MCP server",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        ),
        decisions=meter.create_counter(
            DECISIONS, unit="{decision}", description="Routing decisions by tier, model and kind"
        ),
        decision_duration=meter.create_histogram(
            DECISION_DURATION,
            unit="s",
            description="The router's own compute time per decision",
            explicit_bucket_boundaries_advisory=DECISION_BUCKETS,
        ),
        cost=meter.create_counter(
            COST, unit="{USD}", description="Provider cost in US dollars, from the configured prices"
        ),
    )


def _instruments() -> _Instruments:
    provider = _providers[-1] if _providers else metrics.get_meter_provider()
    cached = _cache.get(id(provider))
    if cached is not None and cached[0] is provider:
        return cached[1]
    with _lock:
        cached = _cache.get(id(provider))
        if cached is None or cached[0] is not provider:
            cached = _cache[id(provider)] = (provider, _build(provider))
        return cached[1]


def use_provider(provider: metrics.MeterProvider) -> Callable[[], None]:
    """Make `provider` the current one (until the returned function is called). Its instruments are
    built at once, so the gauges are there from the first scrape, before anything was recorded."""
    with _lock:
        _providers.append(provider)
        _cache[id(provider)] = (provider, _build(provider))

    def remove() -> None:
        with _lock:
            _providers[:] = [p for p in _providers if p is not provider]
            _cache.pop(id(provider), None)

    return remove


@contextmanager
def source(kind: str, fn: Source) -> Iterator[None]:
    """Register a gauge source (`CIRCUIT_STATE` or `SERVER_HEALTHY`) while the block runs."""
    _sources[kind].append(fn)
    try:
        yield
    finally:
        _sources[kind].remove(fn)


# ---------------------------------------------------------------- recording


def record_decision(decision: Decision, kind: str | None = None) -> None:
    """One routing decision. Its kind: `sticky` (the conversation's tier and model held),
    `scored` (decided afresh), `no_model` (nothing could run it) or, passed in, `cascade`."""
    if kind is None:
        kind = "no_model" if decision.model is None else "sticky" if decision.sticky_held else "scored"
    inst = _instruments()
    inst.decisions.add(
        1, {sc.DECISION_TIER: decision.tier, sc.DECISION_MODEL: decision.model or "none", DECISION_KIND: kind}
    )
    if kind != "cascade":  # a cascade escalates an answered step: counted, but the router did not run again
        inst.decision_duration.record(max(0.0, decision.latency_ms) / 1000.0, {sc.DECISION_TIER: decision.tier})


def record_attempts(attempts: Sequence[Any]) -> None:
    """Duration, tokens and cost of provider attempts (`providers.Attempt`); skipped ones made no call."""
    inst = _instruments()
    for a in attempts:
        if a.outcome == "skipped":
            continue
        attrs: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
            sc.GEN_AI_PROVIDER_NAME: a.provider,
            sc.GEN_AI_REQUEST_MODEL: a.upstream_model or a.model,
            sc.DECISION_TIER: a.tier,
            sc.DECISION_MODEL: a.model,
        }
        if a.outcome == "ok":
            attrs[sc.GEN_AI_RESPONSE_MODEL] = a.upstream_model or a.model
        else:
            attrs[sc.ERROR_TYPE] = a.error_type or a.outcome
        inst.operation_duration.record(max(0.0, a.duration), attrs)
        if a.outcome != "ok":
            continue
        base = {
            k: attrs[k]
            for k in (
                sc.GEN_AI_OPERATION_NAME,
                sc.GEN_AI_PROVIDER_NAME,
                sc.GEN_AI_REQUEST_MODEL,
                sc.GEN_AI_RESPONSE_MODEL,
            )
        }
        inst.token_usage.record(a.input_tokens, {**base, GEN_AI_TOKEN_TYPE: "input"})
        inst.token_usage.record(a.output_tokens, {**base, GEN_AI_TOKEN_TYPE: "output"})
        if a.cost_usd:
            inst.cost.add(float(a.cost_usd), {sc.DECISION_TIER: a.tier, sc.DECISION_MODEL: a.model})


def record_tool_call(server: str, tool: str, seconds: float, error_type: str | None) -> None:
    """One `tools/call` to a downstream server, as the gateway (the MCP client) saw it."""
    attrs: dict[str, Any] = {sc.MCP_METHOD_NAME: sc.METHOD_TOOLS_CALL, sc.GEN_AI_TOOL_NAME: tool, sc.SERVER: server}
    if error_type:
        attrs[sc.ERROR_TYPE] = error_type
    _instruments().tool_duration.record(max(0.0, seconds), attrs)
