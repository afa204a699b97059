"""`mcproute eval {tools,reasoning,outcomes,multiturn} --data FILE [--json] ...`

Each kind lives in `mcproute.eval.<kind>` and exposes `run(args) -> int`; the metrics and JSON
keys are exactly those of shared/evaldata/README.md.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from mcproute.errors import DataFileError

KINDS = ("tools", "reasoning", "outcomes", "multiturn")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=KINDS)
    p.add_argument("--data", required=True, help="JSONL data file")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.add_argument("--ranks-out", help="tools/multiturn: write {id, turn?, ranked} per item")
    p.add_argument("--scores-out", help="reasoning/outcomes: write {id, turn, score} per item")
    p.add_argument("--plot", help="outcomes: draw the cost/quality curve as PNG")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N items")
    p.add_argument("--filter", default=None, help="only items whose source equals this")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-encoder", action="store_true",
                   help="reasoning/outcomes: score without step vectors (the shape-only fallback)")
    p.add_argument("--unseen", action="store_true",
                   help="outcomes: only the questions the shipped tier model never saw (sha256(id) %% 5 == 0)")
    p.add_argument("--encoder", action="store_true",
                   help="tools: rank with the sentence encoder's vectors too (tool vectors cached on disk)")


def run(args: argparse.Namespace) -> int:
    mod = importlib.import_module(f"mcproute.eval.{args.kind}")
    try:
        return int(mod.run(args) or 0)
    except DataFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
