"""The engine's live state as metric gauges: each deployment's circuit breaker, each server's health.

Read at collection time (a scrape of `/metrics` or an OTLP export), from the same views `GET
/status` shows, so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from mcproute.telemetry import metrics, semconv as sc

if TYPE_CHECKING:
    from mcproute.runtime.engine import Engine


@contextmanager
def observed(engine: Engine) -> Iterator[None]:
    """Register the engine's gauge sources for the block's duration."""

    def circuits() -> Iterable[tuple[float, dict[str, Any]]]:
        if engine.pool is None:
            return []
        return [
            (
                float(metrics.CIRCUIT_VALUES.get(d.circuit, 3)),
                {sc.DECISION_MODEL: m.name, sc.DECISION_TIER: m.tier, sc.DEPLOYMENT: d.key},
            )
            for m in engine.pool.status()
            for d in m.deployments
        ]

    def servers() -> Iterable[tuple[float, dict[str, Any]]]:
        return [
            (1.0 if h.state == "healthy" else 0.0, {sc.SERVER: name}) for name, h in engine.gateway.health().items()
        ]

    with ExitStack() as stack:
        stack.enter_context(metrics.source(metrics.CIRCUIT_STATE, circuits))
        stack.enter_context(metrics.source(metrics.SERVER_HEALTHY, servers))
        yield
