#!/usr/bin/env python3
"""Does history hurt a request that changes the subject? Each request of the given everyday sets is
ranked over the reference servers on its own, then three times after a random other request of the
same sets that needed a tool (as the gateway's history holds it: that request's text, its first
expected tool and that tool's server). Prints top1 after a request for the same server and after one
for another server, and no-tool accuracy, beside the stateless figures (seeded: reruns agree).

    PYTHONPATH=$PWD/src .venv/bin/python scripts/history_switches.py everyday_dev21.jsonl everyday_dev22.jsonl
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mcproute.eval.tools import load_params, load_vectors  # noqa: E402
from mcproute.router.retrieval_types import RetrievalContext  # noqa: E402
from mcproute.router.tools import ToolIndex, specs_from_dicts  # noqa: E402

DATA = ROOT / "tests" / "data"


def main(names: list[str]) -> None:
    items = [json.loads(line) for name in names for line in (DATA / name).read_text(encoding="utf-8").splitlines()]
    specs = specs_from_dicts(json.loads((DATA / "catalogs" / "reference_servers.json").read_text(encoding="utf-8")))
    vectors = load_vectors(True)
    assert vectors is not None
    index = vectors.attach(ToolIndex(specs, params=load_params()), specs)
    server = {s.name: s.server for s in specs}
    rng = random.Random(7)
    with_tool = [it for it in items if it["expected"]]
    right: dict[str, list[bool]] = {"alone": [], "same": [], "other": []}
    none: dict[str, list[bool]] = {"alone": [], "after": []}
    for b in items:
        qv = vectors.query(b["query"])

        def ok(ranking, b=b) -> bool:  # noqa: ANN001
            names = [c.name for c in ranking.candidates]
            if not b["expected"]:
                return ranking.no_tool
            return bool(names) and not ranking.no_tool and names[0] in b["expected"]

        (right["alone"] if b["expected"] else none["alone"]).append(ok(index.rank(b["query"], k=10, vector=qv)))
        for _ in range(3):
            a = rng.choice(with_tool)
            if a is b:
                continue
            tool = a["expected"][0]
            ctx = RetrievalContext(tools_used=(tool,), servers_used=(server[tool],), recent_texts=(a["query"],))
            got = ok(index.rank(b["query"], context=ctx, k=10, vector=qv))
            if not b["expected"]:
                none["after"].append(got)
            else:
                right["same" if server[b["expected"][0]] == server[tool] else "other"].append(got)
    for k, v in right.items():
        print(f"top1 {k:6} {sum(v) / len(v):.3f}  (n={len(v)})")
    for k, v in none.items():
        print(f"no-tool {k:6} {sum(v) / len(v):.3f}  (n={len(v)})")


if __name__ == "__main__":
    main(sys.argv[1:] or ["everyday_dev21.jsonl", "everyday_dev22.jsonl"])
