#!/usr/bin/env python3
"""Do examples from more authors help? Each everyday dev set ranked with tool examples taken from
(A) the first three sets (everyday_dev, dev2, dev3, without the set itself: what shipped until the
eighth session) and (B) every other everyday dev set (what ships now: all twenty, so B is the
cross-fitted estimate of the shipped examples). The holdout and fresh sets are never read.

    PYTHONPATH=$PWD/src .venv/bin/python scripts/crossfit_examples.py

Prints per set top1 / recall@5 and no-tool accuracy for A and B, then the pooled figures.
`--only-b` skips A; `--dump FILE` writes B's reading of every request (JSON lines: set, query,
expected, the tools ranked, no_tool, the explanation), to compare two versions request by request.
`--by-batch` teaches each set without the other sets of its writing batch (`BATCHES`), and
`--without dev19 dev20` leaves sets out of all teaching (to ask whether they help the others).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mcproute.eval.tools import load_params, load_vectors  # noqa: E402
from mcproute.router.retrieval_examples import NO_TOOL  # noqa: E402
from mcproute.router.tools import ToolIndex, specs_from_dicts  # noqa: E402
from mcproute.runtime.tool_examples import blend, encode_tool_examples  # noqa: E402

DATA = ROOT / "tests" / "data"
SHIPPED = ["everyday_dev.jsonl", "everyday_dev2.jsonl", "everyday_dev3.jsonl"]
TOOL_SETS = [*SHIPPED, *(f"everyday_dev{n}.jsonl" for n in range(4, 21))]
NO_TOOL_SETS = [
    "everyday_notool_dev.jsonl",
    "everyday_notool_dev2.jsonl",
    "everyday_notool_dev3.jsonl",
    "everyday_notool_dev4.jsonl",
    "everyday_traps_dev.jsonl",
    "everyday_outside_dev.jsonl",
]
# the shipped no-tool examples' sources (scripts/build_tool_examples.py): not everyday_notool_dev
NEGATIVES = [g for g in TOOL_SETS + NO_TOOL_SETS if g != "everyday_notool_dev.jsonl"]
# Who wrote what, when (tests/data/README.md): the lead session's own sets, then helpers in batches
# of two to four written the same day from similar briefs. `--by-batch` teaches each set without
# its whole batch, so sets that share a writer's habits do not teach each other.
BATCHES = [
    [f"everyday_dev{n}.jsonl" for n in ("", 2, 3, 4, 5)] + NO_TOOL_SETS,
    [f"everyday_dev{n}.jsonl" for n in (6, 7, 8)],
    [f"everyday_dev{n}.jsonl" for n in (9, 10)],
    [f"everyday_dev{n}.jsonl" for n in (11, 12, 13, 14)],
    [f"everyday_dev{n}.jsonl" for n in (15, 16)],
    [f"everyday_dev{n}.jsonl" for n in (17, 18)],
    [f"everyday_dev{n}.jsonl" for n in (19, 20)],
]


def load_sets() -> dict[str, list[dict[str, Any]]]:
    """Every dev set above, by file name: its items in order."""
    return {
        f: [json.loads(line) for line in (DATA / f).read_text(encoding="utf-8").splitlines() if line.strip()]
        for f in TOOL_SETS + NO_TOOL_SETS
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only-b", action="store_true", help="skip A (the first three sets' examples)")
    ap.add_argument("--dump", type=Path, help="write B's reading of every request here (JSON lines)")
    ap.add_argument("--by-batch", action="store_true", help="teach each set without its whole writing batch")
    ap.add_argument(
        "--without", nargs="*", default=[], metavar="SET", help="leave these sets out of every teaching (e.g. dev19)"
    )
    args = ap.parse_args(argv)
    dump = args.dump.open("w", encoding="utf-8") if args.dump else None
    sets = load_sets()
    specs = specs_from_dicts(json.loads((DATA / "catalogs" / "reference_servers.json").read_text(encoding="utf-8")))
    vectors = load_vectors(True)
    if vectors is None:
        raise SystemExit("the sentence encoder is needed")
    found = vectors.for_specs(specs)
    query: dict[str, Any] = {}
    indexes: dict[tuple[str, ...], ToolIndex] = {}

    def vec(text: str) -> Any:
        if text not in query:
            query[text] = vectors.encoder.encode_one(text)
        return query[text]

    def index(teach: list[str], negatives: Sequence[str] = ()) -> ToolIndex:
        key = (*teach, "|", *negatives)
        if key not in indexes:
            pairs = [(it["expected"][0], it["query"]) for f in teach for it in sets[f] if it["expected"]]
            pairs += [(NO_TOOL, it["query"]) for f in negatives for it in sets[f] if not it["expected"]]
            taught = encode_tool_examples(vectors.encoder, pairs, shipped={t for t, _ in pairs})
            idx = ToolIndex(specs, params=load_params())
            idx.attach_vectors(
                blend(found, taught.means),
                examples=taught.rows,
                shipped=taught.shipped,
                head=taught.head_for({s.name for s in specs}),
            )
            indexes[key] = idx
        return indexes[key]

    def score(idx: ToolIndex, f: str, out: Any = None) -> list[int]:
        top1 = recall = n = none_right = none = 0
        for it in sets[f]:
            r = idx.rank(it["query"], k=5, vector=vec(it["query"]))
            names = [c.name for c in r.candidates]
            lead = None if r.no_tool or not names else names[0]
            if out is not None:
                row = {"set": f, "query": it["query"], "expected": it["expected"], "ranked": names}
                out.write(json.dumps({**row, "no_tool": r.no_tool, "why": r.explanation}) + "\n")
            if it["expected"]:
                n += 1
                top1 += lead in it["expected"]
                recall += bool(set(names) & set(it["expected"]))
            else:
                none += 1
                none_right += lead is None
        return [top1, recall, n, none_right, none]

    def show(v: list[int]) -> str:
        tools = f"{v[0] / v[2]:.3f} / {v[1] / v[2]:.3f}" if v[2] else "-"
        return f"{tools}, no-tool {v[3] / v[4]:.3f}" if v[4] else tools

    pooled = {"A": [0] * 5, "B": [0] * 5} if not args.only_b else {"B": [0] * 5}
    left_out = {f"everyday_{w.removeprefix('everyday_').removesuffix('.jsonl')}.jsonl" for w in args.without}

    def others(f: str, pool: Sequence[str]) -> list[str]:
        batch = next((b for b in BATCHES if f in b), [f]) if args.by_batch else [f]
        return [g for g in pool if g not in batch and g not in left_out]

    for f in TOOL_SETS + NO_TOOL_SETS:
        got = {"B": score(index(others(f, TOOL_SETS), others(f, NEGATIVES)), f, dump)}
        if not args.only_b:
            got["A"] = score(index([g for g in SHIPPED if g != f]), f)
        for k, v in got.items():
            pooled[k] = [a + b for a, b in zip(pooled[k], v, strict=True)]
        a = f"A {show(got['A']):28s} " if "A" in got else ""
        print(f"{f.removesuffix('.jsonl'):28s} {a}B {show(got['B'])}", flush=True)
    for k, v in pooled.items():
        print(f"{k} pooled: top1 / recall@5 {show(v)}")
    if dump is not None:
        dump.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
