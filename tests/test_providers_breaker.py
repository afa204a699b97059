"""Circuit breakers, half-open probes, pinning and load balancing, and the status rows users see."""

from __future__ import annotations

import anyio
import pytest

from fakes.clock import FakeClock
from fakes.llm_server import fake_llm, server_error, slow
from fakes.pools import make_pool, summary
from mcproute.providers import ChatRequest, DeploymentStatus, ModelStatus, http_client, render_status
from mcproute.providers.balance import LatencyWeighted, LeastInFlight
from mcproute.providers.health import CircuitBreaker, DeploymentHealth

pytestmark = pytest.mark.anyio

USER = ChatRequest.build([{"role": "user", "content": "hi"}])
POLICY = {"breaker_failures": 2, "breaker_cooldown": 30, "max_attempts": 4}


def two_deployments(a: str, b: str) -> dict[str, object]:
    return {
        "models": {
            "quick": {
                "provider": "openai",
                "model": "gpt-test",
                "tier": "fast",
                "deployments": [{"base_url": a}, {"base_url": b}],
            }
        },
        "reliability": POLICY,
    }


def circuit(pool, key: str) -> DeploymentStatus:  # type: ignore[no-untyped-def]
    return next(d for m in pool.status() for d in m.deployments if d.key == key)


async def test_failing_deployment_opens_then_is_skipped_then_a_probe_closes_it() -> None:
    clock = FakeClock()
    async with fake_llm() as a, fake_llm() as b, http_client() as client:
        a.queue(server_error(500), server_error(500))
        pool = make_pool(two_deployments(a.openai_url, b.openai_url), client, clock)
        for _ in range(2):
            r = await pool.chat(USER, tier="fast", preferred_deployment="quick#0")
            assert summary(r.attempts) == [("quick#0", "error", "server_error", 500), ("quick#1", "ok", None, None)]
        st = circuit(pool, "quick#0")
        assert (st.circuit, st.consecutive_failures, st.probe_in) == ("open", 2, 30.0)
        assert pool.status()[0].state == "degraded"

        # Open: the next call goes straight to the healthy deployment, no request to the broken one.
        r = await pool.chat(USER, tier="fast", preferred_deployment="quick#0")
        assert summary(r.attempts) == [("quick#0", "skipped", "circuit_open", None), ("quick#1", "ok", None, None)]
        assert "probe in 30s" in r.attempts[0].message
        assert len(a.requests) == 2 and clock.sleeps == []

        clock.advance(30)
        assert circuit(pool, "quick#0").circuit == "half-open"
        r = await pool.chat(USER, tier="fast", preferred_deployment="quick#0")  # the probe; the server is fine again
        assert summary(r.attempts) == [("quick#0", "ok", None, None)]
        assert r.attempts[0].circuit == "half_open" and r.attempts[0].endpoint == f"127.0.0.1:{a.port}"
        st = circuit(pool, "quick#0")
        assert (st.circuit, st.consecutive_failures, st.probe_in) == ("closed", 0, None)
        assert pool.status()[0].state == "available"


async def test_a_failed_probe_reopens_the_circuit_for_another_cooldown() -> None:
    clock = FakeClock()
    async with fake_llm() as a, fake_llm() as b, http_client() as client:
        a.queue(*[server_error(502)] * 3)
        pool = make_pool(two_deployments(a.openai_url, b.openai_url), client, clock)
        for _ in range(2):
            await pool.chat(USER, tier="fast", preferred_deployment="quick#0")
        clock.advance(31)
        r = await pool.chat(USER, tier="fast", preferred_deployment="quick#0")
        assert summary(r.attempts) == [("quick#0", "error", "server_error", 502), ("quick#1", "ok", None, None)]
        st = circuit(pool, "quick#0")
        assert (st.circuit, st.consecutive_failures, st.probe_in) == ("open", 3, 30.0)


async def test_only_one_probe_at_a_time_while_half_open() -> None:
    clock = FakeClock()
    async with fake_llm() as a, fake_llm() as b, http_client() as client:
        a.queue(server_error(500), server_error(500), slow(0.5))
        pool = make_pool(two_deployments(a.openai_url, b.openai_url), client, clock)
        for _ in range(2):
            await pool.chat(USER, tier="fast", preferred_deployment="quick#0")
        clock.advance(30)
        results = {}

        async def probe() -> None:
            results["probe"] = await pool.chat(USER, tier="fast", preferred_deployment="quick#0")

        async with anyio.create_task_group() as tg:
            tg.start_soon(probe)
            while len(a.requests) < 3:  # wait until the probe is in flight on the server
                await anyio.sleep(0.01)
            results["other"] = await pool.chat(USER, tier="fast", preferred_deployment="quick#0")
        assert summary(results["other"].attempts) == [
            ("quick#0", "skipped", "circuit_open", None),
            ("quick#1", "ok", None, None),
        ]
        assert "probe in progress" in results["other"].attempts[0].message
        assert summary(results["probe"].attempts) == [("quick#0", "ok", None, None)]
        assert circuit(pool, "quick#0").circuit == "closed"


