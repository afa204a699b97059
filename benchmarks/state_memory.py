"""Resident bytes per idle conversation in the stores (target: <= 2,048 bytes at 100,000).

    .venv/bin/python benchmarks/state_memory.py [--n 100000] [--store memory|sqlite]

Each conversation looks like one that has run a dozen steps: a tier, model and deployment, eight
recent tools and servers, three step texts and a tool result filled to their bounds (300 chars)
with word salad drawn from a 2,000-word vocabulary (so compression gets no free lunch from
repetition). Prints RSS growth (from /proc/self/statm) and traced Python allocations, each divided
by N. For SQLite the figure is what the *process* holds, not the file.
"""

from __future__ import annotations

import argparse
import gc
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


def make_state(rng: random.Random, words: list[str], tools: list[str]) -> ConversationState:
    def text(n: int) -> str:
        out = ""
        while len(out) < n:
            out += rng.choice(words) + " "
        return out[:n]

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
        recent_texts=tuple(text(300) for _ in range(3)),
        last_result=text(300),
        last_step_id=uuid.UUID(int=rng.getrandbits(128)).hex,
        updated_at=1.7e9 + rng.random() * 1e6,
    )


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--store", choices=("memory", "sqlite"), default="memory")
    ap.add_argument("--traced", action="store_true", help="also count Python allocations (slow; inflates RSS)")
    args = ap.parse_args()
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(2000)]
    tools = [f"{s}__{w}" for s in ("git", "time", "fs", "memory") for w in words[:6]]
    with tempfile.TemporaryDirectory() as tmp:
        store = (
            MemoryStore(max_conversations=args.n)
            if args.store == "memory"
            else SqliteStore(os.path.join(tmp, "state.sqlite3"), max_conversations=args.n)
        )
        # Warm up the code paths (imports, zlib, sqlite statement cache) before the baseline.
        await store.save(make_state(rng, words, tools))
        gc.collect()
        before_rss = rss()
        if args.traced:
            tracemalloc.start()
            snap0 = tracemalloc.take_snapshot()
        for _ in range(args.n):
            await store.save(make_state(rng, words, tools))
        gc.collect()
        print(f"store={args.store} n={args.n}")
        if args.traced:
            snap1 = tracemalloc.take_snapshot()
            traced = sum(s.size_diff for s in snap1.compare_to(snap0, "filename"))
            tracemalloc.stop()
            print(f"traced python allocations: {traced / args.n:.0f} bytes/conversation")
        else:
            print(f"rss growth: {(rss() - before_rss) / args.n:.0f} bytes/conversation")
        await store.close()


if __name__ == "__main__":
    anyio.run(main)
