"""Where a proxied call's CPU goes, and the floor under it: the SDK's own per-request cost.

    .venv/bin/python benchmarks/sdk_floor.py [--calls 1000] [--json]

CPU time (user+system, from /proc or this thread's clock) per `tools/call echo`, each part
measured in isolation on real processes:

- `sdk_server_{stdio,http}_lean_cpu_ms`: benchmarks/echo_server.py (low-level SDK `Server` with
  the `get_tool_input_schema` lookup, no mcproute code) answering a direct client, per call;
  `sdk_server_{stdio,http}_cpu_ms`: the same for the gateway's test fixture (no lookup). Any MCP server written with the
  SDK pays this for each request it receives — so does mcproute's upstream side, which is the
  same SDK server: this is the floor of the gateway's upstream half.
- `gateway_call_cpu_ms`: `Gateway.call_tool` in this process (catalogue lookup, argument
  validation, the downstream SDK client's raw send and receive over stdio), no hooks; the
  thread's CPU per call minus nothing (the fixture's CPU is in its own process).
- `engine_call_cpu_ms`: the same call with the runtime `Engine`'s hooks installed (proxied-call
  records and spans, as `mcproute serve` runs it; telemetry exporter none).
- `sdk_client_cpu_ms`: a plain `mcp.Client.call_tool` over stdio in this process — what the typed
  client (result parsing and validation) costs, for comparison with the gateway's raw path.

The gateway's measured CPU per proxied call (benchmarks/overhead.py `gateway_cpu_ms_per_call`)
is then compared with `sdk_server_*_cpu_ms + gateway_call_cpu_ms`: what is left over is the
upstream glue (handlers, era shaping, HTTP guard).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from benchlib import ECHO, FIXTURE, child_env, free_port, loadavg, stop, tree_cpu_seconds, wait_http
from mcp import Client, StdioServerParameters

from mcproute.config import parse_config
from mcproute.gateway import Gateway


def _pid_of_child(cmd_fragment: bytes) -> int | None:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if cmd_fragment in cmd and ppid == os.getpid():
                return int(entry)
    return None


async def _client_calls(target: Any, calls: int, server_pid: int | None, script: str = FIXTURE) -> tuple[float, float]:
    """(server CPU ms per call, this thread's CPU ms per call) for `calls` echo calls."""
    async with Client(target) as client:
        await client.list_tools()
        for _ in range(50):
            await client.call_tool("echo", {"text": "x"})
        pid = server_pid or _pid_of_child(script.encode())
        s0 = tree_cpu_seconds(pid) if pid else 0.0
        c0 = time.thread_time()
        for _ in range(calls):
            await client.call_tool("echo", {"text": "x"})
        mine = (time.thread_time() - c0) * 1000 / calls
        server = (tree_cpu_seconds(pid) - s0) * 1000 / calls if pid else float("nan")
    return server, mine


async def _gateway_calls(calls: int, engine: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = {
            "data_dir": tmp,
            "servers": {"fx": {"command": sys.executable, "args": [ECHO], "env": {"PYTHONWARNINGS": "ignore"}}},
            "telemetry": {"exporter": "none"},
            "state": {"backend": "memory"},
        }
        loaded = parse_config(json.dumps(cfg), environ={})
        if engine:
            from mcproute.runtime.engine import Engine

            async with Engine(loaded) as eng:
                return await _timed(eng.gateway, calls)
        async with Gateway(loaded) as gw:
            return await _timed(gw, calls)


async def _timed(gw: Gateway, calls: int) -> float:
    for _ in range(50):
        await gw.call_tool("fx__echo", {"text": "x"})
    c0 = time.thread_time()
    for _ in range(calls):
        await gw.call_tool("fx__echo", {"text": "x"})
    return (time.thread_time() - c0) * 1000 / calls


def measure(calls: int) -> dict[str, Any]:
    env = child_env()
    py = sys.executable
    out: dict[str, Any] = {}
    # The lean server first (the floor), then the test fixture (what it costs without the SDK's
    # `get_tool_input_schema` lookup: the SDK then re-lists every tool for each HTTP call).
    port = free_port()
    proc = subprocess.Popen([py, ECHO, "--http", str(port)], env=env, stderr=subprocess.DEVNULL)
    try:
        wait_http(port, proc=proc)
        server, _ = anyio.run(_client_calls, f"http://127.0.0.1:{port}/mcp", calls, proc.pid)
        out["sdk_server_http_lean_cpu_ms"] = round(server, 3)
    finally:
        stop([proc])
    server, _ = anyio.run(_client_calls, StdioServerParameters(command=py, args=[ECHO], env=env), calls, None, ECHO)
    out["sdk_server_stdio_lean_cpu_ms"] = round(server, 3)
    server, client = anyio.run(_client_calls, StdioServerParameters(command=py, args=[FIXTURE], env=env), calls, None)
    out["sdk_server_stdio_cpu_ms"] = round(server, 3)
    out["sdk_client_cpu_ms"] = round(client, 3)
    port = free_port()
    proc = subprocess.Popen([py, FIXTURE, "--http", str(port)], env=env, stderr=subprocess.DEVNULL)
    try:
        wait_http(port, proc=proc)
        server, client = anyio.run(_client_calls, f"http://127.0.0.1:{port}/mcp", calls, proc.pid)
        out["sdk_server_http_cpu_ms"] = round(server, 3)
        out["sdk_client_http_cpu_ms"] = round(client, 3)
    finally:
        stop([proc])
    out["gateway_call_cpu_ms"] = round(anyio.run(_gateway_calls, calls, False), 3)
    out["engine_call_cpu_ms"] = round(anyio.run(_gateway_calls, calls, True), 3)
    out["calls"] = calls
    out["loadavg"] = loadavg()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = measure(args.calls)
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
