"""Build a ModelPool from a config dict (JSON is YAML), with an injected clock and no jitter."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from fakes.clock import FakeClock
from mcproute.config import parse_config
from mcproute.providers import ModelPool


def make_pool(
    config: Mapping[str, Any],
    client: httpx.AsyncClient,
    clock: FakeClock | None = None,
    environ: Mapping[str, str] | None = None,
) -> ModelPool:
    loaded = parse_config(json.dumps(config), environ=environ or {})
    if clock is None:
        return ModelPool(loaded, client, rand=lambda: 0.5)
    return ModelPool(loaded, client, clock=clock, sleep=clock.sleep, rand=lambda: 0.5)


def summary(attempts: Any) -> list[tuple[str, str, str | None, int | None]]:
    """(deployment, outcome, error_type, status) per attempt: what tests assert."""
    return [(a.deployment, a.outcome, a.error_type, a.status) for a in attempts]
