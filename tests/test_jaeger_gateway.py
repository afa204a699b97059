"""The issue's end-to-end: `mcproute serve` exporting to a real Jaeger v2 over OTLP/HTTP, steps run
through the gateway by a real MCP client, the trace read back through Jaeger's query API.

Span tree asserted per step: SDK server span `tools/call mcproute__run_step` → `mcproute.route`
→ `chat <model>` (one per provider attempt) and `tools/call time__…` (CLIENT) → the SDK's own
`MCP send tools/call …` span → the downstream server's span (mcp-server-time does not export, so
the tree ends at our client span). `gen_ai.conversation.id` is on every span of ours.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from mcp import Client

from jaeger_fixture import Jaeger, jaeger  # noqa: F401  (fixture)
from mcproute.cli import main as cli_main
from mcproute.telemetry import semconv as sc
from mcproute.telemetry.reader import SpanRecord
from runtime_support import EASY, HARD, serve_http, write_config

pytestmark = pytest.mark.jaeger

SERVICE = "mcproute-gateway-e2e"
CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_PARENT = "b7ad6b7169203331"


def _only(spans: list[SpanRecord], name: str, kind: str | None = None) -> SpanRecord:
    found = [s for s in spans if s.name == name and (kind is None or s.kind.endswith(kind))]
    assert len(found) == 1, (name, sorted((s.name, s.kind) for s in spans))
    return found[0]


@pytest.mark.anyio
async def test_gateway_steps_are_traces_in_jaeger(
    jaeger: Jaeger,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    since = time.time_ns() - 5_000_000_000
    config = write_config(tmp_path / "servers.yaml", tmp_path / "data")
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_http,
        "OTEL_SERVICE_NAME": SERVICE,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    async with serve_http(config, **env) as (_, url), Client(url, mode="legacy") as client:
        meta = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_PARENT}-01"}
        hard = await client.call_tool("mcproute__run_step", {"text": HARD, "conversation_id": "jaeger-conv"}, meta=meta)
        assert not hard.is_error, hard.content
        easy = await client.call_tool("mcproute__run_step", {"text": EASY, "conversation_id": "jaeger-conv"})
        assert not easy.is_error, easy.content

        def complete(got: list[SpanRecord]) -> bool:
            return (
                sum(s.name == sc.ROUTE_SPAN_NAME for s in got) >= 2
                and sum(s.name.startswith("tools/call time__") and s.kind.endswith("CLIENT") for s in got) >= 2
            )

        got = jaeger.wait_for_spans(SERVICE, complete, since_ns=since)

    # Step one continued the caller's trace: caller → server span → route → chat + tools/call.
    trace = [s for s in got if s.trace_id == CALLER_TRACE]
    server = _only(trace, "tools/call mcproute__run_step", "SERVER")
    assert server.parent_span_id == CALLER_PARENT
    route = _only(trace, sc.ROUTE_SPAN_NAME)
    assert route.parent_span_id == server.span_id and route.kind.endswith("INTERNAL")
    chats = [s for s in trace if s.name.startswith("chat ")]
    assert chats and all(c.parent_span_id == route.span_id and c.kind.endswith("CLIENT") for c in chats)
    tool = next(s for s in trace if s.name.startswith("tools/call time__") and s.kind.endswith("CLIENT"))
    assert tool.parent_span_id == route.span_id
    assert any(s.parent_span_id == tool.span_id and s.name.startswith("MCP send tools/call") for s in trace)
    for s in trace:
        if s.service == SERVICE and not s.name.startswith("MCP send"):
            assert s.attributes.get(sc.GEN_AI_CONVERSATION_ID) == "jaeger-conv", s.name

    a = route.attributes
    assert a[sc.DECISION_TIER] == "reasoning" and a[sc.DECISION_MODEL] == "deep"
    assert a[sc.DECISION_TOOL].startswith("time__")
    alternatives = json.loads(a[sc.DECISION_ALTERNATIVES])
    assert alternatives and alternatives[0][0] == a[sc.DECISION_TOOL]
    for key in (
        sc.DECISION_SIGNALS,
        sc.DECISION_REASON,
        sc.DECISION_THRESHOLD,
        sc.POLICY_VERSION,
        sc.STICKY_HELD,
        sc.STICKY_REASON,
    ):
        assert key in a, key
    assert chats[0].attributes[sc.GEN_AI_OPERATION_NAME] == "chat" and sc.GEN_AI_PROVIDER_NAME in chats[0].attributes

    # Step two: its own trace, sticky on the reasoning tier, linked to step one.
    second = next(s for s in got if s.name == sc.ROUTE_SPAN_NAME and s.trace_id != CALLER_TRACE)
    assert second.attributes[sc.DECISION_TIER] == "reasoning" and second.attributes[sc.STICKY_HELD] is True
    assert any(lk["span_id"] == route.span_id for lk in second.links)

    # `mcproute traces --jaeger` tells the same story as a timeline.
    capsys.readouterr()
    assert (
        cli_main(
            ["traces", "--jaeger", jaeger.query_url, "--service", SERVICE, "--conversation", "jaeger-conv", "--json"]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert [r["tier"] for r in rows] == ["reasoning", "reasoning"]
    assert all(r["tool"].startswith("time__") for r in rows)