async def test_concurrent_calls_spread_over_deployments_by_least_in_flight() -> None:
    async with fake_llm() as a, fake_llm() as b, http_client() as client:
        a.queue(slow(0.3))
        b.queue(slow(0.3))
        pool = make_pool(two_deployments(a.openai_url, b.openai_url), client)
        results = []

        async def call() -> None:
            results.append(await pool.chat(USER, tier="fast"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            tg.start_soon(call)
    assert sorted(r.deployment for r in results) == ["quick#0", "quick#1"]
    assert len(a.requests) == len(b.requests) == 1


async def test_pinned_deployment_is_kept_while_healthy() -> None:
    async with fake_llm() as a, fake_llm() as b, http_client() as client:
        pool = make_pool(two_deployments(a.openai_url, b.openai_url), client)
        for _ in range(3):
            r = await pool.chat(USER, tier="fast", preferred_deployment="quick#1")
            assert r.deployment == "quick#1"
    assert a.requests == [] and len(b.requests) == 3


def _health(key: str, weight: float = 1.0, in_flight: int = 0, latency: float | None = None) -> DeploymentHealth:
    h = DeploymentHealth(key, weight, CircuitBreaker(3, 30, FakeClock()), in_flight=in_flight)
    h.latency_ewma = latency
    return h


def test_least_in_flight_prefers_idle_capacity_per_weight() -> None:
    busy, idle, heavy = _health("a", in_flight=2), _health("b", in_flight=1), _health("c", weight=4, in_flight=2)
    assert [h.key for h in LeastInFlight().order([busy, idle, heavy], lambda: 0.5)] == ["c", "b", "a"]


def test_latency_weighted_tries_unmeasured_first_then_fastest() -> None:
    slow_, fast_, new = _health("slow", latency=2.0), _health("fast", latency=0.1), _health("new")
    assert [h.key for h in LatencyWeighted().order([slow_, fast_, new], lambda: 0.5)] == ["new", "fast", "slow"]


def test_weights_break_ties_in_proportion() -> None:
    import random

    rng = random.Random(7)
    heavy, light = _health("heavy", weight=3), _health("light", weight=1)
    firsts = [LeastInFlight().order([light, heavy], rng.random)[0].key for _ in range(4000)]
    share = firsts.count("heavy") / len(firsts)
    assert 0.70 < share < 0.80  # expected 3/4


def test_breaker_state_machine_with_an_injected_clock() -> None:
    clock = FakeClock()
    b = CircuitBreaker(failure_threshold=3, cooldown=10, clock=clock)
    b.record_failure()
    b.record_failure()
    assert b.state == "closed" and b.acquire()
    b.record_success()
    assert b.failures == 0
    for _ in range(3):
        b.record_failure()
    assert b.state == "open" and not b.acquire() and b.seconds_until_probe() == 10
    clock.advance(10)
    assert b.state == "half_open" and b.acquire() and not b.acquire()  # one probe only
    b.release()  # cancelled probe: no verdict, another caller may probe
    assert b.acquire()
    b.record_failure()
    assert b.state == "open" and b.seconds_until_probe() == 10


def test_render_status_for_an_open_circuit() -> None:
    rows = [
        ModelStatus(
            "quick",
            "fast",
            "openai",
            "degraded",
            "1 of 2 deployment(s) open or rate-limited",
            (
                DeploymentStatus(
                    "quick#0",
                    "api.openai.com",
                    "gpt-5-mini",
                    "open",
                    3,
                    12.4,
                    0,
                    0.0,
                    840.0,
                    "server_error: openai api.openai.com: HTTP 500",
                ),
                DeploymentStatus("quick#1", "eu.example.com", "gpt-5-mini", "closed", 0, None, 2, 0.0, 310.0),
            ),
        ),
        ModelStatus(
            "deep",
            "reasoning",
            "anthropic",
            "unavailable",
            "environment variable ANTHROPIC_API_KEY is not set",
            (
                DeploymentStatus(
                    "deep#0",
                    "",
                    "",
                    "unavailable",
                    0,
                    None,
                    0,
                    0.0,
                    None,
                    "environment variable ANTHROPIC_API_KEY is not set",
                ),
            ),
        ),
    ]
    assert render_status(rows) == "\n".join(
        [
            "MODEL  TIER       PROVIDER   STATE        DETAIL",
            "quick  fast       openai     degraded     1 of 2 deployment(s) open or rate-limited",
            "deep   reasoning  anthropic  unavailable  environment variable ANTHROPIC_API_KEY is not set",
            "",
            "DEPLOYMENT  ENDPOINT        MODEL       CIRCUIT      FAILS  PROBE   IN-FLIGHT  NOTE",
            "quick#0     api.openai.com  gpt-5-mini  open         3      in 12s  0          server_error: openai api.openai.com: HTTP 500",
            "quick#1     eu.example.com  gpt-5-mini  closed       0      -       2          -",
            "deep#0      -               -           unavailable  0      -       0          environment variable ANTHROPIC_API_KEY is not set",
        ]
    )


async def test_a_deployment_that_times_out_is_skipped_once_open_instead_of_timing_out_again() -> None:
    async with fake_llm() as a, fake_llm() as b, http_client() as client:
        a.queue(slow(30), slow(30), slow(30))
        config = two_deployments(a.openai_url, b.openai_url)
        config["models"]["quick"]["timeout"] = 0.2  # type: ignore[index]
        pool = make_pool(config, client)
        for _ in range(2):
            r = await pool.chat(USER, tier="fast", preferred_deployment="quick#0")
            assert summary(r.attempts) == [("quick#0", "error", "timeout", None), ("quick#1", "ok", None, None)]
        r = await pool.chat(USER, tier="fast", preferred_deployment="quick#0")
        assert summary(r.attempts) == [("quick#0", "skipped", "circuit_open", None), ("quick#1", "ok", None, None)]
        assert len(a.requests) == 2  # the third slow reply was never asked for
