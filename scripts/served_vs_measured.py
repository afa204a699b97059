#!/usr/bin/env python3
"""Does the gateway serve what `eval tools` measures? Each request of an everyday set is routed
through the engine over a config (as `mcproute route` and `run_step` decide, tool examples in
force) and through the index `eval tools` builds from the catalogue file; prints how many first
picks agree and each side's accuracy, and with `--show` the requests where they differ.

    PYTHONPATH=$PWD/src .venv/bin/python scripts/served_vs_measured.py tests/data/everyday_dev21.jsonl

The default config is examples/reference.yaml (run `make peers` first: it starts the Node servers).
Written when that config turned out to serve memory's and filesystem's tools without their
shipped examples (dev21: 0.753 served against 0.920 measured).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mcproute.config import load_config  # noqa: E402
from mcproute.eval.tools import load_catalog, load_params, load_vectors  # noqa: E402
from mcproute.gateway.identity import ConversationIdentity  # noqa: E402
from mcproute.router.tools import ToolIndex, specs_from_dicts  # noqa: E402
from mcproute.runtime.engine import Engine  # noqa: E402


async def main(args: argparse.Namespace) -> None:
    path = Path(args.data)
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    specs = specs_from_dicts(load_catalog(path, items[0]["catalog"], 1))
    vectors = load_vectors(True)
    assert vectors is not None
    index = vectors.attach(ToolIndex(specs, params=load_params()), specs)
    environ = {**os.environ, "MCPROUTE_FILES": os.environ.get("MCPROUTE_FILES", "/tmp")}
    agree = served_ok = measured_ok = 0
    async with Engine(load_config(args.config, environ=environ), meta_tools=False) as engine:
        await engine.wait_settled()
        for it in items:
            who = ConversationIdentity(uuid.uuid4().hex, "argument")
            served = (await engine.route(it["query"], identity=who, dry_run=True)).tool
            r = index.rank(it["query"], k=5, vector=vectors.query(it["query"]))
            measured = None if r.no_tool or not r.candidates else r.candidates[0].name
            expected = it["expected"]
            agree += served == measured
            served_ok += (served in expected) if expected else served is None
            measured_ok += (measured in expected) if expected else measured is None
            if args.show and served != measured:
                print(f"{it['query'][:70]!r}: served {served}, measured {measured}")
    n = len(items)
    print(
        f"{n} requests: first picks agree on {agree}; accuracy served {served_ok / n:.3f}, measured {measured_ok / n:.3f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="an everyday set (JSONL with query, expected, catalog)")
    parser.add_argument("--config", default=str(ROOT / "examples" / "reference.yaml"))
    parser.add_argument("--show", action="store_true", help="print the requests where the two differ")
    anyio.run(main, parser.parse_args())
