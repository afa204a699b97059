"""tools/call per second over streamable HTTP with concurrent clients, direct vs through mcproute.

    .venv/bin/python benchmarks/throughput.py [--seconds 3] [--concurrency 1,2,4,8,16] [--json]

Two real server processes on loopback: the lean SDK echo server (benchmarks/echo_server.py; or
`--downstream fixture` for tests/fixtures/gateway_fixture_server.py) serving streamable HTTP
(direct), and `mcproute serve --transport http` in front of the same server over stdio (proxied). The load generator is deliberately thin — one keep-alive HTTP/1.1
connection per virtual client, a pre-encoded 2026-07-28 `tools/call` (`echo`), the response read
by Content-Length — so the client's own CPU, which shares the 2 cores with the servers, is small
and the same for both paths. `mcp.Client` costs ~1 ms of CPU per call on its own, which would cap
both paths at the client rather than at the server.

For each path, a short sweep over the concurrency levels; each level runs for `--seconds`; the
reported figure is the best requests/s among the levels whose p99 ≤ 50 ms (the level is reported
beside it). Every response is checked (HTTP 200 and the echoed text) so errors cannot pass as speed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import SocketStream
from benchlib import DOWNSTREAMS, ROOT, child_env, free_port, loadavg, percentile, stop, tree_cpu_seconds, wait_http

P99_LIMIT_MS = 50.0
ERA = "2026-07-28"


def request_bytes(port: int, tool: str) -> bytes:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {
                "name": tool,
                "arguments": {"text": "bench"},
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": ERA,
                    "io.modelcontextprotocol/clientCapabilities": {},
                },
            },
        },
        separators=(",", ":"),
    ).encode()
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: {ERA}\r\n"
        f"Mcp-Method: tools/call\r\nMcp-Name: {tool}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class _Conn:
    """One keep-alive connection; reads one response at a time (no pipelining)."""

    def __init__(self, stream: SocketStream) -> None:
        self.stream = stream
        self.buf = b""

    async def roundtrip(self, req: bytes) -> bytes:
        await self.stream.send(req)
        while b"\r\n\r\n" not in self.buf:
            self.buf += await self.stream.receive()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        status = head[9:12]
        length = None
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            lname = name.strip().lower()
            if lname == b"content-length":
                length = int(value)
            elif lname == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if length is None and not chunked:
            raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
        if chunked:
            while not rest.endswith(b"0\r\n\r\n"):
                rest += await self.stream.receive()
            body, self.buf = rest, b""
        else:
            assert length is not None
            while len(rest) < length:
                rest += await self.stream.receive()
            body, self.buf = rest[:length], rest[length:]
        if status != b"200" or b'"bench"' not in body:
            raise RuntimeError(f"bad response {status!r}: {body[:300]!r}")
        return body


async def run_level(port: int, tool: str, concurrency: int, seconds: float, warmup: float = 0.3) -> dict[str, Any]:
    req = request_bytes(port, tool)
    latencies: list[float] = []
    done = 0
    total = 0  # every request, warm-up included (for CPU per call)
    t_start = 0.0
    t_end = 0.0

    async def worker() -> None:
        nonlocal done, total
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            conn = _Conn(stream)
            while time.perf_counter() < t_end:
                t0 = time.perf_counter()
                await conn.roundtrip(req)
                t1 = time.perf_counter()
                total += 1
                if t0 >= t_start:  # only requests started after the warm-up count
                    latencies.append(t1 - t0)
                    if t1 <= t_end:
                        done += 1

    now = time.perf_counter()
    t_start = now + warmup
    t_end = t_start + seconds
    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    return {
        "concurrency": concurrency,
        "rps": round(done / seconds, 1),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
        "n": len(latencies),
        "total": total,
    }


def wait_settled(port: int, count: int = 1, limit: float = 90.0) -> None:
    """Wait until `/status` has answered from `count` different processes (`serve --workers N`
    accepts into the parent's socket before its workers run), each with its encoder settled (it
    loads in the background for a few CPU-seconds, which would be measured as the gateway's)."""
    settled: set[int] = set()
    deadline = time.monotonic() + limit
    while len(settled) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(settled)} of {count} gateways settled on port {port} within {limit:.0f} s")
        req = urllib.request.Request(f"http://127.0.0.1:{port}/status", headers={"Connection": "close"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                report = json.load(r)
        except OSError:
            time.sleep(0.1)
            continue
        encoder = report.get("encoder") or {}
        if encoder.get("state") in (None, "ready", "off", "unavailable"):
            settled.add(report["process"]["pid"])
        else:
            time.sleep(0.1)


def measure(
    levels: list[int], seconds: float, downstream: str = "echo", min_proxy: bool = False, workers2: bool = False
) -> dict[str, Any]:
    """Direct vs mcproute (and with `min_proxy`, benchmarks/min_proxy.py: the thinnest SDK proxy;
    with `workers2`, `mcproute serve --workers 2` as a third path)."""
    py = sys.executable
    FIXTURE = DOWNSTREAMS[downstream]
    env = child_env()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "servers.yaml"
        cfg.write_text(f'servers:\n  fx: {{command: python, args: ["{FIXTURE}"]}}\n')  # shipped defaults (jsonl traces)
        fport, gport, mport, wport = free_port(), free_port(), free_port(), free_port()
        paths = [
            ("direct", fport, "echo", [py, FIXTURE, "--http", str(fport)]),
            (
                "proxied",
                gport,
                "fx__echo",
                [py, "-m", "mcproute", "serve", "--config", str(cfg), "--transport", "http", "--port", str(gport)],
            ),
        ]
        if min_proxy:
            paths.append(
                (
                    "min_proxy",
                    mport,
                    "echo",
                    [py, str(ROOT / "benchmarks" / "min_proxy.py"), "--http", str(mport), "--", py, FIXTURE],
                )
            )
        if workers2:
            serve = [py, "-m", "mcproute", "serve", "--config", str(cfg), "--transport", "http"]
            paths.append(("proxied_w2", wport, "fx__echo", [*serve, "--port", str(wport), "--workers", "2"]))
        procs = [subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL, cwd=tmp) for _, _, _, cmd in paths]
        rows_by: dict[str, list[dict[str, Any]]] = {key: [] for key, _, _, _ in paths}
        try:
            for (_, port, _, _), proc in zip(paths, procs, strict=True):
                wait_http(port, proc=proc)
            for key, port, _, _ in paths:  # both mcproute paths, so neither is measured while loading
                if key == "proxied":
                    wait_settled(port)
                elif key == "proxied_w2":
                    wait_settled(port, 2)
            # Interleave the paths level by level, so a burst of load from the machine's other
            # users hits all of them rather than one.
            for c in levels:
                for (key, port, tool, _), proc in zip(paths, procs, strict=True):
                    cpu0 = tree_cpu_seconds(proc.pid)
                    row = anyio.run(run_level, port, tool, c, seconds)
                    # CPU the server side spent per call (a proxy's figure includes its downstream
                    # child): a load-independent view of capacity, since wall-clock rps on a shared
                    # machine depends on what else runs.
                    row["server_cpu_ms_per_call"] = round(
                        (tree_cpu_seconds(proc.pid) - cpu0) * 1000 / max(row["total"], 1), 3
                    )
                    rows_by[key].append(row)
        finally:
            stop(procs)
    out: dict[str, Any] = {"loadavg": loadavg(), "downstream": downstream}
    for key, rows in rows_by.items():
        ok = [r for r in rows if r["p99_ms"] <= P99_LIMIT_MS]
        best = max(ok, key=lambda r: r["rps"]) if ok else None
        cpu = sorted(r["server_cpu_ms_per_call"] for r in rows)
        out[key] = {
            "rps": best["rps"] if best else 0.0,
            "concurrency": best["concurrency"] if best else None,
            "levels": rows,
            "cpu_ms_per_call": cpu[len(cpu) // 2],
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--concurrency", default="1,2,4,8,16")
    ap.add_argument("--downstream", default="echo", choices=sorted(DOWNSTREAMS))
    ap.add_argument("--min-proxy", action="store_true", help="also measure benchmarks/min_proxy.py")
    ap.add_argument("--workers2", action="store_true", help="also measure mcproute serve --workers 2")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = measure(
        [int(c) for c in args.concurrency.split(",")], args.seconds, args.downstream, args.min_proxy, args.workers2
    )
    if args.json:
        print(json.dumps(out))
        return
    for key in [k for k in ("direct", "proxied", "proxied_w2", "min_proxy") if k in out]:
        r = out[key]
        print(f"{key:8} best {r['rps']:7.1f} req/s at concurrency {r['concurrency']}")
        for row in r["levels"]:
            print(
                f"    c={row['concurrency']:<3} {row['rps']:7.1f} req/s  p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:6.2f} ms"
            )
    print(
        f"server CPU per call: direct {out['direct']['cpu_ms_per_call']} ms, proxied {out['proxied']['cpu_ms_per_call']} ms"
    )
    print(
        f"ratio proxied/direct: {out['proxied']['rps'] / max(out['direct']['rps'], 1e-9):.2f}   loadavg {out['loadavg']}"
    )


if __name__ == "__main__":
    main()
