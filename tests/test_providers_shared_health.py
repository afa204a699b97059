"""Shared health (issue 13, item 2): three replicas' model pools, one real redis-server, one
failing fake provider. The replica whose calls failed opens its circuit and publishes it; the
other two skip that deployment without calling it, hold it open past the first replica's probe,
and close it when that probe succeeds — an outage costs one replica's probes, not three. A 429's
Retry-After is shared the same way."""

from __future__ import annotations

from typing import Any

import pytest

from fakes.clock import FakeClock
from fakes.llm_server import fake_llm, rate_limited, server_error
from fakes.pools import make_pool, summary
from mcproute.providers import ChatRequest, http_client
from mcproute.providers.shared_health import SharedHealth
from redis_fixture import RedisServer

pytestmark = pytest.mark.anyio

USER = ChatRequest.build([{"role": "user", "content": "hi"}])
CONFIG = {
    "models": {
        "quick": {
            "provider": "openai",
            "model": "gpt-test",
            "tier": "fast",
            "deployments": [{"base_url": "A"}, {"base_url": "B"}],
        }
    },
    "reliability": {"breaker_failures": 2, "breaker_cooldown": 30, "max_attempts": 4},
}


def config(a: str, b: str) -> dict[str, Any]:
    models = {"quick": {**CONFIG["models"]["quick"], "deployments": [{"base_url": a}, {"base_url": b}]}}  # type: ignore[index]
    return {**CONFIG, "models": models}


def circuit(pool: Any, key: str) -> str:
    return str(next(d for m in pool.status() for d in m.deployments if d.key == key).circuit)


async def test_an_open_circuit_costs_one_replicas_probes_not_every_replicas(redis_server: RedisServer) -> None:
    clock = FakeClock()  # one clock for the three replicas (as NTP-synced hosts): mono and wall alike
    prefix = redis_server.fresh_prefix()
    redis = __import__("redis.asyncio", fromlist=["Redis"]).Redis.from_url(redis_server.url)
    async with fake_llm() as broken, fake_llm() as healthy, http_client() as client:
        pools = [make_pool(config(broken.openai_url, healthy.openai_url), client, clock) for _ in range(3)]
        shared = [
            SharedHealth(redis, prefix, p.healths(), interval=0.5, grace=2.0, mono=clock, wall=clock, replica=f"r{i}")
            for i, p in enumerate(pools)
        ]
        try:
            broken.queue(server_error(500), server_error(500))
            for _ in range(2):
                await pools[0].chat(USER, tier="fast", preferred_deployment="quick#0")
            assert circuit(pools[0], "quick#0") == "open" and len(broken.requests) == 2
            for s in shared:
                await s.sync_once()
            # The other replicas skip the broken deployment without sending it anything.
            for p in pools[1:]:
                assert circuit(p, "quick#0") == "open"
                r = await p.chat(USER, tier="fast", preferred_deployment="quick#0")
                assert summary(r.attempts) == [
                    ("quick#0", "skipped", "circuit_open", None),
                    ("quick#1", "ok", None, None),
                ]
                assert "another replica" in p.status()[0].deployments[0].reason
            assert len(broken.requests) == 2

            clock.advance(30)  # the first replica's cool-down is over; the others wait `grace` more
            for p in pools[1:]:
                r = await p.chat(USER, tier="fast", preferred_deployment="quick#0")
                assert r.attempts[0].outcome == "skipped"
            r = await pools[0].chat(USER, tier="fast", preferred_deployment="quick#0")  # the one probe
            assert summary(r.attempts) == [("quick#0", "ok", None, None)]
            assert len(broken.requests) == 3
            for s in shared:
                await s.sync_once()
            for p in pools[1:]:  # closed by that probe's verdict: no probe of their own
                assert circuit(p, "quick#0") == "closed"
                r = await p.chat(USER, tier="fast", preferred_deployment="quick#0")
                assert summary(r.attempts) == [("quick#0", "ok", None, None)]
                assert r.attempts[0].circuit == "closed"
        finally:
            await redis.aclose()


async def test_a_failed_probe_keeps_every_replica_away_and_a_dead_prober_is_replaced(redis_server: RedisServer) -> None:
    clock = FakeClock()
    prefix = redis_server.fresh_prefix()
    redis = __import__("redis.asyncio", fromlist=["Redis"]).Redis.from_url(redis_server.url)
    async with fake_llm() as broken, fake_llm() as healthy, http_client() as client:
        pools = [make_pool(config(broken.openai_url, healthy.openai_url), client, clock) for _ in range(2)]
        shared = [
            SharedHealth(redis, prefix, p.healths(), interval=0.5, grace=2.0, mono=clock, wall=clock, replica=f"r{i}")
            for i, p in enumerate(pools)
        ]
        try:
            broken.queue(*[server_error(502)] * 3)
            for _ in range(2):
                await pools[0].chat(USER, tier="fast", preferred_deployment="quick#0")
            await shared[0].sync_once()
            await shared[1].sync_once()
            clock.advance(30)
            await pools[0].chat(USER, tier="fast", preferred_deployment="quick#0")  # probe fails: re-opened
            assert len(broken.requests) == 3 and circuit(pools[0], "quick#0") == "open"
            await shared[0].sync_once()
            await shared[1].sync_once()
            clock.advance(3)  # past the first opening's grace: the second replica still stays away
            r = await pools[1].chat(USER, tier="fast", preferred_deployment="quick#0")
            assert r.attempts[0].outcome == "skipped" and len(broken.requests) == 3
            # The first replica dies (stops syncing); the second probes once its grace runs out.
            clock.advance(30)
            r = await pools[1].chat(USER, tier="fast", preferred_deployment="quick#0")
            assert summary(r.attempts) == [("quick#0", "ok", None, None)] and len(broken.requests) == 4
        finally:
            await redis.aclose()


async def test_a_429_retry_after_is_honoured_by_every_replica(redis_server: RedisServer) -> None:
    clock = FakeClock()
    prefix = redis_server.fresh_prefix()
    redis = __import__("redis.asyncio", fromlist=["Redis"]).Redis.from_url(redis_server.url)
    async with fake_llm() as limited, fake_llm() as healthy, http_client() as client:
        pools = [make_pool(config(limited.openai_url, healthy.openai_url), client, clock) for _ in range(2)]
        shared = [
            SharedHealth(redis, prefix, p.healths(), mono=clock, wall=clock, replica=f"r{i}")
            for i, p in enumerate(pools)
        ]
        try:
            limited.queue(rate_limited("20"))
            await pools[0].chat(USER, tier="fast", preferred_deployment="quick#0")
            assert len(limited.requests) == 1
            for s in shared:
                await s.sync_once()
            r = await pools[1].chat(USER, tier="fast", preferred_deployment="quick#0")
            assert summary(r.attempts) == [("quick#0", "skipped", "rate_limited", None), ("quick#1", "ok", None, None)]
            assert len(limited.requests) == 1
            clock.advance(21)
            r = await pools[1].chat(USER, tier="fast", preferred_deployment="quick#0")
            assert summary(r.attempts) == [("quick#0", "ok", None, None)]
        finally:
            await redis.aclose()
