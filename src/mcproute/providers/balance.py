"""Load-balancing strategies over a model's healthy deployments, chosen by name
(`reliability.balancing`) from a mapping, not an if-chain.

Ties are broken by weighted random order (Efraimidis–Spirakis keys: `u ** (1 / weight)`), so
two idle deployments with weights 3 and 1 are tried first 3:1, and an injected random source
makes the order reproducible in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from mcproute.providers.health import DeploymentHealth


class Balancer(Protocol):
    def order(self, deployments: Sequence[DeploymentHealth], rand: Callable[[], float]) -> list[DeploymentHealth]: ...


def _tiebreak(d: DeploymentHealth, rand: Callable[[], float]) -> float:
    return -float(max(rand(), 1e-12) ** (1.0 / d.weight))


class LeastInFlight:
    """Fewest calls in progress per unit of weight first."""

    def order(self, deployments: Sequence[DeploymentHealth], rand: Callable[[], float]) -> list[DeploymentHealth]:
        keyed = [((d.in_flight / d.weight), _tiebreak(d, rand), i, d) for i, d in enumerate(deployments)]
        return [k[-1] for k in sorted(keyed, key=lambda k: k[:3])]


class LatencyWeighted:
    """Lowest expected wait first: moving-average latency x (in-flight + 1) / weight.
    A deployment never measured counts as 0, so every one gets tried and measured."""

    def order(self, deployments: Sequence[DeploymentHealth], rand: Callable[[], float]) -> list[DeploymentHealth]:
        keyed = [
            ((d.latency_ewma or 0.0) * (d.in_flight + 1) / d.weight, _tiebreak(d, rand), i, d)
            for i, d in enumerate(deployments)
        ]
        return [k[-1] for k in sorted(keyed, key=lambda k: k[:3])]


BALANCERS: dict[str, Callable[[], Balancer]] = {
    "least_in_flight": LeastInFlight,
    "latency": LatencyWeighted,
}
