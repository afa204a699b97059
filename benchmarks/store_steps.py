"""Conversation-state updates per second through the SQLite or Redis store (and bytes per idle conversation).

    .venv/bin/python benchmarks/store_steps.py [--steps 5000] [--conversations 1000] [--store sqlite|redis] [--json]

One update = what the engine does for a step: `store.update(cid, advance(...))` — read the row,
apply the router's pure transition, write it back inside `BEGIN IMMEDIATE` — on a real SQLite
file in WAL mode (`synchronous=NORMAL`, as shipped), from the event loop through the store's
worker thread. Conversations are taken round-robin from a pool so rows are really read and
written, not cached in one page. Also measures `record_step` (state + the step record the engine
writes with each carried-out decision), sequentially and with 8 concurrent conversations.

`--store redis` runs the same loop against the Redis store on a redis-server this script starts on
a free loopback port in a temp dir (AOF on, `appendfsync everysec`: Redis's durable default, the
counterpart of SQLite's `synchronous=NORMAL`): each step is a lease round trip, a read, the fenced
write script and the lease release. `record_step_p50_ms` is one step's store time.

`bytes_per_conversation` is measured in a fresh child process by benchmarks/state_memory.py
(RSS growth / N at 100,000 conversations) so the numbers are not polluted by this process.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from benchlib import ROOT, child_env, loadavg

from mcproute.router.conversation import StepOutcome, advance
from mcproute.router.step import Decision
from mcproute.state import ConversationStore, SqliteStore

TEXTS = [
    "show me the latest commits",
    "what time is it in Tokyo",
    "read the config file",
    "send a message to the team",
    "book a flight to Paris",
    "convert 10 miles to km",
    "list open pull requests",
    "delete the temp files",
]


def _decision(cid: str, i: int) -> Decision:
    return Decision(
        step_id=f"s{i}",
        conversation_id=cid,
        tool="git__git_log",
        tool_score=0.9,
        alternatives=(),
        tier="fast" if i % 3 else "reasoning",
        model="quick" if i % 3 else "deep",
        model_alternatives=(),
        reasoning_score=0.3,
        threshold=0.5,
        signals={},
        reason="bench",
        sticky_held=True,
        sticky_reason="held.",
        policy_version="bench",
        deployment="q0",
    )


async def _run(store: ConversationStore, steps: int, conversations: int) -> dict[str, Any]:
    cids = [f"conv-{i:06d}" for i in range(conversations)]
    decision_json = json.dumps({"tool": "git__git_log", "tier": "fast", "reason": "bench " * 20})
    try:
        for i, cid in enumerate(cids):  # every conversation exists before timing
            await store.update(
                cid,
                lambda s, cid=cid, i=i: advance(s, _decision(cid, i), StepOutcome(text=TEXTS[i % 8]), now=time.time()),
            )
        t0 = time.perf_counter()
        for i in range(steps):
            cid = cids[i % conversations]
            d = _decision(cid, i)
            await store.update(
                cid,
                lambda s, d=d, i=i: advance(
                    s,
                    d,
                    StepOutcome(text=TEXTS[i % 8], tool_called="git__git_log", server="git", result_text="ok " * 40),
                    now=time.time(),
                ),
            )
        update_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        each: list[float] = []
        for i in range(steps):
            cid = cids[i % conversations]
            d = _decision(cid, i)
            t1 = time.perf_counter()
            await store.record_step(
                cid,
                f"r-{i}",
                decision_json,
                lambda s, d=d, i=i: advance(s, d, StepOutcome(text=TEXTS[i % 8]), now=time.time()),
            )
            each.append(time.perf_counter() - t1)
        record_s = time.perf_counter() - t0

        # Eight conversations stepping at once: the store serialises writers on one connection.
        per_worker = steps // 8

        async def worker(w: int) -> None:
            for i in range(per_worker):
                cid = cids[(w * per_worker + i) % conversations]
                d = _decision(cid, i)
                await store.record_step(
                    cid,
                    f"c-{w}-{i}",
                    decision_json,
                    lambda s, d=d, i=i: advance(s, d, StepOutcome(text=TEXTS[i % 8]), now=time.time()),
                )

        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for w in range(8):
                tg.start_soon(worker, w)
        concurrent_s = time.perf_counter() - t0
    finally:
        await store.close()
    return {
        "update_per_s": round(steps / update_s, 1),
        "record_step_per_s": round(steps / record_s, 1),
        "record_step_concurrent8_per_s": round(per_worker * 8 / concurrent_s, 1),
        "record_step_p50_ms": round(statistics.median(each) * 1000, 3),
        "steps": steps,
        "conversations": conversations,
    }


def store_steps(steps: int, conversations: int, store: str = "sqlite") -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        if store == "redis":
            out = _with_redis(Path(tmp), steps, conversations)
        else:
            sqlite = SqliteStore(Path(tmp) / "state.sqlite3", max_conversations=max(100_000, conversations))
            out = anyio.run(_run, sqlite, steps, conversations)
    out["store"] = store
    out["loadavg"] = loadavg()
    return out


def _with_redis(tmp: Path, steps: int, conversations: int) -> dict[str, Any]:
    from mcproute.state.redis_store import RedisStore

    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (make debian-peers installs the Debian package)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp), "--appendonly", "yes",
            "--appendfsync", "everysec", "--save", "", "--loglevel", "warning"]  # fmt: skip
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start within 15 s") from None
                time.sleep(0.05)
        redis = RedisStore(url, max_conversations=max(100_000, conversations))
        return anyio.run(_run, redis, steps, conversations)
    finally:
        server.terminate()
        server.wait(timeout=15)


def start_bytes_per_conversation(n: int, store: str = "memory") -> subprocess.Popen[str]:
    """Start benchmarks/state_memory.py in a fresh process (clean RSS baseline)."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "state_memory.py"), "--n", str(n), "--store", store, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )


def finish_bytes_per_conversation(proc: subprocess.Popen[str]) -> dict[str, Any]:
    try:
        out, err = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RuntimeError("state_memory.py did not finish within 600 s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"state_memory.py failed ({proc.returncode}): {err[-2000:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def bytes_per_conversation(n: int, store: str = "memory") -> dict[str, Any]:
    return finish_bytes_per_conversation(start_bytes_per_conversation(n, store))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--conversations", type=int, default=1000)
    ap.add_argument("--store", choices=["sqlite", "redis"], default="sqlite")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = store_steps(args.steps, args.conversations, args.store)
    print(json.dumps(out) if args.json else "\n".join(f"{k:32} {v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
