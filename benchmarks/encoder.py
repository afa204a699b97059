"""The sentence encoder's cost (issue 11): per-query latency, the decision with the encoder
included at 1k and 10k tools, the model's resident memory, and encoding 1k tool descriptions
cold and from the on-disk cache.

    .venv/bin/python benchmarks/encoder.py [--quick] [--json]

- Queries: distinct texts of 5-60 WordPiece tokens (with [CLS]/[SEP]) from
  tool_selection_large.jsonl, reasoning.jsonl and multiturn.jsonl in file order, each encoded
  once with the LRU emptied (so every one runs the model), one ONNX Runtime thread.
- Decision with the encoder: `encode_one(text)` + `router.decide()` with the step's vector, on
  benchmarks/decision.py's catalogues and conversation. Tool vectors are attached to every tool;
  the 10k catalogue's renamed copies reuse their original's vector (its text differs only by the
  server prefix), so only the 1,901 real tools are encoded (cached on disk after the first run).
- Memory: RSS growth of a fresh child process from after importing numpy, onnxruntime and
  mcproute.encoding to after loading the cached model and encoding one text (the imports are
  reported apart, as libs_rss_mb).
- Cold build: the int8 model built from the weights into an empty cache dir (once per machine).
- 1k tools: the first 1,000 tools of the decision catalogue, encoded into an empty SQLite cache
  ("cold"), then read back by a new cache object in a new process state ("warm": disk only).
- to_thread hop: what `anyio.to_thread.run_sync` adds to an encode, vs calling it inline (the
  engine encodes a step's text inline because of this figure).
Wall-clock and thread CPU time are both given: on a shared machine wall p99 is mostly preemption.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from benchlib import EVALDATA, summary_ms

ROOT = Path(__file__).resolve().parent.parent


def realistic_queries(enc: Any, n: int, lo: int = 5, hi: int = 60) -> list[str]:
    """Up to n distinct texts of lo..hi tokens: a third each from tool requests, reasoning prompts
    and multi-turn user turns (file order), so short lookups and long tasks are both there."""
    sources = (
        ("tool_selection_large.jsonl", lambda d: [d.get("query")]),
        ("reasoning.jsonl", lambda d: [d.get("prompt")]),
        ("multiturn.jsonl", lambda d: [t.get("user") for t in d.get("turns") or [] if isinstance(t, dict)]),
    )
    out: list[str] = []
    seen: set[str] = set()
    for i, (name, texts) in enumerate(sources):
        want = n * (i + 1) // len(sources)
        with open(EVALDATA / name) as f:
            for line in f:
                for t in texts(json.loads(line)):
                    if isinstance(t, str) and t not in seen and lo <= len(enc.token_ids(t, 10_000)) <= hi:
                        seen.add(t)
                        out.append(t)
                if len(out) >= want:
                    break
    return out


def query_latency(enc: Any, qs: list[str]) -> dict[str, Any]:
    for q in qs[:20]:
        enc.encode_one(q)
    enc.forget()
    wall, cpu = [], []
    gc.collect()
    for q in qs:
        c0, t0 = time.thread_time(), time.perf_counter()
        enc.encode_one(q)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    toks = [len(enc.token_ids(q, enc.max_query_tokens)) for q in qs]
    return {
        "wall": summary_ms(wall),
        "cpu": summary_ms(cpu),
        "tokens_p50": int(np.median(toks)),
        "tokens_max": max(toks),
    }


def thread_hop(enc: Any, qs: list[str]) -> dict[str, float]:
    import anyio

    async def main() -> dict[str, float]:
        inline, hop = [], []
        for q in qs:
            enc.forget()
            t0 = time.perf_counter()
            enc.encode_one(q)
            inline.append(time.perf_counter() - t0)
            enc.forget()
            t0 = time.perf_counter()
            await anyio.to_thread.run_sync(enc.encode_one, q)
            hop.append(time.perf_counter() - t0)
        return {"inline_p50_ms": summary_ms(inline)["p50_ms"], "thread_p50_ms": summary_ms(hop)["p50_ms"]}

    return anyio.run(main)


def decision_with_encoder(enc: Any, n: int) -> dict[str, Any]:
    import decision

    from mcproute.config import RoutingConfig
    from mcproute.encoding import default_cache_dir
    from mcproute.encoding.cache import ToolVectorCache
    from mcproute.encoding.texts import tool_text
    from mcproute.router.decide import decide
    from mcproute.router.step import ConversationState, ModelSpec, Step
    from mcproute.router.tiers import TierScorer
    from mcproute.router.tools import ToolIndex

    base = decision.synth_catalog(len(decision.base_tools()))
    cache = ToolVectorCache(default_cache_dir() / "tool-vectors.sqlite3")
    t0 = time.perf_counter()
    got = cache.vectors(enc, [tool_text(t) for t in base])
    encode_s = time.perf_counter() - t0
    by_tool = {t.name.split("__", 1)[1]: v for t, v in zip(base, got.vectors, strict=True)}
    scorer = TierScorer.load()
    models = [
        ModelSpec("deep", "reasoning", 3, 15, deployments=("d0", "d1")),
        ModelSpec("quick", "fast", 0.25, 1.25, deployments=("q0", "q1")),
    ]
    policy = RoutingConfig()
    qs = decision.queries(400)
    out: dict[str, Any] = {"base_tools_encoded": got.encoded, "base_tools_encode_s": round(encode_s, 2)}
    for size, tag in ((1000, "1k"), (10000, "10k")):
        tools = decision.synth_catalog(size)
        index = ToolIndex(tools)
        index.attach_vectors({t.name: by_tool[t.name.split("__", 1)[1]] for t in tools})
        catalog = {t.name: t for t in tools}
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
        for i in range(30):
            decide(
                Step(qs[i], "bench", f"w{i}", vector=enc.encode_one(qs[i])),
                state,
                index,
                scorer,
                scorer.calibration,
                models,
                policy,
                now=now,
                tools=catalog,
            )
        wall, cpu, dec = [], [], []
        gc.collect()
        for i in range(n):
            q = qs[i % len(qs)]
            enc.forget()  # every step runs the model (no LRU hit)
            c0, t0 = time.thread_time(), time.perf_counter()
            vec = enc.encode_one(q)
            t1 = time.perf_counter()
            decide(
                Step(q, "bench", f"s{i}", vector=vec),
                state,
                index,
                scorer,
                scorer.calibration,
                models,
                policy,
                now=now,
                tools=catalog,
            )
            t2 = time.perf_counter()
            cpu.append(time.thread_time() - c0)
            wall.append(t2 - t0)
            dec.append(t2 - t1)
        out[tag] = {"wall": summary_ms(wall), "cpu": summary_ms(cpu), "decide_only": summary_ms(dec)}
    return out


def rss_child(cache_dir: str) -> dict[str, float]:
    code = f"""
