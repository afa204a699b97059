"""The upstream edge over real loopback HTTP and a real stdio subprocess, both protocol eras."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mcproute.config import parse_config
from mcproute.errors import InvalidRequest
from mcproute.gateway import Gateway, MetaTool, ToolCall
from mcproute.gateway.http import check_bind
from mcproute.gateway.serving import serve_http
from mcproute.gateway.upstream import Upstream

FIXTURE = str(Path(__file__).parent / "fixtures" / "gateway_fixture_server.py")
ERAS = ["auto", "legacy"]  # auto = 2026-07-28 against our gateway


def cfg(http: str = "", mode: str = "auto", *, with_time: bool = False) -> str:
    time = '  time: {command: python, args: ["-m", "mcp_server_time", "--local-timezone", "UTC"]}' if with_time else ""
    return f"""
reliability: {{backoff_base: 0.05, backoff_max: 0.2}}
gateway:
  http: {{max_request_bytes: 20000{http}}}
servers:
  fx: {{command: python, args: ["{FIXTURE}"], timeout: 10, mode: {mode}}}
{time}
"""


@asynccontextmanager
async def running(
    text: str, *, setup: Any = None, routes: list[Route] | None = None
) -> AsyncIterator[tuple[Gateway, str]]:
    loaded = parse_config(text)
    async with Gateway(loaded) as gw:
        if setup is not None:
            setup(gw)
        async with anyio.create_task_group() as tg:
            port = await tg.start(
                partial(serve_http, gw, loaded.config.gateway.http, port=0, extra_routes=routes or [])
            )
            yield gw, f"http://127.0.0.1:{port}/mcp"
            tg.cancel_scope.cancel()


def first_text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.anyio
async def test_http_lists_and_calls_in_both_eras(mode: str) -> None:
    async with running(cfg(with_time=True)) as (_, url), Client(url, mode=mode) as client:
        assert client.server_capabilities.tools is not None and client.server_capabilities.tools.list_changed
        names = [t.name for t in (await client.list_tools()).tools]
        assert names[:2] == ["fx__echo", "fx__add"] and "time__get_current_time" in names
        assert first_text(await client.call_tool("fx__add", {"a": 2, "b": 40})) == "42"
        assert "UTC" in first_text(await client.call_tool("time__get_current_time", {"timezone": "UTC"}))
        bad = await client.call_tool("fx__add", {"a": "x", "b": 1})
        assert bad.is_error and "arguments.a: 'x' is not of type 'integer'" in first_text(bad)
        with pytest.raises(MCPError, match="unknown tool 'fx__nope'"):
            await client.call_tool("fx__nope", {})
        # Nothing above disturbed the connection.
        assert first_text(await client.call_tool("fx__echo", {"text": "ok"})) == "ok"


@pytest.mark.anyio
async def test_stdio_serve_command_both_eras() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "servers.yaml"
        path.write_text(cfg())
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "mcproute", "serve", "--config", str(path)],
            env={"PYTHONWARNINGS": "ignore"},
        )
        for mode in ERAS:
            async with Client(params, mode=mode) as client:
                assert "fx__echo" in [t.name for t in (await client.list_tools()).tools]
                assert first_text(await client.call_tool("fx__echo", {"text": mode})) == mode


@pytest.mark.anyio
async def test_http_bad_input_is_refused_and_disturbs_nothing() -> None:
    async with running(cfg()) as (_, url), httpx.AsyncClient() as http, Client(url) as client:
        headers = {
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
            "mcp-protocol-version": "2026-07-28",
        }
        malformed = await http.post(url, content=b'{"jsonrpc": "2.0", "id": 1, "method": ', headers=headers)
        assert malformed.json()["error"]["code"] == types.PARSE_ERROR
        oversized = await http.post(url, content=b"x" * 30000, headers=headers)
        assert oversized.status_code == 413 and "exceeds the limit" in oversized.text
        rebinding = await http.post(url, content=b"{}", headers={**headers, "host": "evil.example:80"})
        assert rebinding.status_code == 421
        cross_site = await http.post(url, content=b"{}", headers={**headers, "origin": "https://evil.example"})
        assert cross_site.status_code == 403
        assert first_text(await client.call_tool("fx__echo", {"text": "fine"})) == "fine"


@pytest.mark.anyio
async def test_bearer_token_and_non_loopback_bind() -> None:
    with pytest.raises(InvalidRequest, match="without a bearer token"):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", "s3cret")
    async with running(cfg(", token: s3cret")) as (_, url), httpx.AsyncClient() as http:
        assert (await http.post(url, json={})).status_code == 401
        assert (await http.post(url, json={}, headers={"authorization": "Bearer wrong"})).status_code == 401


@pytest.mark.anyio
async def test_meta_tools_hooks_extra_routes_and_programmatic_calls() -> None:
    recorded: list[tuple[str, str, Any]] = []

    async def route_tool(arguments: Any, call: ToolCall) -> str:
        return f"route:{arguments['text']}:{call.protocol_version}:{'headers' if call.headers else 'none'}"

    async def hook(call: ToolCall, call_next: Any) -> dict[str, Any]:
        recorded.append(("before", call.name, call.server))
        try:
            result = await call_next(call)
        except Exception as exc:
            recorded.append(("error", call.name, type(exc).__name__))
            raise
        recorded.append(("after", call.name, result.get("isError")))
        return result

    async def chat(request: Request) -> JSONResponse:
        return JSONResponse({"object": "chat.completion"})

    def setup(gw: Gateway) -> None:
        schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
        gw.add_meta_tool(MetaTool("mcproute__route", "route a step", schema, route_tool))
        gw.add_call_hook(hook)

    routes = [Route("/v1/chat/completions", chat, methods=["POST"])]
    async with running(cfg(), setup=setup, routes=routes) as (gw, url), Client(url) as client:
        tools = [t.name for t in (await client.list_tools()).tools]
        assert tools[0] == "mcproute__route"
        assert first_text(await client.call_tool("mcproute__route", {"text": "hi"})) == "route:hi:2026-07-28:headers"
        assert first_text(await client.call_tool("fx__echo", {"text": "x"})) == "x"
        assert ("before", "fx__echo", "fx") in recorded and ("after", "fx__echo", False) in recorded
        specs = gw.tool_specs()
        assert specs[0].name == "mcproute__route" and any(s.name == "fx__echo" and s.server == "fx" for s in specs)
        assert (await gw.call_tool("fx__add", {"a": 1, "b": 1}))["content"][0]["text"] == "2"
        async with httpx.AsyncClient() as http:
            resp = await http.post(url.replace("/mcp", "/v1/chat/completions"), json={})
            assert resp.json() == {"object": "chat.completion"}


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.anyio
async def test_list_changed_reaches_upstream_clients_of_both_eras(mode: str) -> None:
    async with running(cfg()) as (_, url):
        if mode == "legacy":
            heard = anyio.Event()

            async def on_message(message: Any) -> None:
                if isinstance(message, types.ToolListChangedNotification):
                    heard.set()

            async with Client(url, mode="legacy", message_handler=on_message) as client:
                await client.list_tools()
                await client.call_tool("fx__grow", {})
                with anyio.fail_after(20):
                    await heard.wait()
                assert "fx__grown_1" in [t.name for t in (await client.list_tools()).tools]
        else:
            async with Client(url) as client, client.listen(tools_list_changed=True) as sub:
                await client.call_tool("fx__grow", {})
                with anyio.fail_after(20):
                    async for _event in sub:
                        break
                assert "fx__grown_1" in [t.name for t in (await client.list_tools(cache_mode="refresh")).tools]


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.anyio
async def test_progress_and_meta_are_forwarded(mode: str) -> None:
    async with running(cfg()) as (_, url), Client(url, mode=mode) as client:
        updates: list[tuple[float, float | None, str | None]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            updates.append((progress, total, message))

        assert first_text(await client.call_tool("fx__progress", {"steps": 3}, progress_callback=on_progress)) == "done"
        # Notifications are delivered independently of the result; give the last one a moment.
        with anyio.fail_after(5):
            while len(updates) < 3:
                await anyio.sleep(0.01)
        assert sorted(u[0] for u in updates) == [1, 2, 3] and all(u[1] == 3 for u in updates)
        seen = json.loads(first_text(await client.call_tool("fx__whoami", {}, meta={"trace": "t-1"})))
        assert seen["meta"]["trace"] == "t-1"
        assert seen["meta"].get("io.modelcontextprotocol/clientInfo", {}).get("name") in (None, "mcproute")


@pytest.mark.anyio
async def test_sampling_round_trip_handshake_era_end_to_end() -> None:
    async def sample(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="pong"), model="fake"
        )

    async with running(cfg(mode="legacy")) as (_, url), Client(url, mode="legacy", sampling_callback=sample) as client:
        assert first_text(await client.call_tool("fx__sample", {"prompt": "ping"})) == "sampled: pong"


@pytest.mark.anyio
async def test_sampling_from_handshake_downstream_to_modern_client_names_the_combination() -> None:
    async with running(cfg(mode="legacy")) as (_, url), Client(url) as client:
        with pytest.raises(MCPError, match="cannot forward sampling/createMessage.*2026-07-28 client"):
            await client.call_tool("fx__sample", {"prompt": "ping"})


def test_upstream_builds_without_a_running_loop() -> None:
    gw = Gateway(parse_config(cfg()))
    assert Upstream(gw).server.name == "mcproute"
