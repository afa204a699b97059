"""One routed step through a real SDK pipeline (built by `setup()`) into a plain OTLP/HTTP receiver:
span tree and parent ids, conversation id on every span, decision attributes, and W3C propagation
(a client's traceparent continued; the downstream SDK server a child in the same trace; the
provider request carrying traceparent)."""

from __future__ import annotations

import pytest
from mcp import Client

from mcproute.config import TelemetryConfig
from mcproute.telemetry import semconv as sc, spans
from mcproute.telemetry.setup import setup
from otlp_receiver import Receiver, otlp_receiver
from telemetry_steps import by_name, downstream_params, gateway_server

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
CLIENT_TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"


@pytest.fixture
def receiver() -> Receiver:
    with otlp_receiver() as rx:
        yield rx


async def _one_step(rx: Receiver, conversation: str, *, traceparent: str | None) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": rx.url}
    # The config asks for JSONL: the environment variable must take over.
    with setup(TelemetryConfig(exporter="jsonl", service_name="mcproute-test"), None, environ=env) as handle:
        assert handle.choice.exporter == "otlp" and handle.choice.why == "OTEL_EXPORTER_OTLP_ENDPOINT"
        async with Client(downstream_params(rx.url)) as down:
            gw = gateway_server(down, rx.url)
            # mode="legacy" keeps real JSON-RPC framing between client and server (the in-process
            # fast path skips it), so the SDK's client span and _meta injection both happen.
            async with Client(gw, mode="legacy") as up:
                ctx = spans.extract_context(meta={"traceparent": traceparent} if traceparent else None)
                from opentelemetry import context as otel_context

                token = otel_context.attach(ctx) if ctx is not None else None
                try:
                    result = await up.call_tool(
                        "step", {"text": "hello", "conversation_id": conversation, "step_id": "s1"}
                    )
                finally:
                    if token is not None:
                        otel_context.detach(token)
                assert not result.is_error, result


