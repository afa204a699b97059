"""Router decision latency with 1,000 and 10,000 tools (target p99: ≤ 1 ms and ≤ 3 ms).

    .venv/bin/python benchmarks/decision.py [--sizes 1000,10000] [--n 2000] [--json]

Catalogues are synthesised from ../shared/evaldata: the BFCL v4 union (1,702 tools) followed by
the MetaTool tools (199) — 1,901 distinct real tools. Every tool is namespaced the way the
gateway does it, `<server>__<tool>`, with servers of 20 consecutive tools (`s000`, `s001`, …).
A catalogue of N tools is copy 0, copy 1, … of that list, cut at N: copy k renames every server
`c<k>s<j>` (so `c1s004__math.factorial`), descriptions and schemas kept verbatim. So 1,000 tools =
the first 1,000 of the real tools; 10,000 = the 1,901 real tools and 4 renamed copies of them
plus the first 495 of a fifth — which is harder for the index than 10,000 distinct tools (every
description term is 5–6× as frequent) but keeps the vocabulary real.

Each decision is the full `router.decide()`: BM25F + reranker over the catalogue, the shipped
tier scorer and its calibration, stickiness, on a conversation that already has history (eight
tools used, three earlier texts, a last result), for queries taken from
tool_selection_large.jsonl in file order. The index is built once, outside the timing.
Wall-clock p50/p99 are the figures; the thread's CPU time per decision is reported beside them
because on a shared machine the wall-clock p99 is mostly time spent preempted.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path
from typing import Any

from benchlib import EVALDATA, summary_ms

from mcproute.config import RoutingConfig
from mcproute.router.decide import decide
from mcproute.router.step import ConversationState, ModelSpec, Step, ToolSpec
from mcproute.router.tiers import TierScorer
from mcproute.router.tools import RetrievalContext, ToolIndex

SERVER_SIZE = 20


def base_tools(evaldata: Path = EVALDATA) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    seen: set[str] = set()
    for name in ("bfcl_union.json", "metatool.json"):
        for t in json.loads((evaldata / "catalogs" / name).read_text()):
            if t["name"] not in seen:
                seen.add(t["name"])
                tools.append(t)
    return tools


def synth_catalog(n: int, evaldata: Path = EVALDATA) -> list[ToolSpec]:
    """N namespaced tools: the real tools, then renamed copies (see the module docstring)."""
    base = base_tools(evaldata)
    out: list[ToolSpec] = []
    copy = 0
    while len(out) < n:
        for i, t in enumerate(base):
            if len(out) >= n:
                break
            server = f"s{i // SERVER_SIZE:03d}" if copy == 0 else f"c{copy}s{i // SERVER_SIZE:03d}"
            schema = t.get("input_schema") or {}
            out.append(
                ToolSpec(
                    f"{server}__{t['name']}",
                    str(t.get("description") or ""),
                    schema if isinstance(schema, dict) else {},
                    server,
                )
            )
        copy += 1
    return out


def queries(limit: int, evaldata: Path = EVALDATA) -> list[str]:
    out = []
    with open(evaldata / "tool_selection_large.jsonl") as f:
        for line in f:
            q = json.loads(line).get("query")
            if isinstance(q, str) and q.strip():
                out.append(q[:2000])
            if len(out) >= limit:
                break
    return out


def build(n_tools: int) -> tuple[list[ToolSpec], ToolIndex, float]:
    """The catalogue and its index (untimed part), and the seconds the index took to build."""
    tools = synth_catalog(n_tools)
    t0 = time.perf_counter()
    index = ToolIndex(tools)
    return tools, index, time.perf_counter() - t0


def measure(
    n_tools: int, n: int, warmup: int = 50, built: tuple[list[ToolSpec], ToolIndex, float] | None = None
) -> dict[str, Any]:
    tools, index, build_s = built if built is not None else build(n_tools)
    catalog = {t.name: t for t in tools}
    scorer = TierScorer.load()
    models = [
        ModelSpec("deep", "reasoning", 3, 15, deployments=("d0", "d1")),
        ModelSpec("quick", "fast", 0.25, 1.25, deployments=("q0", "q1")),
    ]
    policy = RoutingConfig()
    qs = queries(400)
    now = time.time()
    state = ConversationState(
        "bench",
        tier="reasoning",
        model="deep",
        deployment="d1",
        step_count=9,
        tools_used=tuple(t.name for t in tools[:8]),
        servers_used=tuple(t.server for t in tools[:8]),
        recent_texts=tuple(qs[:3]),
        last_result="ok " * 50,
        updated_at=now,
    )
    ctx = RetrievalContext.from_state(state)
    for i in range(warmup):
        decide(
            Step(qs[i % len(qs)], "bench", f"w{i}"),
            state,
            index,
            scorer,
            scorer.calibration,
            models,
            policy,
            now=now,
            tools=catalog,
        )
    decide_s: list[float] = []
    cpu_s: list[float] = []  # CPU time of this thread: what the decision costs when not preempted
    rank_s: list[float] = []
    gc.collect()
    for i in range(n):
        q = qs[i % len(qs)]
        step = Step(q, "bench", f"s{i}")
        c0 = time.thread_time()
        t0 = time.perf_counter()
        decide(step, state, index, scorer, scorer.calibration, models, policy, now=now, tools=catalog)
        t1 = time.perf_counter()
        cpu_s.append(time.thread_time() - c0)
        if i % 4 == 0:  # the ranking alone, on a subsample: where the decision's time goes
            index.rank(q, context=ctx, k=policy.top_k)
            rank_s.append(time.perf_counter() - t1)
        decide_s.append(t1 - t0)
    return {
        "tools": len(tools),
        "index_build_s": round(build_s, 3),
        "decide": summary_ms(decide_s),
        "decide_cpu": summary_ms(cpu_s),
        "rank_only": summary_ms(rank_s),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--n", type=int, default=2000, help="decisions per catalogue size")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = {size: measure(int(size), args.n) for size in args.sizes.split(",")}
    if args.json:
        print(json.dumps(out))
    else:
        for r in out.values():
            print(
                f"{r['tools']:>6} tools  build {r['index_build_s']:.2f} s   decide p50 {r['decide']['p50_ms']:.3f} ms "
                f"p99 {r['decide']['p99_ms']:.3f} ms   rank alone p50 {r['rank_only']['p50_ms']:.3f} p99 {r['rank_only']['p99_ms']:.3f}"
            )


if __name__ == "__main__":
    main()
