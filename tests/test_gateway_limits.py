"""Issue 14, items 2, 3 and 11: JSON depth and size limits at every entry, and transports that
survive one bad message.

The end-to-end tests send the hostile input through a real gateway (in-process over loopback
HTTP, and `mcproute serve` over real pipes) while another client has calls in flight to the same
real downstreams (mcp-server-time, and `fixtures/hostile_server.py` for answers that break the
limits), then check that those calls succeeded and that no downstream was restarted.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from mcproute.config import parse_config
from mcproute.gateway._stdio import Oversize, read_lines
from mcproute.gateway.limits import JsonLimits, request_id
from mcproute.gateway.serving import serve_http
from mcproute.openai_api import openai_routes
from mcproute.runtime import Engine
from runtime_support import config_dict
from test_gateway_upstream import first_text, running

HOSTILE = str(Path(__file__).parent / "fixtures" / "hostile_server.py")
# What a 2026-07-28 client sends with a tools/call (the SDK checks the routing headers against the body).
MODERN_HEADERS = {
    "accept": "application/json, text/event-stream",
    "content-type": "application/json",
    "mcp-protocol-version": "2026-07-28",
    "mcp-method": "tools/call",
    "mcp-name": "time__get_current_time",
}
ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "hostile", "version": "1"},
}
CAP = 1 << 20  # gateway.max_message_bytes in these tests


def config(**gateway: Any) -> str:
    return json.dumps(
        {
            "reliability": {"backoff_base": 0.05, "backoff_max": 0.2},
            "gateway": {"http": {"max_request_bytes": 200_000}, "max_message_bytes": CAP, **gateway},
            "servers": {
                "fx": {"command": "python", "args": [HOSTILE], "timeout": 60},
                "time": {"command": "python", "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]},
            },
        }
    )


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def deep_call(request_id: int, depth: int, name: str = "time__get_current_time") -> bytes:
    """A tools/call whose arguments are nested `depth` levels, built as text (json.dumps would recurse)."""
    return (
        '{"jsonrpc":"2.0","id":'
        + str(request_id)
        + ',"method":"tools/call","params":{"name":"'
        + name
        + '","arguments":{"timezone":"UTC","a":'
        + nested(depth)
        + '},"_meta":'
        + json.dumps(ENVELOPE)
        + "}}"
    ).encode()


# ------------------------------------------------------------------------------ the limits themselves


def test_depth_is_measured_from_the_top_and_the_error_names_where() -> None:
    bounds = JsonLimits(max_depth=10)
    assert bounds.check_bytes(b'{"a":' * 10 + b"1" + b"}" * 10) is None  # exactly 10 levels
    problem = bounds.check_bytes(b'{"a":' * 11 + b"1" + b"}" * 11)
    assert problem == "JSON nested deeper than 10 levels (gateway.max_json_depth) at $.a.a.a.a.a.a.a.a…"
    # Lists count, indices are named, brackets inside strings do not count.
    assert bounds.check_bytes(b'{"x":[0,[[[[[[[[[[]]]]]]]]]]}') == (
        "JSON nested deeper than 10 levels (gateway.max_json_depth) at $.x[1][0][0][0][0][0][0]…"
    )
    assert bounds.check_bytes(json.dumps({"s": "{[" * 50, "t": ['"]\\' * 20]}).encode()) is None
    # The same rule on parsed values, iteratively (5,000 levels would overflow a recursive walk).
    deep: Any = 1
    for _ in range(5000):
        deep = {"k y": deep}
    assert bounds.check_value(deep, root="$.result", depth=1) == (
        'JSON nested deeper than 10 levels (gateway.max_json_depth) at $.result["k y"]["k y"]["k y"]["k y"]["k y"]["k y"]["k y"]["k y"]…'
    )
    assert bounds.check_value({"a": [{"b": 1}]}) is None
    assert (
        JsonLimits(max_bytes=100).check_bytes(b" " * 101)
        == "message of 101 bytes exceeds the limit of 100 (gateway.max_message_bytes)"
    )


def test_request_id_is_found_at_the_top_level_only() -> None:
    assert request_id(deep_call(42, 5000)) == 42
    assert request_id(b'{"params":{"id":3,"x":' + nested(500).encode() + b'},"id":"r-\\"1"}') == 'r-"1'
    assert request_id(b'{"method":"id","params":{"id":3}}') is None
    assert request_id(b'{"id":null}') is None


@pytest.mark.anyio
async def test_line_reader_splits_across_chunks_and_skips_an_oversize_line() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in (b"ab", b"c\nde", b"f\n\n", b"x" * 30, b"y" * 30, b"\nlast\n", b"tail"):
            yield chunk

    out = [line async for line in read_lines(chunks(), 40)]
    assert out == [b"abc", b"def", b"", Oversize(b"x" * 30 + b"y" * 30), b"last", b"tail"]


def test_config_exposes_the_limits_with_bounds() -> None:
    gw = parse_config("gateway: {max_json_depth: 32, max_message_bytes: 4096}\n", environ={}).config.gateway
    assert JsonLimits.from_config(gw) == JsonLimits(max_depth=32, max_bytes=4096)
    from mcproute.errors import ConfigError

    with pytest.raises(ConfigError, match=r"gateway\.max_json_depth"):
        parse_config("gateway: {max_json_depth: 500}\n", environ={})


# ------------------------------------------------------------------------------ HTTP upstream


@pytest.mark.anyio
async def test_http_hostile_requests_disturb_no_other_call_and_restart_nothing() -> None:
    async with (
        running(config()) as (gw, url),
        Client(url) as good,
        Client(url, mode="legacy") as legacy,
        httpx.AsyncClient(timeout=30) as http,
    ):
        before = {name: (h.pid, h.restarts) for name, h in gw.health().items()}
        done: list[str] = []

        async def in_flight_sleep() -> None:
            done.append(first_text(await good.call_tool("fx__sleep", {"seconds": 1.5})))

        async def in_flight_times() -> None:
            for _ in range(10):
                result = await good.call_tool("time__get_current_time", {"timezone": "UTC"})
                assert not result.is_error
                done.append("time")

        async with anyio.create_task_group() as tg:
            tg.start_soon(in_flight_sleep)
            tg.start_soon(in_flight_times)
            await anyio.sleep(0.3)  # the sleep is now in flight at the downstream
            # Fast path (2026-07-28 POST), below and above pydantic's own limits, and 5,000 deep.
            for depth in (70, 300, 5000):
                r = await http.post(url, content=deep_call(7, depth), headers=MODERN_HEADERS)
                assert r.status_code == 400, r.text
                body = r.json()
                assert body["id"] == 7 and body["error"]["code"] == types.INVALID_PARAMS
                assert body["error"]["message"].startswith(
                    "JSON nested deeper than 64 levels (gateway.max_json_depth) at $.params.arguments.a.a"
                )
            # The SDK session path (handshake era), through the official client.
            deep: Any = 1
            for _ in range(100):
                deep = {"a": deep}
            with pytest.raises(MCPError, match=r"nested deeper than 64 levels .* at \$\.params\.arguments\.a"):
                await legacy.call_tool("time__get_current_time", {"timezone": "UTC", "a": deep})
            # A lone surrogate passes JSON parsing but cannot be written to a child: that call
            # alone fails, the downstream's writer lives on.
            surrogate = (
                b'{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"time__get_current_time",'
                b'"arguments":{"timezone":"\\ud800"},"_meta":' + json.dumps(ENVELOPE).encode() + b"}}"
            )
            r = await http.post(url, content=surrogate, headers=MODERN_HEADERS)
            assert (
                r.json()["error"]["code"] == types.INVALID_PARAMS
                and "cannot be serialised" in r.json()["error"]["message"]
            )

        assert sorted(done) == ["slept"] + ["time"] * 10
        assert {name: (h.pid, h.restarts) for name, h in gw.health().items()} == before
        assert "UTC" in first_text(await legacy.call_tool("time__get_current_time", {"timezone": "UTC"}))


# ------------------------------------------------------------------------------ downstream answers


@pytest.mark.anyio
async def test_a_too_deep_answer_fails_its_call_at_once_and_keeps_the_server() -> None:
    async with running(config()) as (gw, url), Client(url) as client:
        pid = gw.health()["fx"].pid
        result = await client.call_tool("fx__deep", {"depth": 100})
        text = first_text(result)
        assert result.is_error and "nested deeper than 64 levels" in text and "$.result.structuredContent.a.a" in text
        assert "did not answer within" not in text  # failed on arrival, not at the 60 s timeout
        assert first_text(await client.call_tool("fx__whoami", {})) == str(pid)
        assert gw.health()["fx"].restarts == 0


@pytest.mark.parametrize("newline", [True, False])
@pytest.mark.anyio
async def test_an_oversize_answer_fails_its_call_and_restarts_only_that_server(newline: bool) -> None:
    async with running(config()) as (gw, url), Client(url) as client:
        pid, time_pid = gw.health()["fx"].pid, gw.health()["time"].pid
        async with anyio.create_task_group() as tg:
            times: list[bool] = []

            async def other_server() -> None:
                for _ in range(5):
                    times.append(not (await client.call_tool("time__get_current_time", {"timezone": "UTC"})).is_error)

            tg.start_soon(other_server)
            result = await client.call_tool("fx__huge", {"bytes": 3 * CAP, "newline": newline})
        assert result.is_error and f"over {CAP} bytes (gateway.max_message_bytes)" in first_text(result)
        assert times == [True] * 5 and gw.health()["time"].pid == time_pid
        with anyio.fail_after(30):  # the supervisor brings it back (backoff 0.05-0.2 s)
            while gw.health()["fx"].state != "healthy" or gw.health()["fx"].pid == pid:
                await anyio.sleep(0.05)
        assert gw.health()["fx"].restarts >= 1
        assert first_text(await client.call_tool("fx__whoami", {})) == str(gw.health()["fx"].pid)


# ------------------------------------------------------------------------------ stdio upstream


def test_stdio_hostile_lines_get_errors_and_other_calls_finish(tmp_path: Path) -> None:
    (tmp_path / "servers.yaml").write_text(config())
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONWARNINGS"] = "ignore"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcproute", "serve", "--config", "servers.yaml"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None

    def send(line: bytes) -> None:
        assert proc.stdin is not None
        proc.stdin.write(line + b"\n")
        proc.stdin.flush()

    def call(i: int, name: str, arguments: dict[str, Any]) -> bytes:
        return json.dumps(
            {
                "jsonrpc": "2.0",
                "id": i,
                "method": "tools/call",
                "params": {"name": name, "arguments": arguments, "_meta": ENVELOPE},
            }
        ).encode()

    answers: dict[Any, Any] = {}
    # A reader thread, not select() on the buffered pipe: two answers arriving in one chunk would
    # leave the second in the reader's buffer while select() waits for bytes that never come.
    lines: queue.Queue[bytes] = queue.Queue()

    def pump() -> None:
        for line in iter(proc.stdout.readline, b""):  # type: ignore[union-attr]
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()

    def collect(*ids: Any) -> None:
        while not set(ids) <= set(answers):
            try:
                line = lines.get(timeout=60)
            except queue.Empty:
                raise AssertionError(f"no answer for {set(ids) - set(answers)}") from None
            answer = json.loads(line)
            answers[answer.get("id")] = answer

    try:
        send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": ENVELOPE}}).encode())
        send(call(2, "fx__whoami", {}))
        collect(1, 2)
        send(call(3, "fx__sleep", {"seconds": 1.5}))
        send(call(4, "time__get_current_time", {"timezone": "UTC"}))
        send(deep_call(5, 300))
        send(deep_call(6, 5000, "fx__sleep"))
        send(
            b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"time__get_current_time","arguments":{"timezone":"\\ud800"},"_meta":'
            + json.dumps(ENVELOPE).encode()
            + b"}}"
        )
        send(b'{"jsonrpc":"2.0","id":8,"method":"tools/list","params":{"x":"' + b"z" * (CAP + 10) + b'"}}')
        send(call(9, "time__get_current_time", {"timezone": "UTC"}))
        collect(3, 4, 5, 6, 7, 8, 9)
        send(call(10, "fx__whoami", {}))
        collect(10)
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
    for i in (5, 6):
        error = answers[i]["error"]
        assert error["code"] == types.INVALID_PARAMS
        assert error["message"].startswith(
            "JSON nested deeper than 64 levels (gateway.max_json_depth) at $.params.arguments.a.a"
        )
    assert (
        answers[7]["error"]["code"] == types.INVALID_PARAMS and "cannot be serialised" in answers[7]["error"]["message"]
    )
    assert (
        answers[8]["error"]["code"] == types.INVALID_REQUEST
        and f"exceeds the limit of {CAP}" in answers[8]["error"]["message"]
    )
    assert answers[3]["result"]["content"][0]["text"] == "slept"
    assert not answers[4]["result"]["isError"] and not answers[9]["result"]["isError"]
    # The same child answered before and after: nothing was restarted.
    assert answers[10]["result"]["content"][0]["text"] == answers[2]["result"]["content"][0]["text"]


# ------------------------------------------------------------------------------ /v1/chat/completions


@pytest.mark.anyio
async def test_chat_completions_refuses_a_5000_deep_body_with_a_400(tmp_path: Path) -> None:
    loaded = parse_config(json.dumps(config_dict(tmp_path)), environ={})
    async with Engine(loaded) as engine, anyio.create_task_group() as tg:
        port = await tg.start(
            partial(serve_http, engine.gateway, loaded.config.gateway.http, port=0, extra_routes=openai_routes(engine))
        )
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        body = b'{"model":"auto","messages":[{"role":"user","content":"hi","x":' + nested(5000).encode() + b"}]}"
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(url, content=body, headers={"content-type": "application/json"})
            assert r.status_code == 400, r.text
            error = r.json()["error"]
            assert error["type"] == "invalid_request_error" and error["code"] == "json_too_deep"
            assert "nested deeper than 64 levels (gateway.max_json_depth) at $.messages[0].x.a.a" in error["message"]
            ok = await http.post(
                url, json={"model": "auto", "messages": [{"role": "user", "content": "what time is it in UTC"}]}
            )
            assert ok.status_code == 200
        tg.cancel_scope.cancel()
