"""Building the pool from servers.yaml: missing keys at start-up, scripted models, cost accounting."""

from __future__ import annotations

import json

import pytest

from fakes.clock import FakeClock
from fakes.pools import make_pool, summary
from mcproute.config import LoadedConfig, Price, parse_config
from mcproute.errors import InvalidRequest, ProviderUnavailable
from mcproute.providers import ChatRequest, Usage, cost_usd, http_client, render_status, startup_status

pytestmark = pytest.mark.anyio

USER = ChatRequest.build([{"role": "user", "content": "hello"}])
BUNDLED = {
    "models": {
        "quick": {
            "provider": "openai",
            "model": "gpt-5-mini",
            "api_key": "${OPENAI_API_KEY}",
            "tier": "fast",
            "price": {"input": 0.25, "output": 2.0},
        },
        "deep": {
            "provider": "anthropic",
            "model": "claude-opus-4-5",
            "api_key": "${ANTHROPIC_API_KEY}",
            "tier": "reasoning",
            "price": {"input": 5.0, "output": 25.0},
        },
        "offline": {"provider": "scripted", "tier": "fast", "script": ["scripted hello"]},
    }
}


def pool_config(config: dict[str, object], environ: dict[str, str]) -> LoadedConfig:
    return parse_config(json.dumps(config), environ=environ)


async def test_missing_keys_make_models_unavailable_at_start_up_with_the_variable_name() -> None:
    async with http_client() as client:
        pool = make_pool(BUNDLED, client, FakeClock(), environ={"OPENAI_API_KEY": "sk-present-1234"})
        rows = {m.name: m for m in pool.status()}
        assert rows["deep"].state == "unavailable"
        assert rows["deep"].reason == "environment variable ANTHROPIC_API_KEY is not set"
        assert rows["quick"].state == rows["offline"].state == "available"
        specs = {s.name: s for s in pool.model_specs()}
        assert not specs["deep"].available and "ANTHROPIC_API_KEY" in specs["deep"].unavailable_reason
        assert specs["quick"].available and specs["quick"].price_input == 0.25
        assert (specs["deep"].price_input, specs["deep"].price_output) == (5.0, 25.0)
        assert "environment variable ANTHROPIC_API_KEY is not set" in render_status(pool.status())
        assert render_status(
            startup_status(pool_config(BUNDLED, {"OPENAI_API_KEY": "sk-present-1234"}))
        ) == render_status(pool.status())

        # Routing around it: a reasoning step falls over only if cross-tier is allowed.
        with pytest.raises(ProviderUnavailable) as info:
            await pool.chat(USER, tier="reasoning")
        assert info.value.attempts == []  # never attempted: nothing to trace as a failed call
        assert "deep unavailable: environment variable ANTHROPIC_API_KEY is not set" in str(info.value)


async def test_unavailable_model_is_skipped_for_the_next_of_its_tier() -> None:
    async with http_client() as client:
        pool = make_pool(BUNDLED, client, FakeClock(), environ={})
        result = await pool.chat(USER, tier="fast", model="quick")
    assert summary(result.attempts) == [("offline#0", "ok", None, None)]  # the keyless model left no attempt
    assert result.response.text == "scripted hello" and result.model == "offline"


async def test_a_deployment_without_its_key_leaves_the_rotation_but_the_model_stays() -> None:
    config = {
        "models": {
            "quick": {
                "provider": "scripted",
                "tier": "fast",
                "script": ["a"],
                "deployments": [{"api_key": "${KEY_ONE}"}, {"api_key": "${KEY_TWO}"}],
            }
        }
    }
    async with http_client() as client:
        pool = make_pool(config, client, FakeClock(), environ={"KEY_TWO": "k2-secret-value"})
        row = pool.status()[0]
        assert row.state == "available"
        assert [(d.key, d.circuit, d.reason) for d in row.deployments] == [
            ("quick#0", "unavailable", "environment variable KEY_ONE is not set"),
            ("quick#1", "closed", ""),
        ]
        result = await pool.chat(USER, tier="fast")
    assert result.deployment == "quick#1"


