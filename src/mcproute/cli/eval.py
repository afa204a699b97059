"""`mcproute eval {tools,reasoning,outcomes,multiturn,cache} --data FILE [--json] ...`

Each kind lives in `mcproute.eval.<kind>` and exposes `run(args) -> int`; the metrics and JSON
keys are exactly those of shared/evaldata/README.md.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from mcproute.errors import DataFileError

KINDS = ("tools", "reasoning", "outcomes", "multiturn", "cache")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "kind",
        choices=KINDS,
        help="tools: tool retrieval; multiturn: retrieval with history; "
        "reasoning: the tier score; outcomes: cost/quality of the tier choice; "
        "cache: the reply cache's similarity tier on paraphrase and near-miss pairs",
    )
    p.add_argument("--data", required=True, help="JSONL data file")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.add_argument("--ranks-out", help="tools/multiturn: write {id, turn?, ranked, no_tool} per item")
    p.add_argument("--scores-out", help="reasoning/outcomes: write {id, turn, score} per item")
    p.add_argument(
        "--plot",
        help="outcomes: draw the cost/quality curve as PNG (needs the plot extra: pip install 'mcproute[plot]')",
    )
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N items")
    p.add_argument("--filter", default=None, help="only items whose source equals this")
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar on stderr (it is only drawn on a terminal)"
    )
    enc = p.add_mutually_exclusive_group()
    # On by default: the shipped retrieval parameters and tier model are fitted to the encoder's
    # vectors, so a figure without it measures a configuration the gateway only runs while it loads.
    enc.add_argument(
        "--encoder",
        dest="encoder",
        action="store_true",
        default=None,
        help="use the sentence encoder's vectors (the default when it loads; vectors cached on disk)",
    )
    enc.add_argument(
        "--no-encoder",
        dest="encoder",
        action="store_false",
        help="tools, multiturn: lexical channels and the static table only; reasoning/outcomes: the shape-only fallback",
    )
    p.add_argument(
        "--online",
        action="store_true",
        help="outcomes, tools: stream the items in a seeded shuffled order, learn from revealed outcomes "
        "(docs/learning.md) and report the online policy beside the static one on the same stream",
    )
    p.add_argument(
        "--reveal",
        type=float,
        default=None,
        help="--online: probability that an item's outcome is revealed after its decision "
        "(default 0.2 for outcomes, as shadow traffic would; 1.0 for tools: the tool called is always seen)",
    )
    p.add_argument("--seed", type=int, default=0, help="--online: seed of the stream order and of the reveals")
    p.add_argument(
        "--examples",
        default=None,
        help="tools: taught tool examples, as servers.<name>.tools.examples would give them: the 'query' of each "
        "item of this JSONL file (same format as --data) is an example of its 'expected' tools (docs/routing-tools.md)",
    )
    p.add_argument(
        "--no-shipped-examples",
        dest="shipped_examples",
        action="store_false",
        help="tools: without the shipped examples of the official reference servers' tools (applied by default to a "
        "catalogue tool whose name and description are one of theirs, as a gateway running that server would)",
    )
    p.add_argument(
        "--add-catalog",
        action="append",
        default=[],
        metavar="CATALOG",
        help="tools: add this catalogue's tools (a JSON list, as an item's 'catalog') to every item's tools: the same "
        "requests next to tools of other servers, e.g. ones nobody taught; repeatable",
    )
    p.add_argument(
        "--no-tool-threshold",
        type=float,
        default=None,
        metavar="P",
        help="tools: P(some tool fits) below which a request gets no tool, as routing.no_tool_threshold sets it "
        "(default: the shipped one); measure the trade-off on your own requests before you set it",
    )
    p.add_argument(
        "--unseen",
        action="store_true",
        help="outcomes: only the questions the shipped tier model never saw (sha256(id) %% 5 == 0)",
    )


def run(args: argparse.Namespace) -> int:
    mod = importlib.import_module(f"mcproute.eval.{args.kind}")
    try:
        return int(mod.run(args) or 0)
    except DataFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
