"""`mcproute eval reasoning --data reasoning.jsonl`: does the tier score separate the two classes?

Keys (shared/evaldata/README.md): n, accuracy (at the shipped calibrated threshold), auc,
p50_ms, p99_ms (the scorer alone; each prompt's step vector is made once per run beforehand, as
the engine makes it once per step). A prompt-length baseline is printed beside the figures (not in the JSON) because
the two classes differ in form, so length alone already separates them fairly well.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from mcproute.errors import DataFileError
from mcproute.eval.data import percentile, progress, read_jsonl
from mcproute.eval.report import print_report


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Area under the ROC curve by ranks (ties count one half); None when a class is empty."""
    n = len(scores)
    order = sorted(range(n), key=lambda i: scores[i])
    ranks = [0.0] * n
    i = 0
    while i < n:
        j = i
        while j < n and scores[order[j]] == scores[order[i]]:
            j += 1
        for k in range(i, j):
            ranks[order[k]] = (i + j + 1) / 2  # average 1-based rank of the tie group
        i = j
    pos = sum(1 for v in labels if v)
    neg = n - pos
    if pos == 0 or neg == 0:
        return None
    rank_sum = sum(r for r, v in zip(ranks, labels, strict=True) if v)
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def _check(items: list[dict], path: str) -> None:
    for it in items:
        if not isinstance(it["prompt"], str):
            raise DataFileError(path, it["_line"], "'prompt' must be a string")
        if not isinstance(it["needs_reasoning"], bool):
            raise DataFileError(path, it["_line"], "'needs_reasoning' must be true or false")


def run(args: argparse.Namespace) -> int:
    from mcproute.eval.tier_scoring import prepared

    items = read_jsonl(args.data, ("id", "prompt", "needs_reasoning"))
    if args.filter:
        items = [it for it in items if it.get("source") == args.filter]
    if args.limit is not None:
        items = items[: args.limit]
    _check(items, args.data)
    scorer, vectors, how = prepared([it["prompt"] for it in items], getattr(args, "encoder", None) is not False)
    scores: list[float] = []
    lat: list[float] = []
    for it in progress(items, "reasoning", not args.no_progress):
        t0 = time.perf_counter_ns()
        s = scorer.score(it["prompt"], vector=vectors.get(it["prompt"]))
        lat.append((time.perf_counter_ns() - t0) / 1e6)
        scores.append(s.score)
    labels = [bool(it["needs_reasoning"]) for it in items]
    thr = scorer.calibration.threshold
    acc = sum((s >= thr) == y for s, y in zip(scores, labels, strict=True)) / len(items) if items else None
    res = {
        "n": len(items),
        "accuracy": acc,
        "auc": auc(scores, labels),
        "p50_ms": percentile(lat, 50),
        "p99_ms": percentile(lat, 99),
    }
    if args.scores_out:
        try:
            Path(args.scores_out).write_text(
                "".join(
                    json.dumps({"id": it["id"], "turn": 0, "score": s}) + "\n"
                    for it, s in zip(items, scores, strict=True)
                ),
                encoding="utf-8",
            )
        except OSError as exc:
            print(f"error: cannot write {args.scores_out}: {exc.strerror}", file=sys.stderr)
            return 2
    base = auc([float(len(it["prompt"])) for it in items], labels)
    print_report(
        "reasoning",
        args.data,
        res,
        [
            ("policy", scorer.calibration.version),
            ("threshold", thr),
            ("vectors", how),
            ("baseline: prompt-length auc", base),
        ],
        as_json=args.json,
    )
    return 0
