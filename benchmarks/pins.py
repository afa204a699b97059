"""What tool-definition pinning costs per catalogue rebuild, on a real catalogue.

    .venv/bin/python benchmarks/pins.py [--catalog ../shared/evaldata/catalogs/bfcl_union.json] [--json]

One server listing every tool of the catalogue (BFCL union: 1,702 real API tools). Figures, p50
over repeated runs, in ms of wall-clock: `build_catalog` alone (what a rebuild cost before
pinning), `PinGuard.apply` in the steady state (every tool pinned and unchanged, hashes reused:
what pinning adds to each rebuild), its first run (hashing every definition, and flagging each
once), the description flags of every tool without their cache, and the approval poll's full
re-read of the SQLite `pins` table (which it does only when another connection wrote).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from benchlib import EVALDATA, summary_ms

from mcproute.config import ServerConfig
from mcproute.gateway import tool_flags as tf
from mcproute.gateway.catalog import Listing, build_catalog
from mcproute.gateway.pin_guard import PinGuard
from mcproute.state import MemoryStore, SqliteStore


def timed(fn: Callable[[], Any], n: int, before: Callable[[], Any] = lambda: None) -> dict[str, float]:
    samples = []
    for _ in range(n):
        before()
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return summary_ms(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", default=str(EVALDATA / "catalogs" / "bfcl_union.json"))
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the first apply logs one line per new pin batch
    raw = json.loads(Path(args.catalog).read_text())
    tools = tuple(
        {
            "name": t["name"],
            "description": t.get("description") or "",
            "inputSchema": t.get("input_schema") or {"type": "object"},
        }
        for t in raw
    )
    servers = {"s": ServerConfig(command="x")}
    listing = {"s": Listing(tools=tools)}
    out: dict[str, Any] = {"tools": len(tools)}
    out["build_catalog_ms"] = timed(lambda: build_catalog(listing, servers), args.n)

    def fresh() -> PinGuard:
        guard = PinGuard(MemoryStore(), servers)
        guard.loaded = True
        return guard

    guards: list[PinGuard] = []
    out["apply_first_ms"] = timed(
        lambda: guards[-1].apply(listing),
        max(3, args.n // 10),
        before=lambda: (guards.append(fresh()), tf.flags.cache_clear()),
    )
    steady = guards[-1]
    out["apply_steady_ms"] = timed(lambda: steady.apply(listing), args.n)
    out["flags_uncached_ms"] = timed(
        lambda: [tf.tool_flags(t) for t in tools], max(3, args.n // 10), before=tf.flags.cache_clear
    )

    async def reread() -> dict[str, float]:
        with tempfile.TemporaryDirectory() as d:
            async with SqliteStore(Path(d) / "state.sqlite3") as store:
                await store.save_pins(list(steady.pins.values()))
                samples = []
                for _ in range(args.n):
                    t = time.perf_counter()
                    await store.load_pins()
                    samples.append(time.perf_counter() - t)
                return summary_ms(samples)

    out["sqlite_reread_ms"] = anyio.run(reread)
    if args.json:
        print(json.dumps(out))
        return
    print(f"{out['tools']} tools, one server")
    for key in ("build_catalog_ms", "apply_first_ms", "apply_steady_ms", "flags_uncached_ms", "sqlite_reread_ms"):
        s = out[key]
        print(f"  {key:<20} p50 {s['p50_ms']:8.2f} ms  p99 {s['p99_ms']:8.2f} ms  (n={s['n']})")


if __name__ == "__main__":
    main()
