"""Issue 14, items 5 and 6: what one HTTP client can hold open.

Item 5 — handshake sessions: one client address opens `initialize` sessions and never closes
them. Past `max_sessions_per_client` it gets 429 naming the limit, the gateway's session table
stays at that size, a client from another address (127.0.0.2 — Linux routes all of 127/8 to
loopback) still opens a session and calls a tool, a stateless 2026-07-28 client is untouched, and
after `session_idle_timeout` the idle sessions are gone and the first client may open more.

Item 6 — partial headers: a real `mcproute serve` child with a low descriptor limit gets more
half-sent request heads than it has descriptors. The header timeout closes them, `/status`
answers again, the gateway's descriptor count comes back down, and asyncio's repeated
"accept() out of system resource" is logged a bounded number of times, not once per retry.
"""

from __future__ import annotations

import json
import resource
import socket
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from mcproute.config import parse_config
from mcproute.gateway import Gateway
from mcproute.gateway.serving import serve_http
from mcproute.gateway.upstream import Upstream
from security_support import open_fds, serve_child

TIME = {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}
HANDSHAKE = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def _init(i: int) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": i,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": f"c{i}", "version": "1"},
        },
    }


def _sse_json(r: httpx.Response) -> dict[str, Any]:
    if r.headers.get("content-type", "").startswith("application/json"):
        return r.json()  # type: ignore[no-any-return]
    data = [line[5:].strip() for line in r.text.splitlines() if line.startswith("data:") and line[5:].strip()]
    return json.loads(data[-1])  # type: ignore[no-any-return]


@pytest.mark.anyio
async def test_one_address_cannot_exhaust_handshake_sessions() -> None:
    cfg = {"gateway": {"http": {"max_sessions_per_client": 5, "session_idle_timeout": 2}}, "servers": {"time": TIME}}
    loaded = parse_config(json.dumps(cfg), environ={})
    async with Gateway(loaded) as gw, anyio.create_task_group() as tg:
        upstream = Upstream(gw)
        port = await tg.start(partial(serve_http, gw, loaded.config.gateway.http, port=0, upstream=upstream))
        url = f"http://127.0.0.1:{port}/mcp"
        sessions = upstream.server.session_manager._server_instances  # noqa: SLF001 - the count that cost 40 KB each
        async with (
            httpx.AsyncClient(timeout=30) as a,
            httpx.AsyncClient(timeout=30, transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2")) as b,
        ):
            answers = [await a.post(url, json=_init(i), headers=HANDSHAKE) for i in range(40)]
            codes = [r.status_code for r in answers]
            assert codes == [200] * 5 + [429] * 35, codes
            refused = answers[-1].json()["error"]["message"]
            assert "gateway.http.max_sessions_per_client = 5" in refused and "idle out (2 s)" in refused
            assert len(sessions) == 5  # bounded by count, whatever the flood

            # Another address: a whole handshake and a tool call.
            opened = await b.post(url, json=_init(100), headers=HANDSHAKE)
            assert opened.status_code == 200, opened.text
            sid = opened.headers["mcp-session-id"]
            headers = {**HANDSHAKE, "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"}
            await b.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
            call = await b.post(
                url,
                json={
                    "jsonrpc": "2.0",
                    "id": 2,
                    "method": "tools/call",
                    "params": {"name": "time__get_current_time", "arguments": {"timezone": "UTC"}},
                },
                headers=headers,
            )
            assert "UTC" in _sse_json(call)["result"]["content"][0]["text"]
            # A stateless 2026-07-28 client from the flooding address opens no session: untouched.
            async with Client(url) as modern:
                assert not (await modern.call_tool("time__get_current_time", {"timezone": "UTC"})).is_error

            # Idle sessions are reaped; then the first address may open sessions again.
            with anyio.fail_after(30):
                while (await a.post(url, json=_init(200), headers=HANDSHAKE)).status_code != 200:
                    await anyio.sleep(0.5)
            assert len(sessions) <= 2
        tg.cancel_scope.cancel()


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (160, 160))


def _partial_heads(host: str, port: int, count: int) -> list[socket.socket]:
    out = []
    for _ in range(count):
        s = socket.socket()
        s.settimeout(0.5)
        try:
            s.connect((host, port))
            s.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl")  # and never the rest
        except OSError:
            pass
        out.append(s)
    return out


def test_half_sent_heads_are_closed_and_accept_errors_are_logged_once(tmp_path: Path) -> None:
    config = tmp_path / "servers.yaml"
    config.write_text(
        json.dumps(
            {
                "data_dir": str(tmp_path / "data"),
                "telemetry": {"exporter": "none"},
                "gateway": {"http": {"header_timeout": 1}},
                "servers": {"time": TIME},
            }
        )
    )
    with serve_child(config, preexec=_low_fd_limit) as (proc, base, stderr):
        host, port = base.removeprefix("http://").rsplit(":", 1)
        fds_before = open_fds(proc.pid)
        socks = _partial_heads(host, int(port), 300)  # more than the gateway's 160 descriptors
        try:
            # Every head we half-sent is closed by the gateway (EOF or reset), in bounded time.
            deadline = time.monotonic() + 60
            open_ones = list(socks)
            while open_ones and time.monotonic() < deadline:
                still = []
                for s in open_ones:
                    try:
                        s.settimeout(0.01)
                        if s.recv(1) != b"":
                            still.append(s)
                    except TimeoutError:
                        still.append(s)
                    except OSError:
                        pass  # reset, or never connected
                open_ones = still
            assert not open_ones, f"{len(open_ones)} half-sent connections were never closed"
            with httpx.Client(timeout=10) as http:
                assert http.get(f"{base}/status").status_code == 200
            with anyio.from_thread.start_blocking_portal() as portal:

                async def call() -> bool:
                    async with Client(f"{base}/mcp") as c:
                        return not (await c.call_tool("time__get_current_time", {"timezone": "UTC"})).is_error

                assert portal.call(call)
            assert open_fds(proc.pid) <= fds_before + 10
        finally:
            for s in socks:
                s.close()
    log = stderr.read_text(errors="replace")
    assert "out of system resource" in log  # the descriptors really ran out
    assert log.count("out of system resource") <= 2, log.count("out of system resource")
    assert len(log) < 20_000