async def test_scripted_list_cycles_and_a_function_script_sees_the_request() -> None:
    config = {
        "models": {
            "s": {"provider": "scripted", "tier": "fast", "script": ["one", {"text": "two"}]},
            "f": {"provider": "scripted", "tier": "reasoning", "script": "fakes.scripts:echo"},
        }
    }
    async with http_client() as client:
        pool = make_pool(config, client, FakeClock())
        texts = [(await pool.chat(USER, model="s")).response.text for _ in range(3)]
        assert texts == ["one", "two", "one"]
        assert (await pool.chat(USER, model="f")).response.text == "0: hello"
        r = await pool.chat(ChatRequest.build([{"role": "user", "content": "what time is it"}]), model="f")
    assert [(c.name, dict(c.arguments)) for c in r.response.tool_calls] == [("time__now", {"tz": "UTC"})]


async def test_scripted_errors_drive_the_reliability_layer_offline() -> None:
    clock = FakeClock()
    config = {
        "models": {
            "f": {"provider": "scripted", "tier": "fast", "script": "fakes.scripts:flaky"},
            "b": {"provider": "scripted", "tier": "fast", "script": "fakes.scripts:broken"},
        }
    }
    async with http_client() as client:
        pool = make_pool(config, client, clock)
        r = await pool.chat(USER, model="f")
        assert summary(r.attempts) == [
            ("f#0", "error", "server_error", 503),
            ("b#0", "error", "protocol_error", None),
            ("f#0", "ok", None, None),
        ]
        assert "RuntimeError: bug in the script" in r.attempts[1].message
        assert len(clock.sleeps) == 1 and 0.1 <= clock.sleeps[0] <= 0.2  # one backoff step: base 0.2, equal jitter


async def test_bad_script_reference_is_reported_at_start_up() -> None:
    config = {
        "models": {
            "s": {"provider": "scripted", "tier": "fast", "script": "fakes.scripts:missing"},
            "t": {"provider": "scripted", "tier": "fast"},
        }
    }
    async with http_client() as client:
        rows = {m.name: m for m in make_pool(config, client, FakeClock()).status()}
    assert rows["s"].state == "unavailable" and "cannot load script 'fakes.scripts:missing'" in rows["s"].reason
    assert rows["t"].state == "unavailable" and "needs 'script'" in rows["t"].reason


async def test_cost_of_a_scripted_exchange_matches_the_price_table() -> None:
    price = {"input": 3.0, "output": 15.0, "cached_input": 0.3}
    script = [
        {"text": "first", "usage": {"input": 4000, "output": 200, "cached_input": 0}},
        {"text": "second", "usage": {"input": 4500, "output": 100, "cached_input": 4000}},
    ]
    async with http_client() as client:
        pool = make_pool(
            {"models": {"m": {"provider": "scripted", "tier": "fast", "script": script, "price": price}}},
            client,
            FakeClock(),
        )
        first = await pool.chat(USER, model="m")
        second = await pool.chat(USER, model="m")
    assert first.cost_usd == pytest.approx((4000 * 3.0 + 200 * 15.0) / 1e6)
    assert second.cost_usd == pytest.approx((500 * 3.0 + 4000 * 0.3 + 100 * 15.0) / 1e6)
    assert second.attempts[0].cost_usd == second.response.cost_usd == second.cost_usd


def test_cached_input_defaults_to_the_input_price() -> None:
    assert cost_usd(Usage(1_000_000, 0, 400_000), Price(input=2.0)) == pytest.approx(2.0)
    assert cost_usd(
        Usage(1_000_000, 1_000_000, 400_000), Price(input=2.0, output=8.0, cached_input=0.5)
    ) == pytest.approx(1.2 + 0.2 + 8.0)


async def test_asking_for_an_unknown_model_is_the_callers_error() -> None:
    async with http_client() as client:
        pool = make_pool(BUNDLED, client, FakeClock())
        with pytest.raises(InvalidRequest, match="unknown model 'nope'; configured: quick, deep, offline"):
            await pool.chat(USER, model="nope")
        with pytest.raises(InvalidRequest, match="needs a tier or a model"):
            await pool.chat(USER)
