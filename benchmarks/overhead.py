"""Added latency of a tools/call proxied through mcproute vs the same call made directly.

    .venv/bin/python benchmarks/overhead.py [--calls 2000] [--warmup 200] [--mode auto|legacy]

Same downstream (the SDK fixture server in tests/fixtures, or with `--downstream echo` the lean
benchmarks/echo_server.py that run.py uses; tool `echo`), same client (`mcp.Client`,
so client-side costs cancel out), same machine, sequential calls, the two paths alternating in
blocks of 25 calls (both clients open at once) so the machine's load hits both alike:

- stdio: client → fixture (stdio)            vs  client → `mcproute serve` (stdio) → fixture (stdio)
- http:  client → fixture (streamable HTTP)  vs  client → `mcproute serve --transport http` → fixture (stdio)

Prints one JSON object: p50/p99 in milliseconds per path, the added p50/p99 and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from benchlib import DOWNSTREAMS, child_env, free_port, loadavg, percentile, stop, wait_http


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


async def measure_pair(direct_target: Any, proxied_target: Any, calls: int, warmup: int, mode: str,
                       names: tuple[str, str] = ("echo", "fx__echo"), block: int = 25) -> tuple[dict[str, float], dict[str, float]]:
    """Both clients open at once; calls alternate in blocks of `block` between the two paths, so
    a burst of load from the machine's other users lands on both rather than on one."""
    async with Client(direct_target, mode=mode) as direct, Client(proxied_target, mode=mode) as proxied:
        pairs = ((direct, names[0], []), (proxied, names[1], []))
        for client, name, _ in pairs:
            await client.list_tools()
            for _ in range(warmup):
                await client.call_tool(name, {"text": "x"})
        # CPU the gateway process burns per call (the gateway alone, not its downstream): unlike
        # wall time, it does not depend on how busy the rest of the machine is.
        pids = gateway_pids()
        cpu0 = cpu_seconds(pids) if pids else 0.0
        done = 0
        block_added: list[float] = []  # proxied median − direct median, per pair of blocks
        while done < calls:
            n = min(block, calls - done)
            medians = []
            for client, name, samples in pairs:
                for _ in range(n):
                    t0 = time.perf_counter()
                    await client.call_tool(name, {"text": "x"})
                    samples.append((time.perf_counter() - t0) * 1000)
                medians.append(statistics.median(samples[-n:]))
            block_added.append(medians[1] - medians[0])
            done += n
        cpu = (cpu_seconds(pids) - cpu0) * 1000 / calls if pids else None
    out = []
    for _, _, samples in pairs:
        out.append({"p50_ms": round(statistics.median(samples), 3), "p99_ms": round(percentile(samples, 0.99), 3), "calls": len(samples)})
    if cpu is not None:
        out[1]["gateway_cpu_ms_per_call"] = round(cpu, 3)
    # The spread of the added latency between blocks: how much of a difference is noise.
    if len(block_added) >= 4:
        q = statistics.quantiles(block_added, n=4)
        out[1]["added_block_median_ms"] = round(statistics.median(block_added), 3)
        out[1]["added_block_iqr_ms"] = [round(q[0], 3), round(q[2], 3)]
    return out[0], out[1]


def compare(direct: dict[str, float], proxied: dict[str, float]) -> dict[str, Any]:
    return {
        "direct": direct,
        "proxied": proxied,
        "added_p50_ms": round(proxied["p50_ms"] - direct["p50_ms"], 3),
        "added_p99_ms": round(proxied["p99_ms"] - direct["p99_ms"], 3),
        "ratio_p50": round(proxied["p50_ms"] / direct["p50_ms"], 3),
    }


def measure(calls: int = 2000, warmup: int = 200, mode: str = "auto", downstream: str = "echo") -> dict[str, Any]:
    """Direct vs proxied over stdio and over HTTP; every server a real child process."""
    py = sys.executable
    FIXTURE = DOWNSTREAMS[downstream]
    env = child_env()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "servers.yaml"
        cfg.write_text(f'servers:\n  fx: {{command: python, args: ["{FIXTURE}"]}}\n')
        out: dict[str, Any] = {"downstream": f"{downstream} ({FIXTURE}) echo", "mode": mode, "python": sys.version.split()[0]}
        gateway_cmd = [py, "-m", "mcproute", "serve", "--config", str(cfg)]
        direct, proxied = anyio.run(
            measure_pair,
            StdioServerParameters(command=py, args=[FIXTURE], env=env),
            StdioServerParameters(command=py, args=gateway_cmd[1:], env=env, cwd=tmp),
            calls, warmup, mode,
        )
        out["stdio"] = compare(direct, proxied)

        fport, gport = free_port(), free_port()
        procs = [
            subprocess.Popen([py, FIXTURE, "--http", str(fport)], env=env, stderr=subprocess.DEVNULL),
            subprocess.Popen([*gateway_cmd, "--transport", "http", "--port", str(gport)], env=env, stderr=subprocess.DEVNULL, cwd=tmp),
        ]
        try:
            wait_http(fport, proc=procs[0])
            wait_http(gport, proc=procs[1])
            direct, proxied = anyio.run(measure_pair, f"http://127.0.0.1:{fport}/mcp", f"http://127.0.0.1:{gport}/mcp", calls, warmup, mode)
            out["http"] = compare(direct, proxied)
        finally:
            stop(procs)
    out["load_average"] = loadavg()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--mode", default="auto", choices=["auto", "legacy"], help="client protocol era (auto = 2026-07-28)")
    ap.add_argument("--downstream", default="fixture", choices=sorted(DOWNSTREAMS),
                    help="echo = benchmarks/echo_server.py (run.py's choice); fixture = tests/fixtures/gateway_fixture_server.py")
    args = ap.parse_args()
    out = measure(args.calls, args.warmup, args.mode, args.downstream)
    out["budget"] = {"stdio_added_p50_ms": 1.0, "http_added_p50_ms": 2.0}
    out["within_budget"] = {
        "stdio": out["stdio"]["added_p50_ms"] <= 1.0,
        "http": out["http"]["added_p50_ms"] <= 2.0,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
