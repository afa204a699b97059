"""End to end against a real Jaeger v2: spans exported by `setup()` over OTLP/HTTP, read back through
Jaeger's query API (v3 and legacy), span tree and attributes asserted.

The step comes from the in-test pipeline (`telemetry_steps.gateway_server`): the SDK's server span
-> mcproute.route -> chat -> tools/call -> the SDK client span -> the downstream SDK server (a
separate process exporting to the same Jaeger). A gateway-driven variant reuses the `jaeger` fixture.
"""

from __future__ import annotations

import json
import os
import time

import pytest
from mcp import Client

from jaeger_fixture import Jaeger, jaeger  # noqa: F401  (fixture)
from mcproute.cli import main as cli_main
from mcproute.config import TelemetryConfig
from mcproute.telemetry import reader, semconv as sc
from mcproute.telemetry.reader import SpanRecord
from mcproute.telemetry.setup import setup
from otlp_receiver import otlp_receiver
from telemetry_steps import by_name, downstream_params, gateway_server

pytestmark = pytest.mark.jaeger

SERVICE = "mcproute-e2e"


def _tree(records: list[SpanRecord]) -> set[tuple[str, str | None]]:
    by_id = {r.span_id: r for r in records}
    return {(r.name, by_id[r.parent_span_id].name if r.parent_span_id in by_id else None) for r in records}


@pytest.mark.anyio
async def test_steps_read_back_from_jaeger(jaeger: Jaeger, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    since = time.time_ns() - 5_000_000_000
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_http, "OTEL_SERVICE_NAME": SERVICE}
    with otlp_receiver() as provider:  # stands in for the model provider's HTTP endpoint
        with setup(TelemetryConfig(), None, environ=env) as handle:
            assert handle.choice.exporter == "otlp"
            async with Client(downstream_params(jaeger.otlp_http)) as down:
                gw = gateway_server(down, provider.url)
                async with Client(gw, mode="legacy") as up:
                    for step in ("s1", "s2"):
                        result = await up.call_tool(
                            "step", {"text": "hello", "conversation_id": "conv-e2e", "step_id": step}
                        )
                        assert not result.is_error

    def complete(got: list[SpanRecord]) -> bool:
        names = [r.name for r in got]
        return names.count(sc.ROUTE_SPAN_NAME) == 2 and names.count("tools/call echo") == 2

    got = jaeger.wait_for_spans(SERVICE, complete, since_ns=since)
    step_trace = by_name(
        [r for r in got if r.name == sc.ROUTE_SPAN_NAME and r.attributes[sc.STEP_ID] == "s2"], sc.ROUTE_SPAN_NAME
    ).trace_id
    trace = [r for r in got if r.trace_id == step_trace]

    server = by_name(trace, "tools/call step")
    route = by_name(trace, sc.ROUTE_SPAN_NAME)
    chat = by_name(trace, "chat gpt-test")
    call = by_name(trace, "tools/call down__echo")
    send = by_name(trace, "MCP send tools/call echo")
    downstream = by_name(trace, "tools/call echo")
    assert route.parent_span_id == server.span_id
    assert chat.parent_span_id == route.span_id and call.parent_span_id == route.span_id
    assert send.parent_span_id == call.span_id and downstream.parent_span_id == send.span_id
    assert (server.kind, route.kind, chat.kind, call.kind, send.kind, downstream.kind) == (
        "SERVER",
        "INTERNAL",
        "CLIENT",
        "CLIENT",
        "CLIENT",
        "SERVER",
    )
    assert {server.service, route.service, chat.service, call.service} == {
        SERVICE
    } and downstream.service == "downstream"

    for r in (server, route, chat, call, send):
        assert r.attributes[sc.GEN_AI_CONVERSATION_ID] == "conv-e2e", r.name
    assert server.attributes[sc.MCP_SESSION_ID] == "sess-test" and server.attributes[sc.MCP_METHOD_NAME] == "tools/call"
    assert route.attributes[sc.DECISION_TIER] == "fast" and route.attributes[sc.DECISION_MODEL] == "quick"
    assert route.attributes[sc.STICKY_HELD] is True and route.attributes[sc.DECISION_THRESHOLD] == 0.5
    assert json.loads(route.attributes[sc.DECISION_ALTERNATIVES])[0] == ["down__echo", 0.83]
    assert (
        chat.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 11
        and chat.attributes[sc.GEN_AI_RESPONSE_MODEL] == "gpt-test-2026"
    )
    assert call.attributes[sc.GEN_AI_TOOL_NAME] == "down__echo" and call.attributes[sc.MCP_METHOD_NAME] == "tools/call"
    assert downstream.attributes[sc.GEN_AI_TOOL_NAME] == "echo"

    # The second step links to the first.
    first = by_name(
        [r for r in got if r.name == sc.ROUTE_SPAN_NAME and r.attributes[sc.STEP_ID] == "s1"], sc.ROUTE_SPAN_NAME
    )
    assert [(lk["trace_id"], lk["span_id"]) for lk in route.links] == [(first.trace_id, first.span_id)]

    # The legacy API tells the same tree.
    legacy = [
        r
        for r in reader.fetch_jaeger(
            jaeger.query_url, SERVICE, start_ns=since, end_ns=time.time_ns() + 10**10, api="legacy"
        )
        if r.trace_id == step_trace
    ]
    assert _tree(legacy) == _tree(trace)
    assert by_name(legacy, sc.ROUTE_SPAN_NAME).attributes[sc.DECISION_TIER] == "fast"

    # `mcproute traces --jaeger` shows the decision timeline.
    capsys.readouterr()
    assert (
        cli_main(["traces", "--jaeger", jaeger.query_url, "--service", SERVICE, "--conversation", "conv-e2e", "--json"])
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert [(r["step"], r["tool"], r["model"], r["tier"]) for r in rows] == [
        ("s1", "down__echo", "quick", "fast"),
        ("s2", "down__echo", "quick", "fast"),
    ]
    assert all(r["cost_usd"] == pytest.approx(0.00042) and r["latency_ms"] > 0 for r in rows)

    # For the record (MCPROUTE_SHOW_SPANS=1 pytest tests/test_jaeger_e2e.py): what Jaeger returned.
    if os.environ.get("MCPROUTE_SHOW_SPANS"):
        with capsys.disabled():
            print("\nJaeger v3 API returned for one step:")
            for r in sorted(trace, key=lambda r: r.start_ns):
                print(f"  {r.service:13} {r.kind:8} {r.name:28} {dict(sorted(r.attributes.items()))}")
