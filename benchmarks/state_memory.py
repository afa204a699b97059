"""Resident bytes per idle conversation in the stores (target: <= 2,048 bytes at 100,000).

    .venv/bin/python benchmarks/state_memory.py [--n 100000] [--store memory|sqlite] [--json]

Each conversation looks like one that has run a dozen steps: a tier, model and deployment, eight
recent tools and servers, three step texts and a tool result filled to their bounds (300 chars)
with word salad drawn from a 2,000-word vocabulary (so compression gets no free lunch from
repetition). The texts come from a pre-generated pool of 4,096 distinct ones (each state draws
four different texts), which keeps generation out of the run time without making blobs repeat
within one state, the unit that is compressed. Prints RSS growth (from /proc/self/statm) and traced Python allocations, each divided
by N. For SQLite the figure is what the *process* holds, not the file.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import tempfile
import tracemalloc
import uuid

import anyio

from mcproute.router.step import ConversationState
from mcproute.state import MemoryStore, SqliteStore


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def text_pool(rng: random.Random, words: list[str], size: int = 4096, n: int = 300) -> list[str]:
    def text() -> str:
        out = ""
        while len(out) < n:
            out += rng.choice(words) + " "
        return out[:n]

    return [text() for _ in range(size)]


def make_state(rng: random.Random, texts: list[str], tools: list[str]) -> ConversationState:
    t1, t2, t3, t4 = rng.sample(texts, 4)
    used = tuple(rng.choice(tools) for _ in range(8))
    return ConversationState(
        conversation_id=uuid.UUID(int=rng.getrandbits(128)).hex,
        tier=rng.choice(("reasoning", "fast")),
        model=rng.choice(("deep", "quick")),
        deployment=f"deep#{rng.randrange(3)}",
        step_count=rng.randrange(1, 40),
        fast_streak=rng.randrange(3),
        tools_used=used,
        servers_used=tuple(t.split("__")[0] for t in used),
        recent_texts=(t1, t2, t3),
        last_result=t4,
        last_step_id=uuid.UUID(int=rng.getrandbits(128)).hex,
        updated_at=1.7e9 + rng.random() * 1e6,
    )


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--store", choices=("memory", "sqlite"), default="memory")
    ap.add_argument("--traced", action="store_true", help="also count Python allocations (slow; inflates RSS)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = ap.parse_args()
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(2000)]
    tools = [f"{s}__{w}" for s in ("git", "time", "fs", "memory") for w in words[:6]]
    texts = text_pool(rng, words)
    with tempfile.TemporaryDirectory() as tmp:
        store = (
            MemoryStore(max_conversations=args.n)
            if args.store == "memory"
            else SqliteStore(os.path.join(tmp, "state.sqlite3"), max_conversations=args.n)
        )
        # Warm up the code paths (imports, zlib, sqlite statement cache) before the baseline.
        await store.save(make_state(rng, texts, tools))
        gc.collect()
        before_rss = rss()
        if args.traced:
            tracemalloc.start()
            snap0 = tracemalloc.take_snapshot()
        for _ in range(args.n):
            await store.save(make_state(rng, texts, tools))
        gc.collect()
        growth = rss() - before_rss
        if args.json:
            print(
                json.dumps(
                    {
                        "store": args.store,
                        "n": args.n,
                        "bytes_per_conversation": round(growth / args.n, 1),
                        "rss_before_bytes": before_rss,
                        "rss_after_bytes": before_rss + growth,
                    }
                )
            )
            await store.close()
            return
        print(f"store={args.store} n={args.n}")
        if args.traced:
            snap1 = tracemalloc.take_snapshot()
            traced = sum(s.size_diff for s in snap1.compare_to(snap0, "filename"))
            tracemalloc.stop()
            print(f"traced python allocations: {traced / args.n:.0f} bytes/conversation")
        else:
            print(f"rss growth: {growth / args.n:.0f} bytes/conversation")
        await store.close()


if __name__ == "__main__":
    anyio.run(main)