import json, sys
sys.path.insert(0, {str(ROOT / "src")!r})
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1]) * 1024
before = rss()
import numpy, onnxruntime  # the libraries are counted apart: "the model" is what loading adds
from mcproute.encoding import Encoder
libs = rss()
enc = Encoder.load({cache_dir!r})
enc.encode_one('warm up the model with one sentence of ordinary length')
print(json.dumps({{"before": before, "libs": libs, "after": rss()}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    mb = 2**20
    return {
        "model_rss_mb": round((r["after"] - r["libs"]) / mb, 1),
        "libs_rss_mb": round((r["libs"] - r["before"]) / mb, 1),
        "process_rss_mb": round(r["after"] / mb, 1),
    }


def tools_cold_warm(enc: Any) -> dict[str, float]:
    import decision

    from mcproute.encoding.cache import ToolVectorCache
    from mcproute.encoding.texts import tool_text

    texts = [tool_text(t) for t in decision.synth_catalog(1000)]
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "v.sqlite3"
        c0, t0 = time.process_time(), time.perf_counter()
        cold = ToolVectorCache(db).vectors(enc, texts)
        cold_s, cold_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0 = time.perf_counter()
        warm = ToolVectorCache(db).vectors(enc, texts)
        warm_s = time.perf_counter() - t0
        assert cold.encoded == len(set(texts)) and warm.encoded == 0 and warm.from_disk == cold.encoded
    return {
        "tools_1k_cold_s": round(cold_s, 2),
        "tools_1k_cold_cpu_s": round(cold_cpu, 2),
        "tools_1k_warm_s": round(warm_s, 3),
    }


def measure(quick: bool) -> dict[str, Any]:
    from mcproute.encoding import Encoder, load_shared

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        fresh = Encoder.load(d)
        out["cold_build_s"] = round(fresh.build_seconds, 2)
        out["cold_load_s"] = round(time.perf_counter() - t0, 2)
        out.update(rss_child(d))
        del fresh
    enc = load_shared()
    out["model_id"] = enc.model_id
    qs = realistic_queries(enc, 150 if quick else 400)
    q = query_latency(enc, qs)
    out.update(
        {
            "query_p50_ms": q["wall"]["p50_ms"],
            "query_p99_ms": q["wall"]["p99_ms"],
            "query_cpu_p50_ms": q["cpu"]["p50_ms"],
            "query_cpu_p99_ms": q["cpu"]["p99_ms"],
            "query_n": q["wall"]["n"],
            "query_tokens_p50": q["tokens_p50"],
            "query_tokens_max": q["tokens_max"],
        }
    )
    hop = thread_hop(enc, qs[:60])
    out["to_thread_added_p50_ms"] = round(hop["thread_p50_ms"] - hop["inline_p50_ms"], 4)
    out.update(tools_cold_warm(enc))
    d = decision_with_encoder(enc, 300 if quick else 1500)
    out["base_tools_encode_s"] = d["base_tools_encode_s"]
    for tag in ("1k", "10k"):
        out[f"decision_enc_p50_ms_{tag}"] = d[tag]["wall"]["p50_ms"]
        out[f"decision_enc_p99_ms_{tag}"] = d[tag]["wall"]["p99_ms"]
        out[f"decision_enc_cpu_p99_ms_{tag}"] = d[tag]["cpu"]["p99_ms"]
        out[f"decide_with_vector_p99_ms_{tag}"] = d[tag]["decide_only"]["p99_ms"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    r = measure(args.quick)
    if args.json:
        print(json.dumps(r))
    else:
        for k, v in r.items():
            print(f"{k:34} {v}")


if __name__ == "__main__":
    main()
