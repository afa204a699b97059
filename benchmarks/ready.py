"""Time to ready with 5 downstream servers / the slowest single server's own start (target ≤ 1.2).

    .venv/bin/python benchmarks/ready.py [--repeat 3] [--json]

Five real stdio servers, all different: mcp-server-time, mcp-server-git (on this repository), the
gateway fixture, the conformance fixture, and the gateway fixture with 200 filler tools. In one
process (imports warm, so only server starts are compared), each repeat measures, in this order:

- each server's **own start**: `mcp.Client(stdio)` entered and its first `tools/list` answered,
  one server at a time, no gateway;
- **floor**: the same five direct starts at once in a task group (still no gateway) — on 2 cores
  five Python interpreters starting together compete for CPU, so this is what any gateway that
  starts its servers concurrently pays at best;
- **gateway**: `async with Gateway(loaded)` on a config with the five servers — returns when every
  server has connected and listed its tools (or failed once) — then its catalogue is checked to
  hold all five servers' tools.

`ready_ratio` = median gateway time / median of the slowest own start; `ready_floor_ratio` =
median floor / the same denominator. The cold start of the `mcproute` process itself (imports)
is reported apart as `serve_cold_start_s` by run.py, since it is paid once and not per server.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from typing import Any

import anyio
from benchlib import FIXTURE, ROOT, child_env, loadavg
from mcp import Client, StdioServerParameters

from mcproute.config import parse_config
from mcproute.gateway import Gateway

CONFORMANCE = str(ROOT / "tests" / "fixtures" / "conformance_server.py")


def servers() -> dict[str, tuple[str, list[str]]]:
    py = sys.executable
    return {
        "time": (py, ["-m", "mcp_server_time", "--local-timezone", "UTC"]),
        "git": (py, ["-m", "mcp_server_git", "--repository", str(ROOT)]),
        "fx": (py, [FIXTURE]),
        "conf": (py, [CONFORMANCE]),
        "big": (py, [FIXTURE, "--name", "big", "--extra-tools", "200"]),
    }


async def own_start(command: str, args: list[str]) -> float:
    t0 = time.perf_counter()
    async with Client(StdioServerParameters(command=command, args=args, env=child_env())) as client:
        await client.list_tools()
        elapsed = time.perf_counter() - t0
    return elapsed


async def floor(specs: dict[str, tuple[str, list[str]]]) -> float:
    t0 = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for command, args in specs.values():
            tg.start_soon(own_start, command, args)
    return time.perf_counter() - t0


async def gateway_start(specs: dict[str, tuple[str, list[str]]], data_dir: str) -> float:
    cfg = {
        "data_dir": data_dir,
        "servers": {
            name: {"command": c, "args": a, "env": {"PYTHONWARNINGS": "ignore"}} for name, (c, a) in specs.items()
        },
        "telemetry": {"exporter": "none"},
    }
    loaded = parse_config(json.dumps(cfg), environ={})
    t0 = time.perf_counter()
    async with Gateway(loaded) as gw:
        elapsed = time.perf_counter() - t0
        seen = {s.server for s in gw.tool_specs()}
        unhealthy = {n: h.reason for n, h in gw.health().items() if h.state != "healthy"}
        if set(specs) - seen or unhealthy:
            raise RuntimeError(
                f"gateway not ready with all servers: missing {sorted(set(specs) - seen)}, unhealthy {unhealthy}"
            )
    return elapsed


async def _measure(repeat: int, with_floor: bool = True) -> dict[str, Any]:
    specs = servers()
    own: dict[str, list[float]] = {name: [] for name in specs}
    floors: list[float] = []
    gws: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        await own_start(*specs["fx"])  # warm the page cache and the client's imports
        for _ in range(repeat):
            for name, (command, args) in specs.items():
                own[name].append(await own_start(command, args))
            if with_floor:
                floors.append(await floor(specs))
            gws.append(await gateway_start(specs, tmp))
    own_med = {name: round(statistics.median(v), 4) for name, v in own.items()}
    slowest = max(own_med.values())
    gw_med = statistics.median(gws)
    out: dict[str, Any] = {"ready_ratio": round(gw_med / slowest, 3), "ready_gateway_s": round(gw_med, 4)}
    if floors:
        fl_med = statistics.median(floors)
        out.update({"ready_floor_ratio": round(fl_med / slowest, 3), "ready_floor_s": round(fl_med, 4)})
    return {
        **out,
        "ready_slowest_single_s": slowest,
        "ready_slowest_single": max(own_med, key=lambda k: own_med[k]),
        "ready_single_s": own_med,
        "repeat": repeat,
    }


def measure(repeat: int, with_floor: bool = True) -> dict[str, Any]:
    out = anyio.run(_measure, repeat, with_floor)
    out["loadavg"] = loadavg()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-floor", action="store_true", help="skip the five-direct-starts-at-once floor")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = measure(args.repeat, with_floor=not args.no_floor)
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
