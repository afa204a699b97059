#!/usr/bin/env python3
"""Write the held-out (test) halves of the evaldata files, matching build_retrieval_params.py's split.

    .venv/bin/python scripts/build_retrieval_split.py --out /tmp/evalsplit
    mcproute eval tools --data /tmp/evalsplit/test/tool_selection_large.jsonl --json

Catalogue paths are rewritten as absolute paths so the copies can live anywhere.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "evaldata"
FILES = ("tool_selection_large.jsonl", "tool_selection.jsonl", "multiturn.jsonl")


def in_train(item_id: str, tenths: int) -> bool:
    return int(hashlib.md5(item_id.encode()).hexdigest(), 16) % 10 < tenths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--train-tenths", type=int, default=5)
    a = ap.parse_args(argv)
    for part in ("train", "test"):
        (a.out / part).mkdir(parents=True, exist_ok=True)
    for name in FILES:
        lines = {"train": [], "test": []}
        for line in (a.data / name).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            it = json.loads(line)
            if isinstance(it.get("catalog"), str):
                it["catalog"] = str((a.data / it["catalog"]).resolve())
            lines["train" if in_train(it["id"], a.train_tenths) else "test"].append(json.dumps(it, ensure_ascii=False))
        for part, rows in lines.items():
            (a.out / part / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
            print(f"{part}/{name}: {len(rows)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
