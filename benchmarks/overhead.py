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
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
from benchlib import DOWNSTREAMS, ROOT, child_env, free_port, loadavg, percentile, stop, wait_http
from mcp import Client, StdioServerParameters

MIN_PROXY = str(ROOT / "benchmarks" / "min_proxy.py")


def gateway_pids(marker: bytes = b"mcproute") -> list[int]:
    """Our proxy children (stdio: spawned by the SDK client, so found by cmdline)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == os.getpid() and (
                b"serve" in cmd and marker in cmd if marker == b"mcproute" else any(marker in c for c in cmd)
            ):
                out.append(int(entry))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


async def measure_paths(
    paths: list[tuple[Any, str, bytes | None]], calls: int, warmup: int, mode: str, block: int = 25
) -> list[dict[str, Any]]:
    """All clients open at once; calls alternate in blocks of `block` between the paths, so a
    burst of load from the machine's other users lands on all of them. `paths[0]` is the direct
    one; each path is (target, tool name, cmdline marker of its proxy process or None)."""
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(Client(target, mode=mode)) for target, _, _ in paths]
        samples: list[list[float]] = [[] for _ in paths]
        for client, (_, name, _) in zip(clients, paths, strict=True):
            await client.list_tools()
            for _ in range(warmup):
                await client.call_tool(name, {"text": "x"})
        # CPU each proxy process burns per call (the proxy alone, not its downstream): unlike
        # wall time, it does not depend on how busy the rest of the machine is.
        pids = [gateway_pids(marker) if marker else [] for _, _, marker in paths]
        cpu0 = [cpu_seconds(p) if p else 0.0 for p in pids]
        done = 0
        block_added: list[list[float]] = [[] for _ in paths]  # path median − direct median, per block
        while done < calls:
            n = min(block, calls - done)
            medians = []
            for client, (_, name, _), mine in zip(clients, paths, samples, strict=True):
                for _ in range(n):
                    t0 = time.perf_counter()
                    await client.call_tool(name, {"text": "x"})
                    mine.append((time.perf_counter() - t0) * 1000)
                medians.append(statistics.median(mine[-n:]))
            for i in range(1, len(paths)):
                block_added[i].append(medians[i] - medians[0])
            done += n
        cpu = [(cpu_seconds(p) - c0) * 1000 / calls if p else None for p, c0 in zip(pids, cpu0, strict=True)]
    out: list[dict[str, Any]] = []
    for i, mine in enumerate(samples):
        row: dict[str, Any] = {
            "p50_ms": round(statistics.median(mine), 3),
            "p99_ms": round(percentile(mine, 0.99), 3),
            "calls": len(mine),
        }
        if cpu[i] is not None:
            row["gateway_cpu_ms_per_call"] = round(cpu[i], 3)
        # The spread of the added latency between blocks: how much of a difference is noise.
        if len(block_added[i]) >= 4:
            q = statistics.quantiles(block_added[i], n=4)
            row["added_block_median_ms"] = round(statistics.median(block_added[i]), 3)
            row["added_block_iqr_ms"] = [round(q[0], 3), round(q[2], 3)]
        out.append(row)
    return out


async def measure_pair(
    direct_target: Any,
    proxied_target: Any,
    calls: int,
    warmup: int,
    mode: str,
    names: tuple[str, str] = ("echo", "fx__echo"),
    block: int = 25,
) -> tuple[dict[str, Any], dict[str, Any]]:
    direct, proxied = await measure_paths(
        [(direct_target, names[0], None), (proxied_target, names[1], b"mcproute")], calls, warmup, mode, block
    )
    return direct, proxied


def compare(direct: dict[str, float], proxied: dict[str, float]) -> dict[str, Any]:
    return {
        "direct": direct,
        "proxied": proxied,
        "added_p50_ms": round(proxied["p50_ms"] - direct["p50_ms"], 3),
        "added_p99_ms": round(proxied["p99_ms"] - direct["p99_ms"], 3),
        "ratio_p50": round(proxied["p50_ms"] / direct["p50_ms"], 3),
    }


def measure(
    calls: int = 2000,
    warmup: int = 200,
    mode: str = "auto",
    downstream: str = "echo",
    min_proxy: bool = False,
    metrics: bool = False,
) -> dict[str, Any]:
    """Direct vs proxied over stdio and over HTTP; every server a real child process. With
    `min_proxy`, benchmarks/min_proxy.py (the thinnest SDK proxy) runs as a third path in the
    same interleaved loop: its added latency is the floor under mcproute's (`stdio_min`, `http_min`)."""
    py = sys.executable
    FIXTURE = DOWNSTREAMS[downstream]
    env = child_env()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "servers.yaml"
        cfg.write_text(
            f'servers:\n  fx: {{command: python, args: ["{FIXTURE}"]}}\n'
            + ("telemetry: {metrics: {prometheus: true}}\n" if metrics else "")
        )
        out: dict[str, Any] = {
            "downstream": f"{downstream} ({FIXTURE}) echo",
            "mode": mode,
            "python": sys.version.split()[0],
        }
        gateway_cmd = [py, "-m", "mcproute", "serve", "--config", str(cfg)]
        paths: list[tuple[Any, str, bytes | None]] = [
            (StdioServerParameters(command=py, args=[FIXTURE], env=env), "echo", None),
            (StdioServerParameters(command=py, args=gateway_cmd[1:], env=env, cwd=tmp), "fx__echo", b"mcproute"),
        ]
        if min_proxy:
            paths.append(
                (
                    StdioServerParameters(command=py, args=[MIN_PROXY, "--", py, FIXTURE], env=env),
                    "echo",
                    b"min_proxy.py",
                )
            )
        rows = anyio.run(measure_paths, paths, calls, warmup, mode)
        out["stdio"] = compare(rows[0], rows[1])
        if min_proxy:
            out["stdio_min"] = compare(rows[0], rows[2])

        fport, gport, mport = free_port(), free_port(), free_port()
        procs = [
            subprocess.Popen([py, FIXTURE, "--http", str(fport)], env=env, stderr=subprocess.DEVNULL),
            subprocess.Popen(
                [*gateway_cmd, "--transport", "http", "--port", str(gport)], env=env, stderr=subprocess.DEVNULL, cwd=tmp
            ),
        ]
        if min_proxy:
            procs.append(
                subprocess.Popen(
                    [py, MIN_PROXY, "--http", str(mport), "--", py, FIXTURE], env=env, stderr=subprocess.DEVNULL
                )
            )
        try:
            for port, proc in zip((fport, gport, mport), procs):
                wait_http(port, proc=proc)
            paths = [
                (f"http://127.0.0.1:{fport}/mcp", "echo", None),
                (f"http://127.0.0.1:{gport}/mcp", "fx__echo", b"mcproute"),
            ]
            if min_proxy:
                paths.append((f"http://127.0.0.1:{mport}/mcp", "echo", b"min_proxy.py"))
            rows = anyio.run(measure_paths, paths, calls, warmup, mode)
            out["http"] = compare(rows[0], rows[1])
            if min_proxy:
                out["http_min"] = compare(rows[0], rows[2])
        finally:
            stop(procs)
    out["load_average"] = loadavg()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument(
        "--mode", default="auto", choices=["auto", "legacy"], help="client protocol era (auto = 2026-07-28)"
    )
    ap.add_argument(
        "--min-proxy",
        action="store_true",
        help="also measure benchmarks/min_proxy.py (the thinnest SDK proxy) in the same loop",
    )
    ap.add_argument(
        "--downstream",
        default="fixture",
        choices=sorted(DOWNSTREAMS),
        help="echo = benchmarks/echo_server.py (run.py's choice); fixture = tests/fixtures/gateway_fixture_server.py",
    )
    ap.add_argument(
        "--metrics",
        action="store_true",
        help="serve with telemetry.metrics.prometheus on (an SDK MeterProvider recording every call)",
    )
    args = ap.parse_args()
    out = measure(args.calls, args.warmup, args.mode, args.downstream, args.min_proxy, args.metrics)
    out["budget"] = {"stdio_added_p50_ms": 1.0, "http_added_p50_ms": 2.0}
    out["within_budget"] = {
        "stdio": out["stdio"]["added_p50_ms"] <= 1.0,
        "http": out["http"]["added_p50_ms"] <= 2.0,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
