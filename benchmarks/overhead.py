"""Added latency of a tools/call proxied through mcproute vs the same call made directly.

    .venv/bin/python benchmarks/overhead.py [--calls 2000] [--warmup 200] [--mode auto|legacy]

Same downstream (the SDK fixture server in tests/fixtures, tool `echo`), same client (`mcp.Client`,
so client-side costs cancel out), same machine, sequential calls:

- stdio: client → fixture (stdio)            vs  client → `mcproute serve` (stdio) → fixture (stdio)
- http:  client → fixture (streamable HTTP)  vs  client → `mcproute serve --transport http` → fixture (stdio)

Prints one JSON object: p50/p99 in milliseconds per path, the added p50/p99 and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = str(ROOT / "tests" / "fixtures" / "gateway_fixture_server.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def gateway_pids() -> list[int]:
    """Our `mcproute serve` children (stdio: spawned by the SDK client, so found by cmdline)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if b"mcproute" in cmd and b"serve" in cmd and ppid == os.getpid():
                out.append(int(entry))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


async def measure(target: Any, calls: int, warmup: int, mode: str) -> dict[str, float]:
    async with Client(target, mode=mode) as client:
        await client.list_tools()
        for _ in range(warmup):
            await client.call_tool(NAME[0], {"text": "x"})
        # CPU the gateway process burns per call: unlike wall time, it does not depend on how
        # busy the rest of the machine is.
        pids = gateway_pids() if NAME[0] == "fx__echo" else []
        cpu0 = cpu_seconds(pids) if pids else 0.0
        samples = []
        for _ in range(calls):
            t0 = time.perf_counter()
            await client.call_tool(NAME[0], {"text": "x"})
            samples.append((time.perf_counter() - t0) * 1000)
        out = {"p50_ms": round(statistics.median(samples), 3), "p99_ms": round(percentile(samples, 0.99), 3), "calls": calls}
        if pids:
            out["gateway_cpu_ms_per_call"] = round((cpu_seconds(pids) - cpu0) * 1000 / calls, 3)
    return out


NAME = ["echo"]


def wait_http(port: int, limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def compare(direct: dict[str, float], proxied: dict[str, float]) -> dict[str, Any]:
    return {
        "direct": direct,
        "proxied": proxied,
        "added_p50_ms": round(proxied["p50_ms"] - direct["p50_ms"], 3),
        "added_p99_ms": round(proxied["p99_ms"] - direct["p99_ms"], 3),
        "ratio_p50": round(proxied["p50_ms"] / direct["p50_ms"], 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--mode", default="auto", choices=["auto", "legacy"], help="client protocol era (auto = 2026-07-28)")
    args = ap.parse_args()
    py = sys.executable
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "servers.yaml"
        cfg.write_text(f'servers:\n  fx: {{command: python, args: ["{FIXTURE}"]}}\n')
        out: dict[str, Any] = {"downstream": "tests/fixtures/gateway_fixture_server.py echo", "mode": args.mode, "python": sys.version.split()[0]}

        direct = anyio.run(measure, StdioServerParameters(command=py, args=[FIXTURE], env=env), args.calls, args.warmup, args.mode)
        NAME[0] = "fx__echo"
        proxied = anyio.run(
            measure,
            StdioServerParameters(command=py, args=["-m", "mcproute", "serve", "--config", str(cfg)], env=env),
            args.calls, args.warmup, args.mode,
        )
        out["stdio"] = compare(direct, proxied)

        fport, gport = free_port(), free_port()
        procs = [
            subprocess.Popen([py, FIXTURE, "--http", str(fport)], env=env, stderr=subprocess.DEVNULL),
            subprocess.Popen([py, "-m", "mcproute", "serve", "--config", str(cfg), "--transport", "http", "--port", str(gport)], env=env, stderr=subprocess.DEVNULL),
        ]
        try:
            wait_http(fport)
            wait_http(gport)
            NAME[0] = "echo"
            direct = anyio.run(measure, f"http://127.0.0.1:{fport}/mcp", args.calls, args.warmup, args.mode)
            NAME[0] = "fx__echo"
            proxied = anyio.run(measure, f"http://127.0.0.1:{gport}/mcp", args.calls, args.warmup, args.mode)
            out["http"] = compare(direct, proxied)
        finally:
            for p in procs:
                p.terminate()
                p.wait(10)
    out["load_average"] = os.getloadavg()
    out["budget"] = {"stdio_added_p50_ms": 1.0, "http_added_p50_ms": 2.0}
    out["within_budget"] = {
        "stdio": out["stdio"]["added_p50_ms"] <= 1.0,
        "http": out["http"]["added_p50_ms"] <= 2.0,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
