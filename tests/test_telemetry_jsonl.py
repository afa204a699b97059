"""The default exporter: a JSONL file in the data directory, read back into decision timelines,
and `mcproute traces` over it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcproute.cli import main as cli_main
from mcproute.config import parse_config
from mcproute.errors import DataFileError, RateLimited
from mcproute.telemetry import decision as tdecision, reader, semconv as sc, spans
from mcproute.telemetry.setup import setup
from telemetry_steps import make_decision


def _run_conversation(tmp_path: Path) -> Path:
    cfg = tmp_path / "servers.yaml"
    cfg.write_text("data_dir: data\n")
    loaded = parse_config(cfg.read_text(), source=str(cfg), environ={})
    with setup(None, loaded, environ={}) as handle:
        assert handle.choice.exporter == "jsonl"
        for i, tier in enumerate(["fast", "fast", "reasoning"]):
            with spans.route_span("conv-j", f"s{i}") as route:
                tdecision.record_decision(
                    route,
                    make_decision(
                        "conv-j",
                        f"s{i}",
                        tier=tier,
                        model="deep" if tier == "reasoning" else "quick",
                        sticky_held=tier == "fast",
                        sticky_reason="escalated: math",
                    ),
                )
                if tier == "reasoning":
                    try:
                        with spans.chat_span("o-test", "openai", attempt=1):
                            raise RateLimited("429 slow down", retry_after=1.5)
                    except RateLimited:
                        pass
                with spans.chat_span(
                    "o-test" if tier == "reasoning" else "gpt-test", "openai", attempt=2 if tier == "reasoning" else 1
                ) as chat:
                    spans.record_usage(chat, input_tokens=10 * (i + 1), output_tokens=2, cost_usd=0.001 * (i + 1))
                with spans.tool_call_span("down__echo", "down", downstream_tool="echo"):
                    pass
        with spans.route_span("conv-other", "x0") as route:
            tdecision.record_decision(route, make_decision("conv-other", "x0"))
    # Leaving the handle flushed the batch processor: the file is complete now.
    path = loaded.data_path("traces.jsonl")
    assert path == tmp_path / "data" / "traces.jsonl"
    return path


def test_jsonl_round_trip_keeps_tree_types_links_and_status(tmp_path: Path) -> None:
    path = _run_conversation(tmp_path)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert {
        "trace_id",
        "span_id",
        "parent_span_id",
        "name",
        "kind",
        "start_time_unix_nano",
        "end_time_unix_nano",
        "attributes",
        "events",
        "links",
        "status",
        "resource",
    } <= set(lines[0])
    records = reader.read_jsonl(path)
    assert len(records) == len(lines) == 3 * 3 + 1 + 1  # route+chat+tool per step, one 429 attempt, one other route
    routes = sorted(
        (r for r in records if r.name == sc.ROUTE_SPAN_NAME and r.conversation_id == "conv-j"), key=lambda r: r.start_ns
    )
    assert [r.attributes[sc.STEP_ID] for r in routes] == ["s0", "s1", "s2"]
    assert all(r.service == "mcproute" and r.kind == "INTERNAL" and r.parent_span_id is None for r in routes)
    # Each step is its own trace, linked to the previous step of the conversation.
    assert len({r.trace_id for r in routes}) == 3
    assert routes[0].links == () or all(lk["trace_id"] not in {r.trace_id for r in routes} for lk in routes[0].links)
    for prev, cur in zip(routes, routes[1:], strict=False):
        assert [(lk["trace_id"], lk["span_id"], lk["attributes"][sc.LINK_RELATION]) for lk in cur.links] == [
            (prev.trace_id, prev.span_id, "previous_step")
        ]
    # Types survive: bool, float, int, JSON strings.
    a = routes[0].attributes
    assert a[sc.STICKY_HELD] is True and isinstance(a[sc.DECISION_THRESHOLD], float)
    assert json.loads(a[sc.DECISION_ALTERNATIVES])[0] == ["down__echo", 0.83]
    assert json.loads(a[sc.DECISION_SIGNALS]) == {"length": 0.1, "math": 0.0, "intelligence_priority": 0.2}
    limited = next(r for r in records if r.status == "ERROR")
    assert limited.attributes[sc.ERROR_TYPE] == "rate_limited" and limited.attributes[sc.RETRY_AFTER_S] == 1.5
    assert limited.parent_span_id == routes[2].span_id and limited.conversation_id == "conv-j"
    assert limited.events and limited.events[0]["name"] == "exception"


def test_timeline_and_conversations(tmp_path: Path) -> None:
    records = reader.read_jsonl(_run_conversation(tmp_path))
    rows = reader.timeline(records, "conv-j")
    assert [(r.step, r.tier, r.model, r.tool, r.sticky_held, r.attempts) for r in rows] == [
        ("s0", "fast", "quick", "down__echo", True, 1),
        ("s1", "fast", "quick", "down__echo", True, 1),
        ("s2", "reasoning", "deep", "down__echo", False, 2),
    ]
    assert [r.cost_usd for r in rows] == pytest.approx([0.001, 0.002, 0.003])
    assert rows[2].errors == ("rate_limited",)
    assert all(r.latency_ms >= 0 and r.reason for r in rows)
    convs = reader.conversations(records)
    assert [c.conversation_id for c in convs] == ["conv-other", "conv-j"]  # most recent first
    assert convs[1].steps == 3 and convs[1].tiers == ("fast", "reasoning") and convs[1].cost_usd == pytest.approx(0.006)


def test_traces_cli_lists_and_shows_a_timeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run_conversation(tmp_path)
    cfg = str(tmp_path / "servers.yaml")
    assert cli_main(["traces", "--config", cfg]) == 0
    out = capsys.readouterr().out
    assert "conv-j" in out and "conv-other" in out and "fast/reasoning" in out
    assert cli_main(["traces", "--config", cfg, "--conversation", "conv-j", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["tier"] for r in rows] == ["fast", "fast", "reasoning"]
    assert cli_main(["traces", "--config", cfg, "--conversation", "conv-j", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "s2" in out and "rate_limited" in out and "s0 " not in out
    assert cli_main(["traces", "--config", cfg, "--conversation", "nope"]) == 1
    assert "no steps for conversation 'nope'" in capsys.readouterr().err


def test_bad_jsonl_line_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "traces.jsonl"
    path.write_text('{"trace_id": "a", "span_id": "b", "name": "x"}\n{"trace_id": \n')
    with pytest.raises(DataFileError, match=r"traces\.jsonl:2: not a span record"):
        reader.read_jsonl(path)
    assert cli_main(["traces", "--config", str(tmp_path / "none.yaml"), "--file", str(path)]) == 1
    assert "traces.jsonl:2" in capsys.readouterr().err
    assert cli_main(["traces", "--config", str(tmp_path / "none.yaml"), "--file", str(tmp_path / "missing.jsonl")]) == 1
    assert "missing.jsonl" in capsys.readouterr().err


def test_unreachable_jaeger_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert cli_main(["traces", "--config", str(tmp_path / "none.yaml"), "--jaeger", f"http://127.0.0.1:{port}"]) == 1
    assert f"cannot read http://127.0.0.1:{port}" in capsys.readouterr().err