@pytest.mark.anyio
async def test_one_step_is_one_correctly_parented_trace(receiver: Receiver) -> None:
    await _one_step(receiver, "conv-otlp", traceparent=CLIENT_TRACEPARENT)
    got = receiver.wait_for(lambda s: any(r.service == "downstream" and r.name == "tools/call echo" for r in s))
    ours = [r for r in got if r.service == "mcproute-test"]

    server = by_name(ours, "tools/call step")
    route = by_name(ours, sc.ROUTE_SPAN_NAME)
    chat = by_name(ours, "chat gpt-test")
    call = by_name(ours, "tools/call down__echo")
    send = by_name(ours, "MCP send tools/call echo")
    downstream = by_name(got, "tools/call echo", service="downstream")

    # One trace, the client's, through the gateway into the downstream server.
    for r in (server, route, chat, call, send, downstream):
        assert r.trace_id == CLIENT_TRACE, r.name
    assert (server.kind, route.kind, chat.kind, call.kind, downstream.kind) == (
        "SERVER",
        "INTERNAL",
        "CLIENT",
        "CLIENT",
        "SERVER",
    )
    assert route.parent_span_id == server.span_id
    assert chat.parent_span_id == route.span_id and call.parent_span_id == route.span_id
    assert send.parent_span_id == call.span_id
    assert downstream.parent_span_id == send.span_id
    # The server span's parent is the SDK client span that carried the client's context.
    client_send = by_name(ours, "MCP send tools/call step")
    assert client_send.parent_span_id == CLIENT_SPAN and server.parent_span_id == client_send.span_id

    # gen_ai.conversation.id on every span of the step that mcproute's process made.
    # (The client's own tools/list before the call is in the client's trace but not in the step.)
    step_ids = {server.span_id}
    for r in sorted(ours, key=lambda r: r.start_ns):
        if r.parent_span_id in step_ids:
            step_ids.add(r.span_id)
    step_spans = [r for r in ours if r.span_id in step_ids]
    assert len(step_spans) >= 6
    assert {r.attributes.get(sc.GEN_AI_CONVERSATION_ID) for r in step_spans} == {"conv-otlp"}, [
        (r.name, r.attributes.get(sc.GEN_AI_CONVERSATION_ID)) for r in step_spans
    ]
    assert server.attributes[sc.MCP_SESSION_ID] == "sess-test"
    assert server.attributes[sc.MCP_METHOD_NAME] == "tools/call"

    a = route.attributes
    assert a[sc.DECISION_TOOL] == "down__echo" and a[sc.DECISION_TIER] == "fast" and a[sc.DECISION_MODEL] == "quick"
    assert a[sc.STICKY_HELD] is True and a[sc.POLICY_VERSION] == "test-policy-1" and a[sc.DECISION_THRESHOLD] == 0.5
    assert a[sc.DECISION_ALTERNATIVES].startswith('[["down__echo",0.83]')
    assert a[sc.STEP_ID] == "s1" and a[sc.COST_USD] == pytest.approx(0.00042)

    c = chat.attributes
    assert (c[sc.GEN_AI_OPERATION_NAME], c[sc.GEN_AI_PROVIDER_NAME], c[sc.GEN_AI_REQUEST_MODEL]) == (
        "chat",
        "openai",
        "gpt-test",
    )
    assert (c[sc.GEN_AI_RESPONSE_MODEL], c[sc.GEN_AI_USAGE_INPUT_TOKENS], c[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (
        "gpt-test-2026",
        11,
        3,
    )
    assert c[sc.ATTEMPT] == 1 and c[sc.COST_USD] == pytest.approx(0.00042)
    assert sc.GEN_AI_INPUT_MESSAGES not in c  # content capture is off by default

    t = call.attributes
    assert (t[sc.MCP_METHOD_NAME], t[sc.GEN_AI_TOOL_NAME], t[sc.SERVER], t[sc.DOWNSTREAM_TOOL]) == (
        "tools/call",
        "down__echo",
        "down",
        "echo",
    )

    # The provider request carried the chat span's context.
    assert receiver.chat_headers[-1]["traceparent"] == f"00-{CLIENT_TRACE}-{chat.span_id}-01"


@pytest.mark.anyio
async def test_without_client_context_the_server_span_roots_a_new_trace(receiver: Receiver) -> None:
    await _one_step(receiver, "conv-fresh", traceparent=None)
    got = receiver.wait_for(lambda s: any(r.service == "downstream" and r.name == "tools/call echo" for r in s))
    route = by_name(got, sc.ROUTE_SPAN_NAME)
    assert route.trace_id != CLIENT_TRACE
    downstream = by_name(got, "tools/call echo", service="downstream")
    assert downstream.trace_id == route.trace_id


def test_extract_context_reads_meta_first_then_headers_case_insensitively() -> None:
    from opentelemetry import trace

    other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    both = spans.extract_context(meta={"traceparent": CLIENT_TRACEPARENT}, headers={"traceparent": other})
    assert both is not None
    assert f"{trace.get_current_span(both).get_span_context().trace_id:032x}" == CLIENT_TRACE
    from_headers = spans.extract_context(meta={"progressToken": 1}, headers={"Traceparent": other, "TraceState": "k=v"})
    assert from_headers is not None
    sc_ = trace.get_current_span(from_headers).get_span_context()
    assert f"{sc_.span_id:016x}" == "b7ad6b7169203331" and sc_.trace_state.get("k") == "v"
    assert spans.extract_context(meta={"traceparent": "garbage"}, headers={}) is None
    assert spans.extract_context(None, None) is None


def test_inject_writes_current_span_into_meta_and_headers(receiver: Receiver) -> None:
    with setup(TelemetryConfig(exporter="otlp", endpoint=receiver.url), None, environ={}):
        with spans.route_span("conv-inject", "s1") as span:
            meta: dict[str, object] = {"progressToken": 7}
            spans.inject_into_meta(meta)
            headers = spans.inject_headers({})
            ctx = span.get_span_context()
    expected = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"
    assert meta["traceparent"] == expected and meta["progressToken"] == 7
    assert headers["traceparent"] == expected
