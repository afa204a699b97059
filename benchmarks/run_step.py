"""What `Engine.run_step` costs beyond the tool call itself, with the offline scripted provider.

    .venv/bin/python benchmarks/run_step.py [--steps 300] [--telemetry jsonl|none] [--replay full|hashes|off]
                                            [--shadow RATE] [--json]

A real `Engine` (gateway + pool + SQLite store + shipped router) in front of the gateway fixture
(stdio, a real process) with two scripted models (benchmarks/bench_models.py: the model calls
`fx__echo` at once — no inference, no network). Each step: load state under the conversation's
lock, `decide()`, the scripted model call, validation of its tool call, the downstream
`tools/call`, the step record and the state saved to SQLite, spans. The downstream call is timed
by a gateway call hook added after the engine's own (so it is the innermost: only the forwarding
and the fixture's answer); overhead = step time − that, per step, then p50/p99. The same
difference in process CPU time (all threads) is reported as `overhead_cpu_p50_ms`: on a shared
machine the wall-clock figure includes time spent waiting for a core at each thread hand-off.

Conversations: 20, round-robin, so state is read back and advanced as in a real multi-turn load.
`--telemetry jsonl` is the shipped default (spans batched to a JSONL file); `none` isolates the
engine's own work. `--shadow RATE` turns on shadow traffic (docs/shadow.md; no cap in the way):
the shadows run in the same process, concurrently with the next steps, so the figure is what a
live step pays for sharing the event loop and the store with them (the check that each step made
exactly one downstream call also shows that no shadow tool call ran).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from typing import Any

import anyio
from benchlib import FIXTURE, ROOT, loadavg, percentile

sys.path.insert(0, str(ROOT / "benchmarks"))  # the scripted models are imported by name from here

from mcproute.config import parse_config


def config(data_dir: str, telemetry: str, replay: str = "full", shadow: float = 0.0) -> dict[str, Any]:
    return {
        "routing": {"shadow": {"rate": shadow, "max_usd_per_day": 1e9, "max_in_flight": 1000}},
        "data_dir": data_dir,
        "servers": {"fx": {"command": sys.executable, "args": [FIXTURE], "env": {"PYTHONWARNINGS": "ignore"}}},
        "models": {
            "quick": {
                "tier": "fast",
                "provider": "scripted",
                "script": "bench_models:echo",
                "price": {"input": 0.1, "output": 0.4},
            },
            "deep": {
                "tier": "reasoning",
                "provider": "scripted",
                "script": "bench_models:echo",
                "price": {"input": 3.0, "output": 15.0},
            },
        },
        "state": {"backend": "sqlite"},
        "telemetry": {"exporter": telemetry},
        "replay": {"keep": replay},
        # Every step repeats one text: with the reply cache on, all but the first would skip the
        # model. This measures the model-call path; benchmarks/cache_hit.py measures hits.
        "cache": {"enabled": False},
    }


async def _measure(
    steps: int, warmup: int, telemetry: str, replay: str = "full", shadow: float = 0.0
) -> dict[str, Any]:
    from mcproute.runtime.engine import Engine

    with tempfile.TemporaryDirectory() as tmp:
        loaded = parse_config(json.dumps(config(tmp, telemetry, replay, shadow)), environ={})
        handle = None
        if telemetry != "none":
            from mcproute.telemetry.setup import setup

            handle = setup(loaded_config=loaded)
        tool_s: list[float] = []
        tool_cpu: list[float] = []

        async def timing_hook(call: Any, call_next: Any) -> Any:
            c0 = time.process_time()
            t0 = time.perf_counter()
            try:
                return await call_next(call)
            finally:
                tool_s.append(time.perf_counter() - t0)
                tool_cpu.append(time.process_time() - c0)

        try:
            async with Engine(loaded) as engine:
                engine.gateway.add_call_hook(timing_hook)
                idents = [engine.identity(arguments={"conversation_id": f"bench-{i}"}) for i in range(20)]
                text = "echo back the text bench"
                total_s: list[float] = []
                over_s: list[float] = []
                over_cpu: list[float] = []
                for i in range(warmup + steps):
                    before = len(tool_s)
                    c0 = time.process_time()
                    t0 = time.perf_counter()
                    result = await engine.run_step(text, identity=idents[i % len(idents)])
                    elapsed = time.perf_counter() - t0
                    cpu = time.process_time() - c0
                    if result.tool != "fx__echo" or result.is_error or len(tool_s) != before + 1:
                        raise RuntimeError(
                            f"step did not make exactly one fx__echo call: tool={result.tool} "
                            f"error={result.tool_error or result.validation_error} calls={len(tool_s) - before}"
                        )
                    if i >= warmup:
                        total_s.append(elapsed)
                        over_s.append(elapsed - tool_s[-1])
                        over_cpu.append(cpu - tool_cpu[-1])
                shadows = 0
                if engine.shadow is not None:
                    await engine.shadow.drain()
                    shadows = len(await engine.store.list_outcomes(kind="shadow", limit=100_000))  # type: ignore[union-attr]
        finally:
            if handle is not None:
                handle.shutdown()
    calls = tool_s[warmup:]
    return {
        "telemetry": telemetry,
        "replay": replay,
        "shadow_rate": shadow,
        "shadows_recorded": shadows,
        "steps": steps,
        "overhead_p50_ms": round(percentile(over_s, 0.5) * 1000, 3),
        "overhead_p99_ms": round(percentile(over_s, 0.99) * 1000, 3),
        # CPU of this process (all threads, so the SQLite worker too) per step minus the CPU spent
        # inside the tool call: what the engine's own work costs when nothing else competes.
        "overhead_cpu_p50_ms": round(percentile(over_cpu, 0.5) * 1000, 3),
        "step_p50_ms": round(percentile(total_s, 0.5) * 1000, 3),
        "tool_call_p50_ms": round(percentile(calls, 0.5) * 1000, 3),
        "loadavg": loadavg(),
    }


def measure(
    steps: int, warmup: int = 30, telemetry: str = "jsonl", replay: str = "full", shadow: float = 0.0
) -> dict[str, Any]:
    return anyio.run(_measure, steps, warmup, telemetry, replay, shadow)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--telemetry", choices=("jsonl", "none"), default="jsonl")
    ap.add_argument(
        "--replay",
        choices=("full", "hashes", "off"),
        default="full",
        help="replay.keep: what the step's inputs cost to keep (docs/replay.md)",
    )
    ap.add_argument("--shadow", type=float, default=0.0, help="routing.shadow.rate (docs/shadow.md)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = measure(args.steps, args.warmup, args.telemetry, args.replay, args.shadow)
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
