"""What stickiness adds on top of the raw router: decide() vs ToolIndex.rank alone, and store ops.

    .venv/bin/python benchmarks/decide_overhead.py [--catalog ../shared/evaldata/catalogs/bfcl_union.json]

Prints p50/p99 in microseconds for: rank alone, decide() (rank + a constant tier scorer +
stickiness) on a conversation with history, and MemoryStore/SqliteStore load+update per step.
The tier scorer is a constant here on purpose: its cost belongs to router.tiers' own benchmark.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import anyio

from mcproute.config import RoutingConfig
from mcproute.router.conversation import StepOutcome, advance
from mcproute.router.decide import decide
from mcproute.router.step import ConversationState, ModelSpec, Step
from mcproute.router.tools import RetrievalContext, ToolIndex, specs_from_dicts
from mcproute.state import MemoryStore, SqliteStore

QUERIES = [
    "show me the latest commits",
    "what time is it in Tokyo",
    "read the config file",
    "send a message to the team",
    "book a flight to Paris",
    "convert 10 miles to km",
    "list open pull requests",
    "delete the temp files",
]


@dataclass(frozen=True)
class _Score:
    score: float = 0.3
    signals: dict[str, float] = field(default_factory=dict)
    reason: str = "constant"


class _Const:
    def score(self, text: str, *, signals: object = None) -> _Score:
        return _Score()


@dataclass(frozen=True)
class _Cal:
    threshold: float = 0.5
    version: str = "bench"


def pct(xs: list[float]) -> str:
    xs = sorted(xs)
    return f"p50 {statistics.median(xs) * 1e6:8.1f} us   p99 {xs[int(len(xs) * 0.99)] * 1e6:8.1f} us"


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--catalog", default=str(Path(__file__).resolve().parents[2] / "shared/evaldata/catalogs/bfcl_union.json")
    )
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    tools = specs_from_dicts(json.loads(Path(args.catalog).read_text()))
    tools = [replace(t, server=t.name.split(".")[0] if "." in t.name else "s") for t in tools]
    ix = ToolIndex(tools)
    catalog = {t.name: t for t in tools}
    models = [
        ModelSpec("deep", "reasoning", 3, 15, deployments=("d0", "d1")),
        ModelSpec("quick", "fast", 0.25, 1.25, deployments=("q0", "q1")),
    ]
    policy = RoutingConfig()
    state = ConversationState(
        "bench",
        tier="reasoning",
        model="deep",
        deployment="d1",
        step_count=9,
        tools_used=tuple(t.name for t in tools[:8]),
        servers_used=tuple(t.server for t in tools[:8]),
        recent_texts=tuple(QUERIES[:3]),
        last_result="ok " * 50,
        updated_at=time.time(),
    )
    ctx = RetrievalContext.from_state(state)
    rankings = {q: ix.rank(q, context=ctx, k=policy.top_k) for q in QUERIES}

    class Cached:  # the same rankings, precomputed: isolates decide()'s own work
        def rank(self, text: str, *, context: object = None, k: int = 10, vector: object = None) -> object:
            return rankings[text]

    rank_t, decide_t, own_t = [], [], []
    for i in range(args.n):
        q = QUERIES[i % len(QUERIES)]
        t0 = time.perf_counter()
        ix.rank(q, context=ctx, k=policy.top_k)
        t1 = time.perf_counter()
        decide(Step(q, "bench", f"s{i}"), state, ix, _Const(), _Cal(), models, policy, now=time.time(), tools=catalog)
        t2 = time.perf_counter()
        decide(
            Step(q, "bench", f"s{i}"), state, Cached(), _Const(), _Cal(), models, policy, now=time.time(), tools=catalog
        )  # type: ignore[arg-type]
        t3 = time.perf_counter()
        rank_t.append(t1 - t0)
        decide_t.append(t2 - t1)
        own_t.append(t3 - t2)
    print(f"catalogue: {len(tools)} tools from {args.catalog}")
    print(f"rank alone                   {pct(rank_t)}")
    print(f"decide (rank + stickiness)   {pct(decide_t)}")
    print(f"decide with a cached ranking {pct(own_t)}   (= what stickiness and the record add)")
    d = decide(
        Step(QUERIES[0], "bench", "s"), state, ix, _Const(), _Cal(), models, policy, now=time.time(), tools=catalog
    )
    with tempfile.TemporaryDirectory() as tmp:
        for store in (MemoryStore(), SqliteStore(Path(tmp) / "s.sqlite3")):
            await store.save(state)
            times = []
            for i in range(args.n // 4):
                t0 = time.perf_counter()
                await store.load("bench")
                await store.update(
                    "bench", lambda s, i=i: advance(s, d, StepOutcome(text=QUERIES[i % 8]), now=time.time())
                )
                times.append(time.perf_counter() - t0)
            print(f"{type(store).__name__:<12} load+update {pct(times)}")
            await store.close()


if __name__ == "__main__":
    anyio.run(main)
