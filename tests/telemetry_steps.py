"""A small in-test step pipeline built only from the telemetry span helpers, shared by the OTLP,
JSONL and Jaeger tests until the gateway drives them: SDK server span -> route -> chat -> tools/call.

`gateway_server()` is a real `MCPServer` whose one tool runs a step the way the gateway will:
enrich the SDK's server span, open the route span with the decision, make one provider attempt
over real loopback HTTP (traceparent injected into its headers) and call a real downstream MCP
server inside a `tools/call` client span.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.server.mcpserver import MCPServer

from mcproute.router.step import Candidate, Decision
from mcproute.telemetry import decision as tdecision, spans
from mcproute.telemetry.reader import SpanRecord

DOWNSTREAM = Path(__file__).parent / "telemetry_peers" / "downstream_server.py"


def make_decision(conversation_id: str, step_id: str, **over: Any) -> Decision:
    fields: dict[str, Any] = dict(
        step_id=step_id,
        conversation_id=conversation_id,
        tool="down__echo",
        tool_score=0.83,
        alternatives=(
            Candidate("down__echo", 0.83),
            Candidate("time__get_current_time", 0.41),
            Candidate("git__git_status", 0.12),
        ),
        tier="fast",
        model="quick",
        model_alternatives=(Candidate("quick", 0.7), Candidate("deep", 0.3)),
        reasoning_score=0.21,
        threshold=0.5,
        signals={"length": 0.1, "math": 0.0, "intelligence_priority": 0.2},
        reason="echo matches the request; a short request stays on the fast tier",
        sticky_held=True,
        sticky_reason="tier held: fast streak",
        policy_version="test-policy-1",
        latency_ms=0.42,
    )
    fields.update(over)
    return Decision(**fields)


def downstream_params(otlp_endpoint: str | None, extra_env: dict[str, str] | None = None) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    if otlp_endpoint:
        env.update(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
                "OTEL_SERVICE_NAME": "downstream",
                "OTEL_BSP_SCHEDULE_DELAY": "50",
            }
        )
    else:
        env["OTEL_SDK_DISABLED"] = "true"
    env.update(extra_env or {})
    return StdioServerParameters(command=sys.executable, args=[str(DOWNSTREAM)], env=env)


def gateway_server(
    down: Client,
    provider_url: str,
    *,
    provider_headers: dict[str, str] | None = None,
    on_step: Callable[[str, str], None] | None = None,
) -> MCPServer:
    """An upstream MCP server whose `step` tool emits the span tree of one routed step."""
    gw = MCPServer("gw-under-test")

    @gw.tool()
    async def step(text: str, conversation_id: str, step_id: str) -> str:
        """Run one routed step."""
        spans.enrich_server_span(conversation_id, session_id="sess-test")
        with spans.route_span(conversation_id, step_id) as route:
            tdecision.record_decision(route, make_decision(conversation_id, step_id))
            with spans.chat_span(
                "gpt-test", "openai", request_model="gpt-test", attempt=1, deployment="primary"
            ) as chat:
                headers = spans.inject_headers(dict(provider_headers or {}))
                async with httpx.AsyncClient(timeout=10) as http:
                    reply = (
                        await http.post(
                            provider_url + "/v1/chat/completions", headers=headers, json={"model": "gpt-test"}
                        )
                    ).json()
                usage = reply["usage"]
                spans.record_usage(
                    chat,
                    input_tokens=usage["prompt_tokens"],
                    output_tokens=usage["completion_tokens"],
                    cost_usd=0.00042,
                    response_model=reply["model"],
                    finish_reasons=["stop"],
                )
                spans.record_content(
                    chat,
                    input_messages=json.dumps([{"role": "user", "content": text}]),
                    output_messages=json.dumps([{"role": "assistant", "content": "ok"}]),
                )
            with spans.tool_call_span("down__echo", "down", downstream_tool="echo") as call:
                result = await down.call_tool("echo", {"text": text})
                spans.record_tool_result(call, is_error=bool(result.is_error))
            tdecision.record_step_cost(route, 0.00042)
        if on_step:
            on_step(conversation_id, step_id)
        return "done"

    return gw


def by_name(records: Sequence[SpanRecord], name: str, service: str | None = None) -> SpanRecord:
    found = [r for r in records if r.name == name and (service is None or r.service == service)]
    assert len(found) == 1, f"expected one span {name!r}, got {len(found)} among {sorted(r.name for r in records)}"
    return found[0]
