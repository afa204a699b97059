"""`mcproute serve --transport http --workers N`: one socket, N whole gateways, one shared state.

Real processes throughout: the parent and its workers are `mcproute serve`, each worker runs its
own real `mcp-server-time` (PyPI) child, requests are plain HTTP on loopback, and the state they
share is the SQLite file the test reads back afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import anyio
import httpx
import pytest

from mcproute.state.sqlite import SqliteStore
from runtime_support import child_env
from scaleout_support import META, MODELS, MODERN, alive, serve, status, write_config


def worker_pids(url: str, wanted: int, tries: int = 300) -> set[int]:
    seen: set[int] = set()
    for _ in range(tries):
        seen.add(status(url)["process"]["pid"])
        if len(seen) >= wanted:
            break
    return seen


def test_two_workers_share_one_port_each_a_whole_gateway_and_stop_with_the_parent(tmp_path: Path) -> None:
    unset = {"keyless": {"tier": "fast", "provider": "openai", "model": "m", "api_key": "${WORKERS_TEST_UNSET_KEY}"}}
    with serve(write_config(tmp_path, models=unset)) as served:
        # The config's warning is the parent's to give, once, not once per worker as well.
        assert served.text().count("WORKERS_TEST_UNSET_KEY is not set") == 1, served.text()
        pids = worker_pids(served.url, 2)
        assert len(pids) == 2, f"one worker answered every one of 300 connections: {pids}"
        reports = {}
        while len(reports) < 2:
            s = status(served.url)
            reports[s["process"]["pid"]] = s
        assert {r["process"]["worker"] for r in reports.values()} == {"1/2", "2/2"}
        # Whole gateways: each worker started its own time server.
        children = {r["servers"]["time"]["pid"] for r in reports.values()}
        assert len(children) == 2
        assert all(r["servers"]["time"]["state"] == "healthy" for r in reports.values())
        # SIGTERM to the parent (what a service manager sends) stops every worker and its children.
        served.proc.send_signal(signal.SIGTERM)
        assert served.proc.wait(30) == 0, served.text()
    deadline = time.monotonic() + 10
    while left := [pid for pid in [*reports, *children] if alive(pid)]:
        assert time.monotonic() < deadline, left
        time.sleep(0.05)


def test_one_conversation_spread_over_workers_loses_no_step(tmp_path: Path) -> None:
    steps = 16
    with serve(write_config(tmp_path, models=MODELS)) as served:

        async def run_step(i: int) -> None:
            body = {
                "jsonrpc": "2.0",
                "id": i,
                "method": "tools/call",
                "params": {
                    "name": "mcproute__run_step",
                    "arguments": {"text": f"what time is it in Tokyo ({i})", "conversation_id": "shared"},
                    "_meta": META,
                },
            }
            async with httpx.AsyncClient(timeout=30) as client:  # its own connection
                r = await client.post(f"{served.url}/mcp", json=body, headers=MODERN)
            result = r.json()["result"]
            assert not result.get("isError"), result
            assert result["structuredContent"]["conversation_id"] == "shared"

        async def main() -> None:
            async with anyio.create_task_group() as tg:  # four at a time, racing on one conversation
                for i in range(steps):
                    tg.start_soon(run_step, i)
                    if i % 4 == 3:
                        await anyio.sleep(0.05)

        anyio.run(main)

    async def step_count() -> int:
        async with SqliteStore(db) as store:
            state = await store.load("shared")
        assert state is not None
        return state.step_count

    db = tmp_path / "data" / "state.sqlite3"
    with closing(sqlite3.connect(db)) as conn:
        (records,) = conn.execute("SELECT count(*) FROM steps WHERE conversation_id = 'shared'").fetchone()
    # Every step ran its transition on the state the previous one left, whichever worker took it.
    assert (anyio.run(step_count), records) == (steps, steps)


def test_a_killed_worker_is_replaced_and_the_port_keeps_serving(tmp_path: Path) -> None:
    with serve(write_config(tmp_path)) as served:
        first, second = sorted(worker_pids(served.url, 2))
        os.kill(first, signal.SIGKILL)
        # The other worker takes every connection meanwhile: no request fails.
        deadline = time.monotonic() + 60
        while True:
            pids = worker_pids(served.url, 2, tries=50)
            if len(pids) == 2 and first not in pids:
                break
            assert time.monotonic() < deadline, (pids, served.text())
        assert second in pids
        assert f"pid {first}) was killed by signal SIGKILL; restarting" in served.text()


@pytest.mark.parametrize(
    ("args", "config", "message"),
    [
        (["--transport", "stdio"], {}, "--workers needs --transport http"),
        (["--transport", "http"], {"state": {"backend": "memory"}}, "needs a shared state store"),
        (["--transport", "http", "--workers", "0"], {}, "--workers must be at least 1, got 0"),
    ],
)
def test_what_cannot_work_with_workers_is_refused_before_anything_starts(
    tmp_path: Path, args: list[str], config: dict, message: str
) -> None:
    path = write_config(tmp_path, **config)
    cmd = [sys.executable, "-m", "mcproute", "serve", "--config", str(path), "--port", "0", "--workers", "2", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), timeout=60)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


LEGACY = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def rpc(url: str, body: dict, session: str | None = None, token: str | None = None) -> httpx.Response:
    headers = {**LEGACY, "Connection": "close"}  # a new connection each time: any worker may take it
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if session is not None:
        headers |= {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-06-18"}
    return httpx.post(f"{url}/mcp", json=body, headers=headers, timeout=30)


def result_of(response: httpx.Response) -> dict:
    """The JSON-RPC message of a JSON or SSE response."""
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
        return json.loads(data[-1])
    return response.json()


def open_session(url: str, token: str | None = None) -> str:
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    r = rpc(url, init, token=token)
    assert r.status_code == 200, r.text
    session = r.headers["mcp-session-id"]
    assert rpc(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session, token).status_code == 202
    return session


def call_time(url: str, session: str, i: int, token: str | None = None) -> httpx.Response:
    body = {
        "jsonrpc": "2.0",
        "id": i,
        "method": "tools/call",
        "params": {"name": "time__get_current_time", "arguments": {"timezone": "UTC"}},
    }
    return rpc(url, body, session, token)


def test_session_forwarding_runs_behind_the_auth_guard_and_the_peer_probe_outside_it(tmp_path: Path) -> None:
    token = "w" * 32
    with serve(write_config(tmp_path, gateway={"http": {"token": token}})) as served:
        session = open_session(served.url, token)
        forwarded: list[str] = []
        for i in range(200):
            r = call_time(served.url, session, i, token)
            assert r.status_code == 200, (i, r.status_code, r.text)
            forwarded += [r.headers["x-mcproute-via-worker"]] if "x-mcproute-via-worker" in r.headers else []
            # No token: refused by whichever worker takes it, itself (never passed to the owner,
            # which is what happened while forwarding ran in front of the guard).
            r = call_time(served.url, session, 1000 + i)
            assert r.status_code == 401 and "x-mcproute-via-worker" not in r.headers, (i, r.headers, r.text)
            if len(forwarded) >= 5:
                break
        assert forwarded, "no request landed on the worker without the session in 200 connections"
        # The peers' question is answered outside the guard (a peer has no client token), and
        # still only for the peer secret: without it, not found rather than "unauthorized".
        r = httpx.get(f"{served.url}/_mcproute/owns", params={"session": session}, headers={"Connection": "close"})
        assert r.status_code == 404 and "owns" not in r.text, r.text


def test_a_handshake_session_is_served_whichever_worker_takes_the_connection(tmp_path: Path) -> None:
    with serve(write_config(tmp_path)) as served:
        session = open_session(served.url)
        forwarded_by: set[str] = set()
        for i in range(1, 201):
            r = call_time(served.url, session, i)
            assert r.status_code == 200, (i, r.status_code, r.text)
            assert "UTC" in json.dumps(result_of(r)["result"]), r.text
            if "x-mcproute-via-worker" in r.headers:
                forwarded_by.add(r.headers["x-mcproute-via-worker"])
            if forwarded_by and i >= 20:
                break
        # Some connections went to the worker without the session, and were passed to its owner.
        assert len(forwarded_by) == 1, "no request landed on the other worker in 200 connections"

        # The official SDK client in handshake mode (a GET stream beside its POSTs): sessions work.
        async def sdk_sessions() -> None:
            from mcp import Client
            from mcp.client.streamable_http import streamable_http_client

            for _ in range(3):
                async with Client(streamable_http_client(f"{served.url}/mcp"), mode="legacy") as client:
                    assert "time__get_current_time" in {t.name for t in (await client.list_tools()).tools}
                    for _ in range(3):
                        got = await client.call_tool("time__get_current_time", {"timezone": "UTC"})
                        assert not got.is_error

        anyio.run(sdk_sessions)

        # The session's record is in the shared store: when its owner dies, the surviving worker
        # revives the session and serves it (no forwarding: nobody else holds it now).
        (via,) = forwarded_by
        owner = next(
            s["process"]["pid"]
            for s in (status(served.url) for _ in range(300))
            if s["process"]["worker"] != f"{via}/2"
        )
        os.kill(owner, signal.SIGKILL)
        for i in range(10):
            r = call_time(served.url, session, 1000 + i)
            assert r.status_code == 200, (i, r.status_code, r.text)
            assert "UTC" in json.dumps(result_of(r)["result"]), r.text
        # An id no worker and no record knows is still the SDK's 404, so a client starts anew.
        r = call_time(served.url, "f" * 32, 3000)
        assert r.status_code == 404 and "Session not found" in r.text
        fresh = open_session(served.url)
        assert call_time(served.url, fresh, 2000).status_code == 200
