"""One `run_step` through `mcproute serve` = one trace, read back from a real OTLP/HTTP receiver:
SDK server span -> mcproute.route -> chat <model> -> tools/call <tool>, conversation id everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client

from mcproute.config import TelemetryConfig, parse_config
from mcproute.gateway.identity import ConversationIdentity
from mcproute.runtime import Engine
from mcproute.telemetry import semconv as sc
from mcproute.telemetry.reader import SpanRecord
from mcproute.telemetry.setup import setup
from otlp_receiver import otlp_receiver
from runtime_support import EASY, config_dict, serve_http, write_config

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_PARENT = "00f067aa0ba902b7"


def _one(spans: list[SpanRecord], pred: object) -> SpanRecord:
    found = [s for s in spans if pred(s)]  # type: ignore[operator]
    assert len(found) == 1, [(s.name, s.kind) for s in spans]
    return found[0]


@pytest.mark.anyio
async def test_run_step_is_one_trace_with_parents_conversation_and_decision(tmp_path: Path) -> None:
    config = write_config(tmp_path / "servers.yaml", tmp_path / "data")
    with otlp_receiver() as rx:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": rx.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            "OTEL_SERVICE_NAME": "mcproute-test",
        }
        async with serve_http(config, **env) as (_, url), Client(url, mode="legacy") as client:
            meta = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_PARENT}-01"}
            first = await client.call_tool(
                "mcproute__run_step", {"text": EASY + " [bad]", "conversation_id": "traced"}, meta=meta
            )
            assert not first.is_error
            await client.call_tool("mcproute__run_step", {"text": EASY, "conversation_id": "traced"})
            # A call the client chose itself, in the same conversation.
            await client.call_tool(
                "time__get_current_time", {"timezone": "UTC"}, meta={"mcproute/conversation_id": "traced"}
            )

            def complete(spans: list[SpanRecord]) -> bool:
                return (
                    sum(s.name == sc.ROUTE_SPAN_NAME for s in spans) >= 3
                    and sum(s.name.startswith("tools/call time__") and s.kind.endswith("CLIENT") for s in spans) >= 3
                )

            spans = rx.wait_for(complete)

    # The first step continued the caller's trace.
    trace = [s for s in spans if s.trace_id == CALLER_TRACE]
    server = _one(trace, lambda s: s.name == "tools/call mcproute__run_step" and s.kind.endswith("SERVER"))
    assert server.parent_span_id == CALLER_PARENT
    route = _one(trace, lambda s: s.name == sc.ROUTE_SPAN_NAME)
    assert route.parent_span_id == server.span_id
    chats = [s for s in trace if s.name.startswith("chat ")]
    # The fast model's schema-invalid call, then the reasoning model's: two attempts, both under the route.
    assert sorted(c.attributes[sc.DECISION_MODEL] for c in chats) == ["deep", "quick"]
    assert all(c.parent_span_id == route.span_id and c.kind.endswith("CLIENT") for c in chats)
    assert all(
        c.attributes[sc.GEN_AI_OPERATION_NAME] == "chat" and sc.GEN_AI_PROVIDER_NAME in c.attributes for c in chats
    )
    tool = _one(trace, lambda s: s.name.startswith("tools/call time__") and s.kind.endswith("CLIENT"))
    assert tool.parent_span_id == route.span_id and tool.attributes[sc.SERVER] == "time"
    for s in trace:
        assert s.attributes.get(sc.GEN_AI_CONVERSATION_ID) == "traced", s.name
    a = route.attributes
    assert a[sc.DECISION_TIER] == "reasoning" and a[sc.DECISION_MODEL] == "deep"  # the cascade, as carried out
    assert "cascade" in a[sc.STICKY_REASON] and '"cascade":1.0' in a[sc.DECISION_SIGNALS]
    assert a[sc.DECISION_TOOL].startswith("time__") and a[sc.STEP_ID].startswith("s-")
    for key in (
        sc.DECISION_ALTERNATIVES,
        sc.DECISION_SIGNALS,
        sc.DECISION_REASON,
        sc.DECISION_THRESHOLD,
        sc.POLICY_VERSION,
        sc.STICKY_HELD,
        sc.STICKY_REASON,
        sc.COST_USD,
    ):
        assert key in a, key

    # The second step is its own trace, linked to the first step's route span.
    routes = sorted((s for s in spans if s.name == sc.ROUTE_SPAN_NAME), key=lambda s: s.start_ns)
    second = routes[1]
    assert second.trace_id != CALLER_TRACE
    assert any(
        lk["span_id"] == route.span_id and lk["attributes"].get(sc.LINK_RELATION) == sc.LINK_PREVIOUS_STEP
        for lk in second.links
    )
    # The proxied call: its decision is the client's, and it is traced into the conversation too.
    proxied = routes[2]
    assert (
        proxied.attributes[sc.DECISION_SOURCE] == sc.SOURCE_CLIENT
        and proxied.attributes[sc.DECISION_TOOL] == "time__get_current_time"
    )
    assert proxied.attributes[sc.GEN_AI_CONVERSATION_ID] == "traced"
    call = _one(
        [s for s in spans if s.trace_id == proxied.trace_id],
        lambda s: s.name == "tools/call time__get_current_time" and s.kind.endswith("CLIENT"),
    )
    assert call.parent_span_id == proxied.span_id


@pytest.mark.anyio
async def test_complete_continues_the_callers_trace_into_the_provider_request(tmp_path: Path) -> None:
    with otlp_receiver() as rx:
        cfg = config_dict(tmp_path, backend="memory")
        cfg["models"]["quick"] = {
            "tier": "fast",
            "provider": "openai",
            "base_url": rx.url + "/v1",
            "api_key": "sk-runtime-secret",
            "model": "gpt-test",
            "price": {"input": 0.1, "output": 0.4},
        }
        loaded = parse_config(json.dumps(cfg), environ={})
        caller = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_PARENT}-01"}
        with setup(TelemetryConfig(exporter="otlp", endpoint=rx.url), loaded, environ={}):
            async with Engine(loaded) as engine:
                decision, chat = await engine.complete(
                    [{"role": "user", "content": EASY}], identity=ConversationIdentity("oa", "header"), meta=caller
                )
        assert (decision.tier, chat.model, chat.response.text) == ("fast", "quick", "ok")
        spans = rx.wait_for(lambda ss: any(s.name.startswith("chat ") for s in ss))
        raw = b"".join(rx.raw)
    route = _one(spans, lambda s: s.name == sc.ROUTE_SPAN_NAME)
    assert route.trace_id == CALLER_TRACE and route.parent_span_id == CALLER_PARENT
    chat_span = _one(spans, lambda s: s.name == "chat gpt-test")
    assert chat_span.parent_span_id == route.span_id and chat_span.trace_id == CALLER_TRACE
    assert (
        chat_span.attributes[sc.GEN_AI_RESPONSE_MODEL] == "gpt-test"
        and chat_span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 11
    )
    assert all(s.attributes.get(sc.GEN_AI_CONVERSATION_ID) == "oa" for s in spans if s.trace_id == CALLER_TRACE)
    # The provider request carried the step's context: the fake provider saw the route span as parent.
    assert rx.chat_headers and rx.chat_headers[0]["traceparent"] == f"00-{CALLER_TRACE}-{route.span_id}-01"
    assert b"sk-runtime-secret" not in raw
