"""Shadow traffic end to end: real OpenAI-wire model servers on loopback (one per tier), a real
downstream MCP server that counts the tool calls it executes, the real engine and stores, spans
read back from the JSONL exporter.

What is checked is causality, never timing: the shadow model's replies are held back until the
live steps have all returned, so a live path that waited for its shadow would never finish
(the `fail_after` turns that hang into a failure).
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from fakes.llm_server import FakeLLM, fake_llm, ok, server_error
from mcproute.cli import main as cli_main
from mcproute.config import TelemetryConfig, parse_config
from mcproute.gateway.identity import ConversationIdentity
from mcproute.providers import Message
from mcproute.router.step import StepHints
from mcproute.runtime import Engine
from mcproute.state import OutcomeRecord
from mcproute.telemetry import semconv as sc
from mcproute.telemetry.reader import read_jsonl
from mcproute.telemetry.setup import setup
from runtime_support import TESTS, config_dict

COUNTER = str(TESTS / "fixtures" / "counting_server.py")
FAST = StepHints(tier_override="fast")
LIMIT = 60  # seconds before a hang (a live step waiting for its shadow) fails the test


def _config(tmp: Path, live: FakeLLM, shadow: FakeLLM, *, backend: str = "memory", **shadow_cfg: Any) -> Any:
    cfg = config_dict(
        tmp / "data",
        backend=backend,
        servers={"count": {"command": sys.executable, "args": [COUNTER], "env": {"COUNT_FILE": str(tmp / "calls")}}},
        encoder={"enabled": False},
        shadow={"rate": 1.0, **shadow_cfg},
    )
    cfg["models"] = {
        "quick": {
            "tier": "fast",
            "provider": "openai",
            "base_url": live.openai_url,
            "api_key": "sk-live",
            "model": "live-mini",
            "price": {"input": 0.1, "output": 0.4},
        },
        "deep": {
            "tier": "reasoning",
            "provider": "openai",
            "base_url": shadow.openai_url,
            "api_key": "sk-shadow",
            "model": "shadow-max",
            "price": {"input": 3.0, "output": 15.0},
        },
    }
    return cfg


@asynccontextmanager
async def _engine(cfg: dict[str, Any]) -> AsyncIterator[Engine]:
    async with Engine(parse_config(json.dumps(cfg), environ={})) as engine:
        yield engine


def _executed(tmp: Path) -> list[dict[str, Any]]:
    path = tmp / "calls"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _call(name: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    return ({"name": name, "arguments": arguments},)


async def _outcomes(engine: Engine) -> list[OutcomeRecord]:
    return await engine.store.list_outcomes(kind="shadow", limit=1000)  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_rate_one_shadows_every_step_links_its_span_and_never_runs_a_shadow_tool(tmp_path: Path) -> None:
    gate = anyio.Event()
    traces = tmp_path / "traces.jsonl"
    async with fake_llm() as live, fake_llm() as shadow:
        live.queue(
            ok("", _call("count__add", {"a": 2})),
            ok("", _call("count__weather", {"city": "Paris"})),
            ok("It is sunny in Paris today."),
        )
        shadow.queue(
            # Same tool, the same call once the schema is applied ("2" is an integer, b defaults to 0).
            ok("", _call("count__add", {"a": "2", "b": 0}), hold=gate),
            ok("", _call("count__add", {"a": 1, "b": 1}), hold=gate),  # another tool
            ok("Sunny in Paris.", hold=gate),  # no tool either: agreement on the text
        )
        cfg = _config(tmp_path, live, shadow)
        texts = ["add 2 and nothing", "what is the weather in Paris", "so is it sunny there"]
        with setup(TelemetryConfig(exporter="jsonl", path=str(traces)), environ={}):
            async with _engine(cfg) as engine:
                assert engine.shadow is not None
                ident = ConversationIdentity("conv-shadow", "argument")
                with anyio.fail_after(LIMIT):
                    results = [await engine.run_step(t, identity=ident, hints=FAST) for t in texts]
                    # Every live step has returned while no shadow has answered yet.
                    assert not gate.is_set() and await _outcomes(engine) == []
                    assert [r.tool for r in results] == ["count__add", "count__weather", None]
                    assert results[0].result is not None and results[0].result["structuredContent"] == {"result": 2}
                    assert results[2].text == "It is sunny in Paris today."
                    assert [r.tier for r in results] == ["fast"] * 3
                    gate.set()
                    await engine.shadow.drain()
                by_step = {o.step_id: o for o in await _outcomes(engine)}
                live_bodies = [r.body for r in live.requests]
                shadow_bodies = [r.body for r in shadow.requests]

    # Only the live calls reached the downstream: the shadow's two tool calls were never executed.
    assert _executed(tmp_path) == [
        {"tool": "add", "arguments": {"a": 2, "b": 0}},
        {"tool": "weather", "arguments": {"city": "Paris"}},
    ]
    # The shadow saw the same messages and tools as the live call, on the other tier's model.
    assert len(shadow_bodies) == len(live_bodies) == 3
    for lb, sb in zip(live_bodies, shadow_bodies, strict=True):
        assert sb["messages"] == lb["messages"] and sb.get("tools") == lb.get("tools")
        assert (lb["model"], sb["model"]) == ("live-mini", "shadow-max")

    assert len(by_step) == 3
    data = [by_step[r.step_id].data for r in results]
    assert [d["status"] for d in data] == ["compared"] * 3
    assert [(d["same_tool"], d["args_equal"], d["args_equivalent"]) for d in data] == [
        (True, False, True),
        (False, None, None),
        (True, None, None),
    ]
    assert 0 < data[2]["agreement"] < 1 and data[0]["agreement"] == 1.0  # two silent tool calls agree
    assert all(d["live"]["tier"] == "fast" and d["shadow"]["tier"] == "reasoning" for d in data)
    assert all(d["cost_usd"] > 0 and d["cost_usd"] <= d["reserved_usd"] for d in data)

    # One mcproute.shadow span per step, its own trace, linked to that step's route span.
    spans = read_jsonl(traces)
    routes = {s.attributes[sc.STEP_ID]: s for s in spans if s.name == sc.ROUTE_SPAN_NAME}
    shadows = [s for s in spans if s.name == sc.SHADOW_SPAN_NAME]
    assert sorted(s.attributes[sc.STEP_ID] for s in shadows) == sorted(r.step_id for r in results)
    for s in shadows:
        route = routes[s.attributes[sc.STEP_ID]]
        assert s.parent_span_id is None and s.trace_id != route.trace_id
        assert [(lk["span_id"], lk["attributes"].get(sc.LINK_RELATION)) for lk in s.links] == [
            (route.span_id, sc.LINK_SHADOW_OF)
        ]
        assert s.attributes[sc.SHADOW_TIER] == "reasoning" and s.attributes[sc.SHADOW_STATUS] == "compared"
        assert s.attributes[sc.GEN_AI_CONVERSATION_ID] == "conv-shadow"
        # The shadow's provider attempt is a child of the shadow span, not of the live step.
        chats = [c for c in spans if c.parent_span_id == s.span_id and c.name.startswith("chat ")]
        assert len(chats) == 1 and chats[0].attributes[sc.DECISION_MODEL] == "deep"
    first = next(s for s in shadows if s.attributes[sc.STEP_ID] == results[0].step_id)
    assert first.attributes[sc.SHADOW_ARGS_EQUIVALENT] is True and first.attributes[sc.SHADOW_ARGS_EQUAL] is False


@pytest.mark.anyio
async def test_a_conversation_stops_shadowing_at_the_daily_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with fake_llm() as live, fake_llm() as shadow:
        # Each shadow reply reports usage that costs a real share of the cap (below its reserved bound).
        shadow.queue(*[ok("A fine answer.", usage={"input": 900, "output": 60, "cached_input": 0})] * 8)
        cfg = _config(tmp_path, live, shadow, backend="sqlite", max_usd_per_day=0.01, max_output_tokens=64)
        async with _engine(cfg) as engine:
            assert engine.shadow is not None
            ident = ConversationIdentity("capped", "argument")
            statuses: list[str] = []
            seen: list[int] = []
            with anyio.fail_after(LIMIT):
                for i in range(8):
                    step = await engine.run_step(f"tell me something new, number {i}", identity=ident, hints=FAST)
                    await engine.shadow.drain()
                    [record] = await engine.store.list_outcomes(step_id=step.step_id)  # type: ignore[union-attr]
                    statuses.append(record.data["status"])
                    seen.append(len(shadow.requests))
            spent = await engine.shadow.cap.spent()
    assert "compared" in statuses and "over_budget" in statuses
    stop = statuses.index("over_budget")
    # Once over, it stays over (nothing is refunded while no shadow runs), and no call is made.
    assert statuses[:stop] == ["compared"] * stop and statuses[stop:] == ["over_budget"] * (8 - stop)
    assert seen[stop:] == [seen[stop - 1]] * (8 - stop) and len(live.requests) == 8
    assert 0 < spent <= 0.01

    # `mcproute shadow` reads the same records back from the state file.
    config_file = tmp_path / "servers.yaml"
    config_file.write_text(json.dumps(cfg))
    # (in a thread: the command runs its own event loop)
    assert await anyio.to_thread.run_sync(cli_main, ["shadow", "--config", str(config_file), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    group = report["by_direction"]["fast->reasoning"]
    assert group["by_status"] == {"compared": stop, "over_budget": 8 - stop}
    # Neither called a tool; "Hello." and "A fine answer." share no word.
    assert group["same_tool_share"] == 1.0 and group["mean_agreement"] == 0.0
    assert group["cost_usd"] == pytest.approx(spent)


@pytest.mark.anyio
async def test_the_cap_holds_under_many_concurrent_sampled_steps(tmp_path: Path) -> None:
    gate = anyio.Event()
    async with fake_llm() as live, fake_llm() as shadow:
        shadow.queue(*[ok("ok", hold=gate)] * 24)
        cfg = _config(
            tmp_path, live, shadow, backend="sqlite", max_usd_per_day=0.02, max_output_tokens=256, max_in_flight=100
        )
        async with _engine(cfg) as engine:
            runner = engine.shadow
            assert runner is not None
            with anyio.fail_after(LIMIT):
                async with anyio.create_task_group() as tg:
                    for i in range(24):
                        tg.start_soon(
                            lambda i=i: engine.run_step(
                                f"question {i} about nothing",
                                identity=ConversationIdentity(f"c{i}", "argument"),
                                hints=FAST,
                            )
                        )
                # Release the shadow replies only once every shadow still running is waiting at the
                # model: all reservations were made while none had settled (the hardest case).
                while runner.in_flight != len(shadow.requests):
                    await anyio.sleep(0.01)
                gate.set()
                await runner.drain()
            outcomes = await _outcomes(engine)
            spent = await runner.cap.spent()
    compared = [o.data for o in outcomes if o.data["status"] == "compared"]
    refused = [o for o in outcomes if o.data["status"] == "over_budget"]
    assert len(outcomes) == 24 and compared and refused
    assert len(shadow.requests) == len(compared)  # no call without a reservation
    assert sum(d["reserved_usd"] for d in compared) <= 0.02  # what was let through at once fit the cap
    assert 0 < spent <= 0.02


@pytest.mark.anyio
async def test_off_by_default_no_shadow_call_is_made(tmp_path: Path) -> None:
    async with fake_llm() as live, fake_llm() as shadow:
        cfg = _config(tmp_path, live, shadow)
        del cfg["routing"]["shadow"]
        async with _engine(cfg) as engine:
            assert engine.shadow is None
            await engine.run_step("add 1 and 2", identity=ConversationIdentity("off", "argument"), hints=FAST)
        assert len(live.requests) == 1 and shadow.requests == []


def _judged(tmp: Path, live: FakeLLM, shadow: FakeLLM, judge: FakeLLM) -> Any:
    """`_config` with a judge model; listed after "deep", since the shadow goes to the first reasoning model."""
    cfg = _config(tmp, live, shadow, judge={"enabled": True, "model": "judge"})
    cfg["models"]["judge"] = {
        "tier": "reasoning",
        "provider": "openai",
        "base_url": judge.openai_url,
        "model": "judge-1",
        "price": {"input": 0.1, "output": 0.4},
    }
    return cfg


@pytest.mark.anyio
async def test_a_judge_model_scores_both_answers(tmp_path: Path) -> None:
    async with fake_llm() as live, fake_llm() as shadow, fake_llm() as judge:
        judge.queue(ok('Scores: {"a": 8, "b": 6}'))
        cfg = _judged(tmp_path, live, shadow, judge)
        async with _engine(cfg) as engine:
            assert engine.shadow is not None
            step = await engine.run_step("add 1 and 2", identity=ConversationIdentity("judged", "argument"), hints=FAST)
            await engine.shadow.drain()
            [record] = await engine.store.list_outcomes(step_id=step.step_id)  # type: ignore[union-attr]
        prompt = judge.requests[0].body["messages"][-1]["content"]
    assert record.data["judge"] == {"model": "judge", "status": "scored", "live": 0.8, "shadow": 0.6}
    # The judge sees the request and both answers, but not which tier or model gave them.
    assert "add 1 and 2" in prompt and "reasoning" not in prompt and "deep" not in prompt


@pytest.mark.anyio
async def test_a_judged_shadow_teaches_the_tier_learner(tmp_path: Path) -> None:
    """With learning on, the judge's scores are an outcome: the reasoning answer scored 0.9 and the
    fast (live) one 0.4, so the reasoning tier was worth +0.5 on this step."""
    async with fake_llm() as live, fake_llm() as shadow, fake_llm() as judge:
        judge.queue(ok('Scores: {"a": 4, "b": 9}'))
        cfg = _judged(tmp_path, live, shadow, judge)
        cfg["routing"]["encoder"] = {"enabled": True}  # the learner remembers the step's vector
        cfg["routing"]["learning"] = {"enabled": True, "tools": False, "propose_every": 1}
        async with _engine(cfg) as engine:
            await engine.wait_settled()
            assert engine.shadow is not None and engine.learning is not None
            await engine.run_step("add 1 and 2", identity=ConversationIdentity("taught", "argument"), hints=FAST)
            await engine.shadow.drain()
            tier = engine.learning.tier
            assert tier is not None and tier.revealed == 1 and tier.memory.labels == (pytest.approx(0.5),)
            history = await engine.store.list_policies()  # type: ignore[union-attr]
    assert len(history) == 1 and history[0].metrics["outcomes"] == 1


@pytest.mark.anyio
async def test_chat_completions_whole_and_streamed_are_shadowed_with_the_clients_tools(tmp_path: Path) -> None:
    from contextlib import aclosing

    from mcproute.runtime.streaming import StepFinished, stream_complete

    gate = anyio.Event()
    city = {
        "name": "get_city",
        "description": "a client-side tool",
        "inputSchema": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
    }
    async with fake_llm() as live, fake_llm() as shadow:
        live.queue(ok("", _call("get_city", {"id": 7})), ok("Paris is the capital of France."))
        shadow.queue(ok("", _call("get_city", {"id": "7"}), hold=gate), ok("The capital is Paris.", hold=gate))
        async with _engine(_config(tmp_path, live, shadow)) as engine:
            assert engine.shadow is not None
            ident = ConversationIdentity("oa", "header")
            with anyio.fail_after(LIMIT):
                decision, chat = await engine.complete(
                    [{"role": "user", "content": "which city has id 7"}], identity=ident, hints=FAST, tools=[city]
                )
                events = []
                async with aclosing(
                    stream_complete(
                        engine,
                        [Message("user", "what is the capital of France")],
                        identity=ConversationIdentity("oa2", "header"),
                        hints=FAST,
                        tools=None,
                    )
                ) as stream:
                    async for event in stream:
                        events.append(event)
                # Both live replies are complete, unchanged, while their shadows are still held.
                assert chat.response.tool_calls[0].arguments == {"id": 7}
                finished = events[-1]
                assert isinstance(finished, StepFinished)
                assert finished.chat.response.text == "Paris is the capital of France."
                assert await _outcomes(engine) == [] and not gate.is_set()
                gate.set()
                await engine.shadow.drain()
            by_step = {o.step_id: o.data for o in await _outcomes(engine)}
    whole, streamed = by_step[decision.step_id], by_step[finished.decision.step_id]
    assert (whole["same_tool"], whole["args_equal"], whole["args_equivalent"]) == (True, False, True)
    assert streamed["same_tool"] and 0 < streamed["agreement"] < 1
    assert _executed(tmp_path) == []  # a client's tool call is the client's to run; shadows run none


@pytest.mark.anyio
async def test_a_failing_shadow_model_is_recorded_and_refunded_and_the_live_step_does_not_notice(
    tmp_path: Path,
) -> None:
    async with fake_llm() as live, fake_llm() as shadow:
        shadow.queue(*[server_error()] * 8)
        live.queue(ok("", _call("count__add", {"a": 1, "b": 2})))
        cfg = _config(tmp_path, live, shadow)
        cfg["reliability"].update(max_attempts=2, breaker_failures=5)  # fail fast: no breaker cooldown to sit out
        async with _engine(cfg) as engine:
            assert engine.shadow is not None
            with anyio.fail_after(LIMIT):
                step = await engine.run_step("add 1 and 2", identity=ConversationIdentity("f", "argument"), hints=FAST)
                await engine.shadow.drain()
            [record] = await engine.store.list_outcomes(step_id=step.step_id)  # type: ignore[union-attr]
            spent = await engine.shadow.cap.spent()
    assert step.tool == "count__add" and step.result is not None and not step.tool_error
    assert record.data["status"] == "failed" and "ProviderUnavailable" in record.data["error"]
    assert record.data["cost_usd"] == 0 and spent == 0  # the reservation was given back: nothing was charged
    assert len(shadow.requests) >= 1 and _executed(tmp_path) == [{"tool": "add", "arguments": {"a": 1, "b": 2}}]
