"""mcproute's performance budget, measured as ratios against the direct path (issue 8).

    .venv/bin/python benchmarks/run.py [--quick] [--json] [--only overhead,throughput,...] [--no-append]

Runs every benchmark in this folder against real processes on loopback and prints a table, or
with `--json` one JSON object as the LAST line of stdout; the object, with the machine, the git
revision (+ dirty flag) and the load average before/after, is appended to
benchmarks/results.jsonl. `--quick` shrinks sample sizes so the whole run takes under a minute on
two idle cores; the full run takes a few minutes. Progress goes to stderr.

Keys (targets in docs/performance.md): overhead_{stdio,http}_{p50,p99}_ms (added latency of a
proxied tools/call), overhead_http_ratio, throughput_rps / throughput_direct_rps (p99 ≤ 50 ms),
decision_p99_ms_{1k,10k}, decision_enc_p99_ms_{1k,10k} (with the sentence encoder, benchmarks/encoder.py),
encoder_* (per-query latency, model RSS, cold build, 1k tools cold/warm), bytes_per_conversation (at 100,000), store_steps_per_s, ready_ratio,
run_step_overhead_ms, cache_hit_{exact,similar}_added_p50_ms (a reply-cache hit vs the direct path) — and beside them the raw direct/proxied figures they were computed from.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import BLAS_SINGLE_THREADED, ROOT, git_revision, loadavg, machine  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results.jsonl"
SECTIONS = ("overhead", "throughput", "decision", "encoder", "memory", "store", "ready", "run_step", "cache", "floor")
QUICK_SKIPS = ("floor",)  # informative only (no issue key): the full run measures it
TARGETS = {
    "overhead_stdio_p50_ms": ("<=", 1.0),
    "overhead_http_p50_ms": ("<=", 2.0),
    "throughput_rps": (">=", 400.0),
    "throughput_ratio": (">=", 0.6),
    "decision_p99_ms_1k": ("<=", 1.0),
    "decision_p99_ms_10k": ("<=", 3.0),
    "bytes_per_conversation": ("<=", 2048.0),
    "ready_ratio": ("<=", 1.2),
    # Issue 11: the sentence encoder, run once per step, is part of the decision's cost.
    "decision_enc_p99_ms_1k": ("<=", 10.0),
    "decision_enc_p99_ms_10k": ("<=", 20.0),
    "encoder_model_rss_mb": ("<=", 200.0),
    "encoder_tools_1k_cold_s": ("<=", 30.0),
    "encoder_tools_1k_warm_s": ("<=", 1.0),
    # Issue 12: a reply-cache hit, beside the direct path (benchmarks/cache_hit.py).
    "cache_hit_exact_added_p50_ms": ("<=", 2.0),
    "cache_hit_similar_added_p50_ms": ("<=", 2.0),
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sec_overhead(quick: bool) -> dict[str, Any]:
    import overhead

    r = overhead.measure(
        calls=150 if quick else 2000, warmup=15 if quick else 200, mode="auto", downstream="echo", min_proxy=not quick
    )
    s, h = r["stdio"], r["http"]
    floor: dict[str, Any] = {}
    if "stdio_min" in r:  # the thinnest SDK proxy (benchmarks/min_proxy.py), same interleaved loop
        floor = {
            "floor_overhead_stdio_p50_ms": r["stdio_min"]["added_p50_ms"],
            "floor_overhead_http_p50_ms": r["http_min"]["added_p50_ms"],
            "floor_proxy_stdio_cpu_ms_per_call": r["stdio_min"]["proxied"].get("gateway_cpu_ms_per_call"),
            "floor_proxy_http_cpu_ms_per_call": r["http_min"]["proxied"].get("gateway_cpu_ms_per_call"),
        }
    return {
        **floor,
        "overhead_stdio_p50_ms": s["added_p50_ms"],
        "overhead_stdio_p99_ms": s["added_p99_ms"],
        "overhead_http_p50_ms": h["added_p50_ms"],
        "overhead_http_p99_ms": h["added_p99_ms"],
        "overhead_http_ratio": h["ratio_p50"],
        "overhead_stdio_ratio": s["ratio_p50"],
        "stdio_direct_p50_ms": s["direct"]["p50_ms"],
        "stdio_direct_p99_ms": s["direct"]["p99_ms"],
        "stdio_proxied_p50_ms": s["proxied"]["p50_ms"],
        "stdio_proxied_p99_ms": s["proxied"]["p99_ms"],
        "http_direct_p50_ms": h["direct"]["p50_ms"],
        "http_direct_p99_ms": h["direct"]["p99_ms"],
        "http_proxied_p50_ms": h["proxied"]["p50_ms"],
        "http_proxied_p99_ms": h["proxied"]["p99_ms"],
        "overhead_calls": s["direct"]["calls"],
        "stdio_gateway_cpu_ms_per_call": s["proxied"].get("gateway_cpu_ms_per_call"),
        "http_gateway_cpu_ms_per_call": h["proxied"].get("gateway_cpu_ms_per_call"),
        "overhead_stdio_block_iqr_ms": s["proxied"].get("added_block_iqr_ms"),
        "overhead_http_block_iqr_ms": h["proxied"].get("added_block_iqr_ms"),
    }


def sec_throughput(quick: bool) -> dict[str, Any]:
    import throughput

    levels = [1, 4] if quick else [1, 2, 4, 8, 16]
    r = throughput.measure(levels, seconds=0.8 if quick else 3.0, downstream="echo", min_proxy=not quick, workers2=True)
    d, p, w = r["direct"], r["proxied"], r["proxied_w2"]
    floor: dict[str, Any] = {}
    if "min_proxy" in r:
        m = r["min_proxy"]
        floor = {
            "floor_throughput_rps": m["rps"],
            "floor_throughput_ratio": round(m["rps"] / d["rps"], 3) if d["rps"] else None,
            "floor_throughput_cpu_ms_per_call": m["cpu_ms_per_call"],
        }
    return {
        **floor,
        "throughput_rps": p["rps"],
        "throughput_direct_rps": d["rps"],
        "throughput_ratio": round(p["rps"] / d["rps"], 3) if d["rps"] else None,
        # `serve --workers 2` on the same machine and load; its ratio is to one worker (issue 13).
        "throughput_rps_workers2": w["rps"],
        "throughput_workers2_ratio": round(w["rps"] / p["rps"], 3) if p["rps"] else None,
        "throughput_concurrency": p["concurrency"],
        "throughput_direct_concurrency": d["concurrency"],
        "throughput_levels": {"direct": d["levels"], "proxied": p["levels"], "proxied_w2": w["levels"]},
        "throughput_cpu_ms_per_call": {"direct": d.get("cpu_ms_per_call"), "proxied": p.get("cpu_ms_per_call")},
    }


def sec_decision(quick: bool) -> dict[str, Any]:
    import decision

    n = 400 if quick else 3000
    out: dict[str, Any] = {}
    built = {}
    side = None
    if quick:
        # The memory figure is RSS growth in a child process, which CPU contention does not
        # change; quick mode runs it while the (untimed) indexes are built, and waits for it
        # before any decision is timed. The full run keeps every section serial.
        import store_steps

        side = store_steps.start_bytes_per_conversation(100_000, "memory")
    try:
        for size in (1000, 10000):
            built[size] = decision.build(size)
    finally:
        if side is not None:
            try:
                PENDING["memory"] = store_steps.finish_bytes_per_conversation(side)
            except Exception as exc:  # reported by the memory section, not as a decision failure
                PENDING["memory_error"] = exc
    for size, tag in ((1000, "1k"), (10000, "10k")):
        r = decision.measure(size, n, built=built.pop(size))
        out[f"decision_p99_ms_{tag}"] = r["decide"]["p99_ms"]
        out[f"decision_p50_ms_{tag}"] = r["decide"]["p50_ms"]
        out[f"decision_cpu_p99_ms_{tag}"] = r["decide_cpu"]["p99_ms"]
        out[f"rank_p50_ms_{tag}"] = r["rank_only"]["p50_ms"]
        out[f"index_build_s_{tag}"] = r["index_build_s"]
    out["decision_n"] = n
    return out


PENDING: dict[str, Any] = {}  # results measured alongside another section (quick mode)


def sec_encoder(quick: bool) -> dict[str, Any]:
    import encoder

    r = encoder.measure(quick)
    out = {k: v for k, v in r.items() if k.startswith(("decision_enc_", "decide_with_vector_"))}
    out.update({f"encoder_{k}": v for k, v in r.items() if k not in out})
    return out


def sec_memory(quick: bool) -> dict[str, Any]:
    import store_steps

    if "memory_error" in PENDING:
        raise PENDING.pop("memory_error")
    r = PENDING.pop("memory", None) or store_steps.bytes_per_conversation(100_000, "memory")
    out = {
        "bytes_per_conversation": r["bytes_per_conversation"],
        "bytes_per_conversation_n": r["n"],
        "bytes_per_conversation_store": "memory",
    }
    if not quick:
        sq = store_steps.bytes_per_conversation(100_000, "sqlite")
        out["bytes_per_conversation_sqlite"] = sq["bytes_per_conversation"]
    return out


def sec_store(quick: bool) -> dict[str, Any]:
    import store_steps

    steps, conversations = (1000, 500) if quick else (10000, 2000)
    r = store_steps.store_steps(steps, conversations)
    out: dict[str, Any] = {
        "store_steps_per_s": r["update_per_s"],
        "store_record_step_per_s": r["record_step_per_s"],
        "store_record_step_concurrent8_per_s": r["record_step_concurrent8_per_s"],
        "store_record_step_p50_ms": r["record_step_p50_ms"],
    }
    # The same loop on the Redis store (state.backend: redis), same run, for the side-by-side figures.
    try:
        rr = store_steps.store_steps(steps, conversations, "redis")
    except (RuntimeError, ImportError) as exc:
        log(f"store: Redis figures skipped: {exc}")
        return out
    out.update(
        store_steps_per_s_redis=rr["update_per_s"],
        store_record_step_per_s_redis=rr["record_step_per_s"],
        store_record_step_concurrent8_per_s_redis=rr["record_step_concurrent8_per_s"],
        store_record_step_p50_ms_redis=rr["record_step_p50_ms"],
        store_record_step_p50_added_ms_redis=round(rr["record_step_p50_ms"] - r["record_step_p50_ms"], 3),
    )
    return out


def sec_ready(quick: bool) -> dict[str, Any]:
    import ready

    r = ready.measure(1 if quick else 3, with_floor=not quick)
    return {
        k: r[k]
        for k in (
            "ready_ratio",
            "ready_floor_ratio",
            "ready_gateway_s",
            "ready_floor_s",
            "ready_slowest_single_s",
            "ready_slowest_single",
            "ready_single_s",
        )
        if k in r
    }


def sec_run_step(quick: bool) -> dict[str, Any]:
    import subprocess

    from benchlib import child_env

    out: dict[str, Any] = {}
    # A child process each: the jsonl run installs a global tracer provider, which must not leak
    # into the other measurements.
    for telemetry in ("jsonl",) if quick else ("jsonl", "none"):
        proc = subprocess.run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "run_step.py"),
                "--json",
                "--telemetry",
                telemetry,
                "--steps",
                "150" if quick else "600",
                "--warmup",
                "20" if quick else "50",
            ],
            capture_output=True,
            text=True,
            env=child_env(),
            timeout=900,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"run_step.py failed ({proc.returncode}): {proc.stderr[-2000:]}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        suffix = "" if telemetry == "jsonl" else "_no_telemetry"
        out[f"run_step_overhead_ms{suffix}"] = r["overhead_p50_ms"]
        out[f"run_step_overhead_p99_ms{suffix}"] = r["overhead_p99_ms"]
        out[f"run_step_p50_ms{suffix}"] = r["step_p50_ms"]
        out[f"run_step_overhead_cpu_ms{suffix}"] = r["overhead_cpu_p50_ms"]
        out[f"run_step_tool_call_p50_ms{suffix}"] = r["tool_call_p50_ms"]
    return out


def sec_cache(quick: bool) -> dict[str, Any]:
    import cache_hit

    r = cache_hit.measure(100 if quick else 500, warmup=10 if quick else 30, fill=100 if quick else 300)
    return {f"cache_{k}": v for k, v in r.items() if k not in ("loadavg", "steps")}


def sec_floor(quick: bool) -> dict[str, Any]:
    import sdk_floor

    r = sdk_floor.measure(300 if quick else 1000)
    return {f"floor_{k}": v for k, v in r.items() if k not in ("loadavg", "calls")}


RUNNERS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "overhead": sec_overhead,
    "throughput": sec_throughput,
    "decision": sec_decision,
    "encoder": sec_encoder,
    "memory": sec_memory,
    "store": sec_store,
    "ready": sec_ready,
    "run_step": sec_run_step,
    "cache": sec_cache,
    "floor": sec_floor,
}


def verdicts(result: dict[str, Any]) -> dict[str, bool | None]:
    out: dict[str, bool | None] = {}
    for key, (op, bound) in TARGETS.items():
        v = result.get(key)
        out[key] = None if not isinstance(v, (int, float)) else (v <= bound if op == "<=" else v >= bound)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small samples: under a minute on 2 idle cores")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")
    ap.add_argument(
        "--only",
        default="",
        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all; --quick skips {','.join(QUICK_SKIPS)})",
    )
    ap.add_argument("--no-append", action="store_true", help=f"do not append to {RESULTS.relative_to(ROOT)}")
    ap.add_argument("--results", type=Path, default=RESULTS, help="append to this JSONL file instead")
    ap.add_argument("--label", default="", help="free text stored with the result (e.g. 'before', 'after')")
    args = ap.parse_args()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()] or [
        s for s in SECTIONS if not (args.quick and s in QUICK_SKIPS)
    ]
    unknown = [s for s in chosen if s not in RUNNERS]
    if unknown:
        ap.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")

    started = time.time()
    result: dict[str, Any] = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "quick": args.quick,
        "label": args.label,
        **git_revision(),
        "machine": machine(),
        "blas_single_threaded": BLAS_SINGLE_THREADED,
        "loadavg_start": loadavg(),
        "sections": chosen,
    }
    timings: dict[str, float] = {}
    errors: dict[str, str] = {}
    for name in chosen:
        log(f"{name} … (load {loadavg()})")
        t0 = time.perf_counter()
        try:
            result.update(RUNNERS[name](args.quick))
        except Exception as exc:  # one broken section must not lose the others' figures
            errors[name] = f"{type(exc).__name__}: {exc}"[:1000]
            log(f"{name} FAILED: {errors[name]}")
        timings[name] = round(time.perf_counter() - t0, 2)
        log(f"{name} done in {timings[name]:.1f} s")
    result["section_seconds"] = timings
    result["elapsed_s"] = round(time.time() - started, 2)
    result["loadavg_end"] = loadavg()
    result["targets_met"] = verdicts(result)
    if errors:
        result["errors"] = errors
    if not args.no_append:
        with args.results.open("a") as f:
            f.write(json.dumps(result, separators=(",", ":")) + "\n")
    if args.json:
        print(json.dumps(result, separators=(",", ":")))
    else:
        for key, value in result.items():
            if not isinstance(value, (dict, list)):
                print(f"{key:40} {value}")
        for key, ok in result["targets_met"].items():
            print(f"target {key:33} {'met' if ok else ('n/a' if ok is None else 'MISSED')}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
