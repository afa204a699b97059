"""Status rows for `mcproute tools`: per model its tier and availability, per deployment its
circuit, consecutive failures, time to the next probe and calls in flight — the cool-down state
LiteLLM users cannot see, made visible.

Model states:
    available    at least one deployment can take a call now, none is open
    degraded     some deployments are open or cooling off after 429; others take calls
    down         every deployment is open or cooling off (calls fail over to other models)
    unavailable  cannot be called at all (missing environment variable, bad script)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from mcproute.providers.reliability import ModelEntry

ModelState = Literal["available", "degraded", "down", "unavailable"]


@dataclass(frozen=True, slots=True)
class DeploymentStatus:
    key: str
    endpoint: str  # host[:port] only: never a path with a key in it
    upstream_model: str
    circuit: str  # closed | open | half-open | unavailable
    consecutive_failures: int
    probe_in: float | None  # seconds until the half-open probe (open circuits)
    in_flight: int
    rate_limited_for: float  # seconds left of a 429 cool-off
    latency_ms: float | None
    reason: str = ""  # last error, or why the deployment is unavailable


@dataclass(frozen=True, slots=True)
class ModelStatus:
    name: str
    tier: str
    provider: str
    state: ModelState
    reason: str
    deployments: tuple[DeploymentStatus, ...]

    @property
    def available(self) -> bool:
        return self.state != "unavailable"


def status_rows(entries: Sequence[ModelEntry], now: float) -> list[ModelStatus]:
    rows = []
    for e in entries:
        deps = []
        for r in e.routes:
            h, b = r.health, r.health.breaker
            circuit = b.state.replace("_", "-")
            deps.append(
                DeploymentStatus(
                    r.key,
                    r.endpoint,
                    r.target.model,
                    circuit,
                    b.failures,
                    b.seconds_until_probe() if circuit == "open" else None,
                    h.in_flight,
                    max(0.0, h.rate_limited_until - now),
                    None if h.latency_ewma is None else h.latency_ewma * 1000,
                    # An open circuit says why even with no local failures (opened by another replica).
                    h.last_error if b.failures or b.opened_at is not None or h.rate_limited_until > now else "",
                )
            )
        deps += [
            DeploymentStatus(k, "", "", "unavailable", 0, None, 0, 0.0, None, why)
            for k, why in e.unavailable_deployments.items()
        ]
        deps.sort(key=lambda d: int(d.key.rsplit("#", 1)[1]))
        callable_now = [d for d in deps if d.circuit in ("closed", "half-open") and d.rate_limited_for == 0]
        blocked = [d for d in deps if d.circuit == "open" or (d.circuit != "unavailable" and d.rate_limited_for > 0)]
        state: ModelState
        if not e.available:
            state, reason = "unavailable", e.unavailable_reason
        elif not callable_now:
            state, reason = "down", f"all {len(blocked)} deployment(s) open or rate-limited"
        elif blocked:
            state, reason = "degraded", f"{len(blocked)} of {len(e.routes)} deployment(s) open or rate-limited"
        else:
            state, reason = "available", ""
        rows.append(ModelStatus(e.name, e.tier, e.provider_name, state, reason, tuple(deps)))
    return rows


def _probe(d: DeploymentStatus) -> str:
    if d.circuit == "open" and d.probe_in is not None:
        return f"in {d.probe_in:.0f}s"
    if d.circuit == "half-open":
        return "now"
    return "-"


def status_tables(rows: Sequence[ModelStatus]) -> tuple[list[list[str]], list[list[str]]]:
    """The models table and the deployments table, each a header row then one row per entry
    (`render_status` lays them out as text; `mcproute tools` draws them with colour)."""
    models: list[list[str]] = [["MODEL", "TIER", "PROVIDER", "STATE", "DETAIL"]]
    for m in rows:
        models.append([m.name, m.tier, m.provider, m.state, m.reason or "-"])
    deployments: list[list[str]] = [
        ["DEPLOYMENT", "ENDPOINT", "MODEL", "CIRCUIT", "FAILS", "PROBE", "IN-FLIGHT", "NOTE"]
    ]
    for m in rows:
        for d in m.deployments:
            note = d.reason or "-"
            if d.rate_limited_for > 0:
                note = f"rate-limited {d.rate_limited_for:.0f}s more; {note}"
            deployments.append(
                [
                    d.key,
                    d.endpoint or "-",
                    d.upstream_model or "-",
                    d.circuit,
                    str(d.consecutive_failures),
                    _probe(d),
                    str(d.in_flight),
                    note,
                ]
            )
    return models, deployments


NO_MODELS = "No models configured (add a `models:` section to servers.yaml)."


def render_status(rows: Sequence[ModelStatus]) -> str:
    """The models and deployments as plain text columns."""
    if not rows:
        return NO_MODELS
    models, deployments = status_tables(rows)
    lines = _columns(models)
    if len(deployments) > 1:
        lines += [""] + _columns(deployments)
    return "\n".join(lines)


def _columns(table: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
