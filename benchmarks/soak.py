"""A bounded soak: N well-behaved clients × M calls through a real gateway while a misbehaving
downstream floods and hostile clients push at every limit (issue 14).

    .venv/bin/python benchmarks/soak.py --quick          # 8 clients × 1000 calls, < 2 min
    .venv/bin/python benchmarks/soak.py --clients 32 --calls 2000 [--json]

One `mcproute serve --transport http` child on loopback, in front of two stdio servers: the
lean echo server (benchmarks/echo_server.py, the well-behaved one) and
tests/fixtures/hostile_server.py (answers over the size cap with and without a newline — the
server is then restarted —, answers nested past the depth limit, floods stderr and stdout with
junk). Alongside the good clients, hostile clients send: calls to those tools, half-sent request
heads, `text/plain` bodies, 5,000-deep JSON, garbage bytes, and handshake sessions never closed.

Reported: good calls made and failed (anything but HTTP 200 with the echoed text is a failure),
their p50/p99, hostile requests sent and how many got no answer or a 5xx, the gateway's RSS and
open FDs after warm-up and at the end, and `/status` p99 sampled throughout. Exit status 1 when a
good call failed or the end RSS is more than 20 % over the start. Bounded in count and in time
(a hard deadline), loopback only.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
from benchlib import ECHO, ROOT, child_env, free_port, percentile, stop, wait_http
from throughput import _Conn, request_bytes

HOSTILE = str(ROOT / "tests" / "fixtures" / "hostile_server.py")
CAP = 1 << 20  # gateway.max_message_bytes for the soak: hostile answers go over it
ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "soak", "version": "1"},
}
MODERN = {
    "accept": "application/json, text/event-stream",
    "content-type": "application/json",
    "mcp-protocol-version": "2026-07-28",
    "mcp-method": "tools/call",
}


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def _call(name: str, args: dict[str, Any], rid: int = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": rid,
        "method": "tools/call",
        "params": {"name": name, "arguments": args, "_meta": ENVELOPE},
    }


class Hostile:
    """Loops of bad behaviour until `stop`; counts what was sent and what went unanswered."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/mcp"
        self.port = port
        self.sent = 0
        self.unanswered = 0  # no HTTP answer, or a 5xx
        self.kinds: dict[str, int] = {}

    async def _post(self, http: httpx.AsyncClient, kind: str, content: bytes, headers: dict[str, str]) -> None:
        self.sent += 1
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        try:
            r = await http.post(self.url, content=content, headers=headers)
            if r.status_code >= 500:
                self.unanswered += 1
        except httpx.HTTPError:
            self.unanswered += 1

    async def downstream_abuse(self, stop: anyio.Event) -> None:
        plan = [
            ("huge", {"bytes": 3 * CAP, "newline": True}),
            ("huge", {"bytes": 3 * CAP, "newline": False}),
            ("deep", {"depth": 200}),
            ("flood", {"lines": 2000}),
        ]
        async with httpx.AsyncClient(timeout=60) as http:
            i = 0
            while not stop.is_set():
                tool, args = plan[i % len(plan)]
                i += 1
                await self._post(
                    http,
                    f"hostile__{tool}",
                    json.dumps(_call(f"hostile__{tool}", args)).encode(),
                    {**MODERN, "mcp-name": f"hostile__{tool}"},
                )

    async def client_abuse(self, stop: anyio.Event) -> None:
        deep = (
            b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo__echo","arguments":'
            + b'{"a":' * 5000
            + b"1"
            + b"}" * 5000
            + b"}}"
        )
        init = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "soak", "version": "1"},
                },
            }
        ).encode()
        good = json.dumps(_call("echo__echo", {"text": "x"})).encode()
        async with httpx.AsyncClient(timeout=60) as http:
            while not stop.is_set():
                await self._post(http, "deep json", deep, {**MODERN, "mcp-name": "echo__echo"})
                await self._post(
                    http, "text/plain", good, {**MODERN, "mcp-name": "echo__echo", "content-type": "text/plain"}
                )
                await self._post(http, "garbage", b"\xff\x00{[not json", MODERN)
                await self._post(
                    http,
                    "session never closed",
                    init,
                    {"accept": "application/json, text/event-stream", "content-type": "application/json"},
                )
                await self.half_heads(5)
                await anyio.sleep(0.05)

    async def half_heads(self, n: int) -> None:
        socks = []
        for _ in range(n):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect_ex(("127.0.0.1", self.port))
                s.send(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
            except OSError:
                pass
            socks.append(s)
        self.sent += n
        self.kinds["half-sent head"] = self.kinds.get("half-sent head", 0) + n
        await anyio.sleep(0.01)
        for s in socks:  # left open: the gateway's header timeout must close them, not us
            self._held.append(s)

    _held: list[socket.socket] = []


async def soak(port: int, pid: int, clients: int, calls: int, deadline: float) -> dict[str, Any]:
    req = request_bytes(port, "echo__echo")
    latencies: list[float] = []
    failures: list[str] = []
    status_lat: list[float] = []
    hostile = Hostile(port)
    stop_hostile = anyio.Event()
    async with httpx.AsyncClient(timeout=30) as http:  # warm-up, then the start figures
        for _ in range(20):
            await http.post(
                f"http://127.0.0.1:{port}/mcp",
                content=req.split(b"\r\n\r\n", 1)[1],
                headers={**MODERN, "mcp-name": "echo__echo"},
            )
    start = {"rss_kib": _rss_kib(pid), "fds": _fds(pid)}

    async def good_client() -> None:
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            conn = _Conn(stream)
            for _ in range(calls):
                t0 = time.perf_counter()
                try:
                    await conn.roundtrip(req)
                except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                    failures.append(f"{type(exc).__name__}: {exc}"[:200])
                    return
                latencies.append(time.perf_counter() - t0)

    async def status_sampler() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            while not stop_hostile.is_set():
                t0 = time.perf_counter()
                r = await http.get(f"http://127.0.0.1:{port}/status")
                status_lat.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    failures.append(f"/status {r.status_code}")
                await anyio.sleep(0.2)

    t0 = time.perf_counter()
    with anyio.fail_after(deadline):
        async with anyio.create_task_group() as outer:
            outer.start_soon(hostile.downstream_abuse, stop_hostile)
            outer.start_soon(hostile.client_abuse, stop_hostile)
            outer.start_soon(status_sampler)
            async with anyio.create_task_group() as good:
                for _ in range(clients):
                    good.start_soon(good_client)
            stop_hostile.set()
    elapsed = time.perf_counter() - t0
    await anyio.sleep(2.5)  # past the header timeout (2 s here): held half-heads are closed by the gateway
    for s in Hostile._held:
        s.close()
    end = {"rss_kib": _rss_kib(pid), "fds": _fds(pid)}
    async with httpx.AsyncClient(timeout=30) as http:
        health = (await http.get(f"http://127.0.0.1:{port}/status")).json()["servers"]
    return {
        "clients": clients,
        "calls_per_client": calls,
        "good_calls": len(latencies) + len(failures),
        "good_errors": len(failures),
        "first_errors": failures[:3],
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2) if latencies else None,
        "status_p99_ms": round(percentile(status_lat, 0.99) * 1000, 2) if status_lat else None,
        "status_samples": len(status_lat),
        "hostile_sent": hostile.sent,
        "hostile_unanswered": hostile.unanswered,
        "hostile_kinds": hostile.kinds,
        "hostile_restarts": health["hostile"]["restarts"],
        "echo_restarts": health["echo"]["restarts"],
        "rss_start_kib": start["rss_kib"],
        "rss_end_kib": end["rss_kib"],
        "fds_start": start["fds"],
        "fds_end": end["fds"],
        "seconds": round(elapsed, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="8 clients × 1000 calls (under 2 minutes)")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--deadline", type=float, default=600.0, help="hard limit on the load phase, seconds")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep-log", help="copy the gateway's stderr to this file")
    args = ap.parse_args()
    if args.quick:
        args.clients, args.calls, args.deadline = 8, 1000, 100.0
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "servers.yaml"
        cfg.write_text(
            json.dumps(
                {
                    "data_dir": str(Path(tmp) / "data"),
                    "telemetry": {"exporter": "none"},
                    "reliability": {"backoff_base": 0.05, "backoff_max": 0.5},
                    "gateway": {
                        "max_message_bytes": CAP,
                        "http": {"header_timeout": 2, "max_sessions_per_client": 50, "session_idle_timeout": 5},
                    },
                    "servers": {
                        "echo": {"command": sys.executable, "args": [ECHO]},
                        "hostile": {"command": sys.executable, "args": [HOSTILE], "timeout": 5},
                    },
                }
            )
        )
        port = free_port()
        err = open(Path(tmp) / "serve.stderr", "wb")  # noqa: SIM115 - read after the child ends
        proc = __import__("subprocess").Popen(
            [
                sys.executable,
                "-m",
                "mcproute",
                "serve",
                "--config",
                str(cfg),
                "--transport",
                "http",
                "--port",
                str(port),
            ],
            env=child_env(),
            stdout=__import__("subprocess").DEVNULL,
            stderr=err,
        )
        try:
            wait_http(port, 60, proc)
            time.sleep(1.0)  # both downstreams listed
            result = anyio.run(soak, port, proc.pid, args.clients, args.calls, args.deadline)
        finally:
            stop([proc])
            err.close()
        log = (Path(tmp) / "serve.stderr").read_text(errors="replace")
        result["gateway_log_bytes"] = len(log)
        result["gateway_log_lines"] = log.count("\n")
        if args.keep_log:
            Path(args.keep_log).write_text(log)
    grew = result["rss_end_kib"] / max(1, result["rss_start_kib"]) - 1
    result["rss_growth_pct"] = round(grew * 100, 1)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"soak: {result['clients']} clients × {result['calls_per_client']} calls in {result['seconds']} s")
        print(
            f"  good calls: {result['good_calls']}, errors: {result['good_errors']}  p50 {result['p50_ms']} ms  p99 {result['p99_ms']} ms"
            + (f"  first: {result['first_errors']}" if result["first_errors"] else "")
        )
        print(
            f"  hostile requests: {result['hostile_sent']} ({', '.join(f'{k} {v}' for k, v in result['hostile_kinds'].items())}); "
            f"unanswered or 5xx: {result['hostile_unanswered']}; hostile server restarts: {result['hostile_restarts']}, "
            f"echo restarts: {result['echo_restarts']}"
        )
        print(f"  /status p99 {result['status_p99_ms']} ms over {result['status_samples']} samples")
        print(
            f"  RSS {result['rss_start_kib']} KiB -> {result['rss_end_kib']} KiB ({result['rss_growth_pct']:+.1f} %), "
            f"FDs {result['fds_start']} -> {result['fds_end']}, gateway log {result['gateway_log_bytes']} bytes"
        )
    return 0 if result["good_errors"] == 0 and grew <= 0.20 else 1


if __name__ == "__main__":
    sys.exit(main())
