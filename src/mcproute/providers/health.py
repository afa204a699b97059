"""Per-deployment health: a circuit breaker, rate-limit cool-off, in-flight count and latency.

The clock is injected so that tests can open a breaker, advance time past the cool-down and
watch the half-open probe close it again without sleeping.

Breaker states:
    closed     calls flow; consecutive failures are counted
    open       N consecutive failures: no calls until `cooldown` seconds have passed
    half_open  cool-down over: exactly one probe call is let through; success closes the
               circuit, failure re-opens it for another cool-down

A 429 does not count as a failure (the deployment is healthy, just saturated): it sets
`rate_limited_until` instead, honouring Retry-After, so the balancer routes around it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

CircuitState = Literal["closed", "open", "half_open"]

# Weight of the newest latency sample in the moving average: reacts within ~5 calls.
_EWMA_ALPHA = 0.3


@dataclass
class CircuitBreaker:
    failure_threshold: int
    cooldown: float
    clock: Callable[[], float]
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False

    @property
    def state(self) -> CircuitState:
        if self.opened_at is None:
            return "closed"
        return "half_open" if self.clock() - self.opened_at >= self.cooldown else "open"

    def seconds_until_probe(self) -> float | None:
        if self.opened_at is None:
            return None
        return max(0.0, self.opened_at + self.cooldown - self.clock())

    def ready_at(self) -> float:
        """Clock time from which a call may be let through (now or later)."""
        if self.opened_at is None:
            return self.clock()
        return self.opened_at + self.cooldown

    def can_try(self) -> bool:
        state = self.state
        return state == "closed" or (state == "half_open" and not self.probing)

    def acquire(self) -> bool:
        """Claim the right to call; in half-open state only one caller (the probe) gets it."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self.probing:
            self.probing = True
            return True
        return False

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def record_failure(self) -> None:
        self.failures += 1
        if self.probing or self.failures >= self.failure_threshold:
            self.opened_at = self.clock()
        self.probing = False

    def release(self) -> None:
        """The call ended without a verdict on health (cancelled, or a rejected request)."""
        self.probing = False


@dataclass
class DeploymentHealth:
    key: str
    weight: float
    breaker: CircuitBreaker
    in_flight: int = 0
    latency_ewma: float | None = None
    rate_limited_until: float = 0.0
    last_error: str = field(default="")

    def ready(self, now: float) -> bool:
        return self.breaker.can_try() and now >= self.rate_limited_until

    def ready_at(self) -> float:
        return max(self.breaker.ready_at(), self.rate_limited_until)

    def observe_latency(self, seconds: float) -> None:
        prev = self.latency_ewma
        self.latency_ewma = seconds if prev is None else prev + _EWMA_ALPHA * (seconds - prev)
