"""Issue 14, item 9: Content-Type is enforced identically on every POST path.

Through a real gateway (engine, `/mcp` with its fast path and SDK path, `/v1/chat/completions`)
the same bodies are sent as `text/plain` (what a browser page sends cross-origin without a CORS
preflight), as a form type, with no Content-Type, and as `application/json; charset=utf-8`: every
path answers the non-JSON types with 415 naming what was wrong (in its own error shape), accepts
JSON, and a client making calls meanwhile is undisturbed.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client

from mcproute.config import parse_config
from mcproute.gateway.serving import serve_http
from mcproute.openai_api import openai_routes
from mcproute.runtime import Engine
from runtime_support import config_dict

ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "ct", "version": "1"},
}
FAST = (
    {
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
        "mcp-name": "time__get_current_time",
    },
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "time__get_current_time", "arguments": {"timezone": "UTC"}, "_meta": ENVELOPE},
    },
)
SDK = (
    {"accept": "application/json, text/event-stream"},
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "ct", "version": "1"}},
    },
)
CHAT = ({}, {"model": "auto", "messages": [{"role": "user", "content": "what time is it in UTC"}]})
REFUSED = ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", None, "application/jsonx"]


@pytest.mark.anyio
async def test_every_post_path_refuses_what_is_not_json_the_same_way(tmp_path: Path) -> None:
    loaded = parse_config(json.dumps(config_dict(tmp_path)), environ={})
    async with Engine(loaded) as engine, anyio.create_task_group() as tg:
        port = await tg.start(
            partial(serve_http, engine.gateway, loaded.config.gateway.http, port=0, extra_routes=openai_routes(engine))
        )
        base = f"http://127.0.0.1:{port}"
        paths = {
            "fast path": ("/mcp", *FAST),
            "SDK path": ("/mcp", *SDK),
            "chat completions": ("/v1/chat/completions", *CHAT),
        }
        pid = engine.gateway.health()["time"].pid
        async with httpx.AsyncClient(timeout=30) as http, Client(f"{base}/mcp") as good:
            done: list[bool] = []

            async def meanwhile() -> None:
                for _ in range(10):
                    done.append(not (await good.call_tool("time__get_current_time", {"timezone": "UTC"})).is_error)

            async with anyio.create_task_group() as calls:
                calls.start_soon(meanwhile)
                for name, (path, headers, body) in paths.items():
                    for ctype in REFUSED:
                        sent = {**headers, **({"content-type": ctype} if ctype else {})}
                        r = await http.post(base + path, content=json.dumps(body).encode(), headers=sent)
                        assert r.status_code == 415, (name, ctype, r.status_code, r.text)
                        error = r.json()["error"]
                        assert error["message"].startswith("Content-Type must be application/json, got "), (name, error)
                        if path.startswith("/v1/"):
                            assert (
                                error["code"] == "unsupported_media_type" and error["type"] == "invalid_request_error"
                            )
                        else:
                            assert error["code"] == -32600
                    ok = await http.post(
                        base + path,
                        content=json.dumps(body).encode(),
                        headers={**headers, "content-type": "application/json; charset=utf-8"},
                    )
                    assert ok.status_code == 200, (name, ok.text)
        assert done == [True] * 10 and engine.gateway.health()["time"].pid == pid
        tg.cancel_scope.cancel()
