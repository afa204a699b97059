"""What a reply-cache hit costs beside the direct path (issue 12: a hit adds <= 2 ms p50).

    .venv/bin/python benchmarks/cache_hit.py [--steps 300] [--fill 300] [--json]

A real `Engine` (gateway over the stdio fixture, SQLite store, shipped router, the sentence
encoder, the similarity tier on) answering `Engine.complete` (what `/v1/chat/completions` runs)
with a scripted model that does no inference (benchmarks/bench_models.py) — so the direct path is
the cheapest a provider call can ever be. Three arms, interleaved step by step over 20
conversations:

- direct: the cache switched off for the step: the router decides, the pool calls the model;
- exact: the same question again: answered from the cache (the pool is not called);
- similar: a reworded question (a different text, the same request): the exact key misses and
  the step vector finds the stored answer among `--fill` others in the same scope.

Keys: `hit_exact_added_p50_ms` / `hit_similar_added_p50_ms` = the arm's p50 minus the direct p50
(negative: a hit is faster than even a zero-latency model), and `lookup_{exact,similar}_p50_ms`:
the cache's own `lookup` alone (keys, scan, replayed reply).
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

sys.path.insert(0, str(ROOT / "benchmarks"))

from mcproute.config import parse_config

QUESTION = "how do I reverse a list in Python?"
REWORDED = "what is the way to reverse a Python list?"  # a hit in `mcproute eval cache`'s pairs


def config(data_dir: str) -> dict[str, Any]:
    model = {"provider": "scripted", "script": "bench_models:echo", "price": {"input": 1.0, "output": 2.0}}
    return {
        "data_dir": data_dir,
        "servers": {"fx": {"command": sys.executable, "args": [FIXTURE], "env": {"PYTHONWARNINGS": "ignore"}}},
        "models": {"quick": {**model, "tier": "fast"}, "deep": {**model, "tier": "reasoning"}},
        "state": {"backend": "sqlite"},
        "telemetry": {"exporter": "none"},
        "cache": {"similarity": True, "max_entries": 100_000},
    }


async def _measure(steps: int, warmup: int, fill: int) -> dict[str, Any]:
    from mcproute.runtime.engine import Engine

    with tempfile.TemporaryDirectory() as tmp:
        loaded = parse_config(json.dumps(config(tmp)), environ={})
        async with Engine(loaded) as engine:
            await engine.wait_settled()
            cache = engine.reply_cache
            lookups: list[float] = []
            inner = cache.lookup

            def timed_lookup(*a: Any, **kw: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return inner(*a, **kw)
                finally:
                    lookups.append(time.perf_counter() - t0)

            cache.lookup = timed_lookup  # type: ignore[method-assign]
            system = {"role": "system", "content": "Be brief."}
            idents = [engine.identity(arguments={"conversation_id": f"cache-{i}"}) for i in range(20)]

            async def step(text: str, i: int) -> float:
                t0 = time.perf_counter()
                await engine.complete([system, {"role": "user", "content": text}], identity=idents[i % 20])
                return time.perf_counter() - t0

            for i in range(fill):  # other questions in the same scope: what a similarity lookup scans
                await step(f"echo back the text item {i}", i)
            await step(QUESTION, 0)  # the entry the hits reuse
            arms: dict[str, list[float]] = {"direct": [], "exact": [], "similar": []}
            lk: dict[str, list[float]] = {"exact": [], "similar": []}
            for i in range(warmup + steps):
                cache.enabled = False
                direct = await step(QUESTION, i)
                cache.enabled = True
                before = dict(cache.counts)
                exact = await step(QUESTION, i)
                exact_lookup = lookups[-1]
                similar = await step(REWORDED, i)
                similar_lookup = lookups[-1]
                if cache.counts["exact"] <= before["exact"] or cache.counts["similar"] <= before["similar"]:
                    raise RuntimeError(f"expected one exact and one similar hit, counts {before} -> {cache.counts}")
                if i >= warmup:
                    arms["direct"].append(direct)
                    arms["exact"].append(exact)
                    arms["similar"].append(similar)
                    lk["exact"].append(exact_lookup)
                    lk["similar"].append(similar_lookup)

    def p(xs: list[float], q: float = 0.5) -> float:
        return round(percentile(xs, q) * 1000, 3)

    return {
        "steps": steps,
        "fill": fill,
        "direct_p50_ms": p(arms["direct"]),
        "hit_exact_p50_ms": p(arms["exact"]),
        "hit_similar_p50_ms": p(arms["similar"]),
        "hit_exact_added_p50_ms": round(p(arms["exact"]) - p(arms["direct"]), 3),
        "hit_similar_added_p50_ms": round(p(arms["similar"]) - p(arms["direct"]), 3),
        "lookup_exact_p50_ms": p(lk["exact"]),
        "lookup_similar_p50_ms": p(lk["similar"]),
        "lookup_similar_p99_ms": p(lk["similar"], 0.99),
        "loadavg": loadavg(),
    }


def measure(steps: int, warmup: int = 20, fill: int = 300) -> dict[str, Any]:
    return anyio.run(_measure, steps, warmup, fill)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--fill", type=int, default=300, help="other entries in the same scope before measuring")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = measure(args.steps, args.warmup, args.fill)
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
