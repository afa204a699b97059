"""The pure half of shadow traffic (router/shadow_compare.py), the outcome-record contract on
both stores, the spend cap on the SQLite store's real counters, and the config's refusals."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
import pytest

from mcproute.config import ConfigError, parse_config
from mcproute.errors import InvalidRequest
from mcproute.providers import ChatRequest, Message, ToolDef
from mcproute.router.shadow_compare import Reply, agreement, compare, normalise, parse_judge, sampled
from mcproute.runtime.shadow import SpendCap, cost_bound
from mcproute.state import MemoryStore, OutcomeRecord, OutcomeStore, SqliteStore
from runtime_support import config_dict

ADD = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer", "default": 0}, "exact": {"type": "boolean"}},
    "required": ["a"],
}


def test_sampling_is_a_function_of_the_step_id_and_keeps_the_rate() -> None:
    ids = [f"s-{i:05d}" for i in range(4000)]
    first = [sampled(i, 0.25) for i in ids]
    assert first == [sampled(i, 0.25) for i in ids]  # the same steps, every time
    assert 0.22 < sum(first) / len(ids) < 0.28
    assert not any(sampled(i, 0.0) for i in ids) and all(sampled(i, 1.0) for i in ids)
    # A higher rate samples a superset: raising it never drops a step that was shadowed.
    assert all(sampled(i, 0.5) for i, s in zip(ids, first, strict=True) if s)


def test_arguments_compare_equal_or_equivalent_under_the_tools_schema() -> None:
    schemas = {"add": ADD}
    same = compare(Reply("add", {"a": 2, "b": 0}), Reply("add", {"b": 0.0, "a": 2}), schemas)
    assert (same.same_tool, same.args_equal, same.args_equivalent) == (True, True, True)
    spelled = compare(Reply("add", {"a": 2}), Reply("add", {"a": "2", "b": 0, "exact": "false"}), schemas)
    assert (spelled.args_equal, spelled.args_equivalent) == (False, False)  # exact was not given live
    spelled = compare(Reply("add", {"a": 2}), Reply("add", {"a": "2", "b": 0}), schemas)
    assert (spelled.args_equal, spelled.args_equivalent) == (False, True)
    different = compare(Reply("add", {"a": 2}), Reply("add", {"a": 3}), schemas)
    assert (different.args_equal, different.args_equivalent) == (False, False)
    other = compare(Reply("add", {"a": 2}), Reply("sub", {"a": 2}), schemas)
    assert (other.same_tool, other.args_equal, other.args_equivalent) == (False, None, None)
    # Without a schema only JSON equality counts.
    assert compare(Reply("x", {"a": 2}), Reply("x", {"a": "2"}), {}).args_equivalent is False


def test_normalise_fills_defaults_and_coerces_only_what_the_schema_types() -> None:
    assert normalise({"a": "7", "exact": "TRUE", "note": "7"}, ADD) == {"a": 7, "b": 0, "exact": True, "note": "7"}
    assert normalise({"a": "seven"}, ADD) == {"a": "seven", "b": 0}  # not a number: left for the compare to see
    assert normalise({"a": 2.0}, ADD)["a"] == 2 and isinstance(normalise({"a": 2.0}, ADD)["a"], int)
    nested = {"type": "object", "properties": {"p": {"type": "object", "properties": {"n": {"type": "number"}}}}}
    assert normalise({"p": {"n": "1.5"}}, nested) == {"p": {"n": 1.5}}


def test_agreement_is_token_set_f1() -> None:
    assert agreement("It is sunny in Paris.", "it is SUNNY in paris") == 1.0
    assert agreement("", "") == 1.0 and agreement("yes", "") == 0.0
    assert agreement("sunny in Paris", "rain in Rome") == pytest.approx(2 * 1 / 6)


def test_the_judge_reply_is_parsed_or_refused() -> None:
    assert parse_judge('Here: {"a": 8, "b": 6.5}') == (0.8, 0.65)
    assert parse_judge('{"a": 11, "b": 3}') is None  # out of range
    assert parse_judge('{"a": true, "b": 3}') is None
    assert parse_judge("A is better") is None


def test_the_reserved_bound_covers_a_byte_level_token_count() -> None:
    from mcproute.config import Price

    request = ChatRequest(
        (Message("system", "be brief"), Message("user", "héllo wörld " * 50)),
        (ToolDef("add", "Add two integers", ADD),),
        max_tokens=100,
    )
    price = Price(input=2.0, output=8.0)
    bound = cost_bound(request, price)
    text_bytes = sum(len(m.content.encode()) for m in request.messages)
    assert bound >= (text_bytes * 2.0 + 100 * 8.0) / 1_000_000
    longer = ChatRequest(request.messages, request.tools, max_tokens=200)
    assert cost_bound(longer, price) > bound


@pytest.mark.anyio
async def test_concurrent_reservations_never_pass_the_cap_on_sqlite(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "s.sqlite3") as store:
        cap = SpendCap(store, 1.0)
        granted: list[float] = []

        async def one(usd: float) -> None:
            if await cap.reserve(usd) is not None:
                granted.append(usd)

        async with anyio.create_task_group() as tg:
            for i in range(60):
                tg.start_soon(one, 0.07 + (i % 3) * 0.01)
        assert granted and sum(granted) <= 1.0 < sum(granted) + 0.07
        assert await cap.spent() == pytest.approx(sum(granted))
        window = await cap.reserve(0.0)
        assert window is not None
        await cap.settle(window, granted[0], 0.01)  # settling refunds the unused part of a bound
        assert await cap.spent() == pytest.approx(sum(granted) - granted[0] + 0.01)


@pytest.mark.anyio
@pytest.mark.parametrize("backend", ["memory", "sqlite"])
async def test_outcome_records_round_trip_filter_and_stay_bounded(tmp_path: Path, backend: str) -> None:
    now = [1000.0]
    store: OutcomeStore
    if backend == "memory":
        store = MemoryStore(max_steps=5, ttl_seconds=100, clock=lambda: now[0])
    else:
        store = SqliteStore(tmp_path / "o.sqlite3", max_steps=5, ttl_seconds=100, clock=lambda: now[0])
    assert isinstance(store, OutcomeStore)
    try:
        for i in range(8):
            await store.record_outcome(OutcomeRecord(f"s{i}", "c1", "shadow", now[0] + i, {"i": i, "ok": True}))
        kept = await store.list_outcomes(limit=100)
        assert [r.step_id for r in kept] == ["s7", "s6", "s5", "s4", "s3"]  # newest first, bounded to 5
        assert (await store.list_outcomes(step_id="s6"))[0].data == {"i": 6, "ok": True}
        assert await store.list_outcomes(kind="other") == []
        assert [r.step_id for r in await store.list_outcomes(limit=2)] == ["s7", "s6"]
        with pytest.raises(InvalidRequest, match="s9.*not JSON"):
            await store.record_outcome(OutcomeRecord("s9", "c1", "shadow", now[0], {"bad": float("nan")}))
        with pytest.raises(InvalidRequest, match="limit"):
            await store.list_outcomes(limit=0)
        assert len(await store.list_outcomes()) == 5  # the refused record disturbed nothing
        now[0] += 200  # past the TTL: expired records are not listed
        assert await store.list_outcomes() == []
    finally:
        await store.close()  # type: ignore[attr-defined]


def test_shadow_config_is_off_by_default_and_refuses_an_unknown_judge(tmp_path: Path) -> None:
    base = config_dict(tmp_path)
    assert parse_config(json.dumps(base), environ={}).config.routing.shadow.rate == 0.0
    bad = config_dict(tmp_path, shadow={"rate": 0.1, "judge": {"enabled": True, "model": "nope"}})
    with pytest.raises(ConfigError, match="judge.model 'nope' is not a name in models"):
        parse_config(json.dumps(bad), environ={})
    bad = config_dict(tmp_path, shadow={"rate": 1.5})
    with pytest.raises(ConfigError, match="rate"):
        parse_config(json.dumps(bad), environ={})
    bad = config_dict(tmp_path, shadow={"judge": {"enabled": True}})
    with pytest.raises(ConfigError, match="judge.enabled needs judge.model"):
        parse_config(json.dumps(bad), environ={})


def test_mcproute_shadow_prints_the_figures_per_direction(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mcproute.cli import main

    rows = [
        (
            "s1",
            "fast",
            "reasoning",
            {
                "status": "compared",
                "same_tool": True,
                "args_equal": False,
                "args_equivalent": True,
                "agreement": 0.5,
                "cost_usd": 0.002,
                "judge": {"status": "scored", "live": 0.4, "shadow": 0.9},
            },
        ),
        (
            "s2",
            "fast",
            "reasoning",
            {
                "status": "compared",
                "same_tool": False,
                "args_equal": None,
                "args_equivalent": None,
                "agreement": 0.0,
                "cost_usd": 0.003,
            },
        ),
        ("s3", "reasoning", "fast", {"status": "over_budget", "cost_usd": 0.0}),
    ]

    async def write() -> None:
        async with SqliteStore(tmp_path / "data" / "state.sqlite3") as store:
            for sid, live, shadow, data in rows:
                record = {**data, "live": {"tier": live}, "shadow": {"tier": shadow}}
                await store.record_outcome(OutcomeRecord(sid, "c", "shadow", time.time(), record))

    (tmp_path / "data").mkdir()
    anyio.run(write)
    cfg = tmp_path / "servers.yaml"
    cfg.write_text(json.dumps(config_dict(tmp_path / "data")))
    assert main(["shadow", "--config", str(cfg), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    up, down = report["by_direction"]["fast->reasoning"], report["by_direction"]["reasoning->fast"]
    assert (up["compared"], up["same_tool_share"], up["args_equivalent_share"], up["mean_agreement"]) == (
        2,
        0.5,
        1.0,
        0.25,
    )
    assert (up["judged"], up["mean_judge_live"], up["mean_judge_shadow"], up["cost_usd"]) == (1, 0.4, 0.9, 0.005)
    assert down["by_status"] == {"over_budget": 1} and down["same_tool_share"] is None
    assert main(["shadow", "--config", str(cfg)]) == 0
    text = capsys.readouterr().out
    assert "3 shadow comparison(s)" in text and "fast->reasoning" in text and "reasoning->fast" in text
    assert main(["shadow", "--config", str(cfg), "--state", str(tmp_path / "missing.sqlite3")]) == 2
    assert "no state file" in capsys.readouterr().err
