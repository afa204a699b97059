"""The stdio upstream's lean tools/call pass-through (`gateway/_fast_path.py`).

Real `mcproute serve` processes on real pipes, each run twice with the same raw JSON-RPC lines:
once as shipped and once with `MCPROUTE_FAST_PATH=0` (every request through the SDK). The
responses must be equal, and the jsonl traces say which calls took the fast path (the
`mcproute.fast_path` attribute on the SERVER span).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ECHO = str(Path(__file__).resolve().parents[1] / "benchmarks" / "echo_server.py")
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

# A downstream with a tool that reports its own failure (`isError: true`).
FAILING = """
import anyio, mcp_types as types
from mcp.server import Server
from mcp.server.stdio import stdio_server

async def list_tools(ctx, params):
    return types.ListToolsResult(tools=[types.Tool(name="fail", input_schema={"type": "object"})])

async def call_tool(ctx, params):
    return types.CallToolResult(content=[types.TextContent(type="text", text="it broke")], is_error=True)

async def main():
    server = Server("failing", version="1.0", on_list_tools=list_tools, on_call_tool=call_tool)
    async with stdio_server() as (r, w):
        await server.run(r, w, server.create_initialization_options())

anyio.run(main)
"""


def envelope(**extra: Any) -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
        **extra,
    }


def call(i: int, name: str, arguments: Any, meta: dict[str, Any] | None) -> dict[str, Any]:
    params: dict[str, Any] = {"name": name, "arguments": arguments}
    if meta is not None:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": params}


MODERN = [
    {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": envelope()}},  # opens the era
    call(2, "fx__echo", {"text": "hello"}, envelope(traceparent=TRACEPARENT)),
    call(3, "fx__nope", {"text": "x"}, envelope()),  # unknown tool
    call(4, "fx__echo", {"text": 3}, envelope()),  # schema-invalid arguments
    call(5, "bad__fail", {}, envelope()),  # the downstream's own isError
    call(6, "fx__echo", {"text": "p"}, envelope(progressToken="tok")),  # progress: the SDK's
    call(
        7, "fx__echo", {"text": "q"}, envelope(**{"io.modelcontextprotocol/logLevel": "info"})
    ),  # log opt-in: the SDK's
    call(8, "fx__echo", {"text": "r"}, {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}),  # half an envelope
    call(9, "fx__echo", "not an object", envelope()),
]
FAST_IDS = {"2", "4", "5"}

LEGACY = [
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    },
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    call(2, "fx__echo", {"text": "hello"}, None),
    call(3, "fx__nope", {}, None),
    call(4, "fx__echo", {"text": 3}, None),
    call(5, "bad__fail", {}, None),
]


def readline(proc: subprocess.Popen[bytes], timeout: float = 30) -> bytes:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "no response from the gateway"
    return proc.stdout.readline()


def serve(tmp: Path, lines: list[dict[str, Any]], *, fast: bool) -> tuple[dict[Any, Any], list[dict[str, Any]]]:
    """Send `lines` one at a time to a fresh `mcproute serve`; its responses by id, and its spans."""
    work = tmp / ("fast" if fast else "slow")
    work.mkdir()
    failing = tmp / "failing.py"
    failing.write_text(FAILING)
    (work / "servers.yaml").write_text(
        f'servers:\n  fx: {{command: python, args: ["{ECHO}"]}}\n  bad: {{command: python, args: ["{failing}"]}}\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONWARNINGS"] = "ignore"
    env["MCPROUTE_FAST_PATH"] = "1" if fast else "0"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcproute", "serve", "--config", "servers.yaml"],
        cwd=work,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    responses: dict[Any, Any] = {}
    try:
        for message in lines:
            proc.stdin.write((json.dumps(message) + "\n").encode())
            proc.stdin.flush()
            if "id" in message:
                answer = json.loads(readline(proc))
                responses[answer["id"]] = answer
        proc.stdin.close()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
        if not proc.stdin.closed:
            proc.stdin.close()
    spans = [json.loads(line) for line in (work / ".mcproute" / "traces.jsonl").read_text().splitlines()]
    return responses, spans


def server_spans(spans: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        s["attributes"]["jsonrpc.request.id"]: s
        for s in spans
        if s["kind"] == "SERVER" and s["name"].startswith("tools/call")
    }


def test_modern_era_fast_path_answers_exactly_as_the_sdk_path(tmp_path: Path) -> None:
    fast, fast_spans = serve(tmp_path, MODERN, fast=True)
    slow, slow_spans = serve(tmp_path, MODERN, fast=False)
    assert fast == slow
    assert fast[2]["result"]["content"] == [{"type": "text", "text": "hello"}]
    assert fast[2]["result"]["resultType"] == "complete"
    assert fast[2]["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "mcproute"
    assert fast[3]["error"]["code"] == -32602 and "unknown tool 'fx__nope'" in fast[3]["error"]["message"]
    assert fast[4]["result"]["isError"] is True and fast[4]["result"]["_meta"]["mcproute/error"] == "invalid_arguments"
    assert fast[5]["result"]["isError"] is True and fast[5]["result"]["content"][0]["text"] == "it broke"
    assert fast[8]["error"]["code"] == -32602

    taken = {rid for rid, s in server_spans(fast_spans).items() if s["attributes"].get("mcproute.fast_path")}
    assert taken == FAST_IDS
    assert not any(s["attributes"].get("mcproute.fast_path") for s in slow_spans)

    # The fast path's SERVER span has the SDK span's attributes and continues the caller's trace.
    fast_span, slow_span = server_spans(fast_spans)["2"], server_spans(slow_spans)["2"]
    assert fast_span["name"] == slow_span["name"] == "tools/call fx__echo"
    assert {k: v for k, v in fast_span["attributes"].items() if k != "mcproute.fast_path"} == slow_span["attributes"]
    assert (
        fast_span["trace_id"] == TRACEPARENT.split("-")[1] and fast_span["parent_span_id"] == TRACEPARENT.split("-")[2]
    )
    # The engine's call hook still ran under it (its CLIENT span to the downstream, same trace).
    children = [s for s in fast_spans if s["parent_span_id"] == fast_span["span_id"]]
    assert children and all(s["trace_id"] == fast_span["trace_id"] for s in children)
    # Errors are marked on the span as the SDK marks them.
    assert (
        server_spans(fast_spans)["5"]["attributes"]["error.type"]
        == server_spans(slow_spans)["5"]["attributes"]["error.type"]
        == "tool_error"
    )


def test_handshake_era_goes_through_the_sdk_unchanged(tmp_path: Path) -> None:
    fast, fast_spans = serve(tmp_path, LEGACY, fast=True)
    slow, _ = serve(tmp_path, LEGACY, fast=False)
    for answer in (fast, slow):
        answer[1]["result"].pop("serverInfo", None)
    assert fast == slow
    assert fast[2]["result"]["content"] == [{"type": "text", "text": "hello"}]
    assert not any(s["attributes"].get("mcproute.fast_path") for s in fast_spans)
    assert len(server_spans(fast_spans)) == 4


@pytest.mark.parametrize("fast", [True, False])
def test_many_calls_in_a_row_each_answered_once(tmp_path: Path, fast: bool) -> None:
    lines = [MODERN[0], *(call(100 + i, "fx__echo", {"text": f"n{i}"}, envelope()) for i in range(20))]
    responses, _ = serve(tmp_path, lines, fast=fast)
    assert [responses[100 + i]["result"]["content"][0]["text"] for i in range(20)] == [f"n{i}" for i in range(20)]


# ---------------------------------------------------------------- HTTP (stateless 2026-07-28 POSTs)


async def http_answers(tmp: Path, fast: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[Any, Any], int]:
    import anyio
    import httpx

    from mcproute.config import parse_config
    from mcproute.gateway import Gateway
    from mcproute.gateway.serving import serve_http
    from mcproute.gateway.upstream import Upstream

    monkeypatch.setenv("MCPROUTE_FAST_PATH", "1" if fast else "0")
    failing = tmp / "failing.py"
    failing.write_text(FAILING)
    loaded = parse_config(
        f'servers:\n  fx: {{command: python, args: ["{ECHO}"]}}\n  bad: {{command: python, args: ["{failing}"]}}\n'
    )
    answers: dict[Any, Any] = {}
    async with Gateway(loaded) as gw, anyio.create_task_group() as tg:
        upstream = Upstream(gw)
        port = await tg.start(
            lambda task_status: serve_http(
                gw, loaded.config.gateway.http, port=0, upstream=upstream, task_status=task_status
            )
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for message in [m for m in MODERN if m["method"] == "tools/call"]:
                headers = {
                    "accept": "application/json, text/event-stream",
                    "mcp-protocol-version": "2026-07-28",
                    "mcp-method": "tools/call",
                    "mcp-name": message["params"]["name"],
                }
                r = await client.post("/mcp", json=message, headers=headers)
                answers[message["id"]] = (r.status_code, r.headers.get("content-type"), r.json())
            # A wrong Mcp-Name header: the SDK's ladder refuses it, on either path.
            r = await client.post("/mcp", json=MODERN[1], headers={**headers, "mcp-name": "fx__other"})
            answers["mismatch"] = (r.status_code, r.json())
            r = await client.post("/mcp", json=MODERN[1], headers={**headers, "accept": "application/json"})
            answers["accept"] = r.status_code
        taken = upstream.http_fast_path.taken if fast else 0
        tg.cancel_scope.cancel()
    return answers, taken


@pytest.mark.anyio
async def test_http_fast_path_answers_exactly_as_the_sdk_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    fast, taken = await http_answers(tmp_path / "a", True, monkeypatch)
    slow, _ = await http_answers(tmp_path / "b", False, monkeypatch)
    assert fast == slow
    assert fast[2][2]["result"]["content"] == [{"type": "text", "text": "hello"}]
    assert fast[5][2]["result"]["isError"] is True and fast[4][2]["result"]["isError"] is True
    assert fast[3][2]["error"]["code"] == -32602
    assert fast["accept"] == 406 and fast["mismatch"][0] == 400
    assert taken == len(FAST_IDS)  # calls 2, 4 and 5; the mismatch and the 406 went to the SDK
