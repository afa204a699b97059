"""`mcproute eval reasoning --data reasoning.jsonl`: does the tier score separate the two classes?

Keys (shared/evaldata/README.md): n, accuracy (at the shipped calibrated threshold), auc,
p50_ms, p99_ms (the scorer alone; each prompt's step vector is made once per run beforehand, as
the engine makes it once per step). A prompt-length baseline is printed beside the figures (not in the JSON) because
the two classes differ in form, so length alone already separates them fairly well.

An item is one prompt (`prompt`, `needs_reasoning: bool`) or one conversation's user turns
(`turns: [str, ...]`, `needs_reasoning: [bool per turn]`). Turns are scored in order as the engine
scores a conversation's steps (each sees the tier the previous one got) and count one each; with
any conversation in the file, the figures of the follow-up turns alone are printed beside.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

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
        turns, label, line = it.get("turns"), it["needs_reasoning"], it["_line"]
        if turns is None:
            if not isinstance(it.get("prompt"), str):
                raise DataFileError(path, line, "'prompt' must be a string (or give 'turns', a list of strings)")
            if not isinstance(label, bool):
                raise DataFileError(path, line, "'needs_reasoning' must be true or false")
            continue
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
            raise DataFileError(path, line, "'turns' must be a non-empty list of strings")
        if not isinstance(label, list) or len(label) != len(turns) or not all(isinstance(v, bool) for v in label):
            raise DataFileError(
                path, line, f"'needs_reasoning' must list true or false for each of the {len(turns)} turns"
            )


class _Turn(NamedTuple):
    id: str
    turn: int
    text: str
    score: float
    label: bool


def _turns(it: dict) -> tuple[list[str], list[bool]]:
    if "turns" in it:
        return list(it["turns"]), list(it["needs_reasoning"])
    return [it["prompt"]], [it["needs_reasoning"]]


def run(args: argparse.Namespace) -> int:
    from mcproute.eval.tier_scoring import prepared, score_conversation

    items = read_jsonl(args.data, ("id", "needs_reasoning"))
    if args.filter:
        items = [it for it in items if it.get("source") == args.filter]
    if args.limit is not None:
        items = items[: args.limit]
    _check(items, args.data)
    texts = [t for it in items for t in _turns(it)[0]]
    scorer, vectors, how = prepared(texts, getattr(args, "encoder", None) is not False)
    rows: list[_Turn] = []
    lat: list[float] = []
    for it in progress(items, "reasoning", not args.no_progress):
        turns, labels = _turns(it)
        for k, (text, s, y) in enumerate(
            zip(turns, score_conversation(scorer, turns, vectors, lat), labels, strict=True)
        ):
            rows.append(_Turn(str(it["id"]), k, text, s.score, y))
    scores = [r.score for r in rows]
    labels = [r.label for r in rows]
    thr = scorer.calibration.threshold

    def accuracy(sel: list[_Turn]) -> float | None:
        return sum((r.score >= thr) == r.label for r in sel) / len(sel) if sel else None

    res = {
        "n": len(rows),
        "accuracy": accuracy(rows),
        "auc": auc(scores, labels),
        "p50_ms": percentile(lat, 50),
        "p99_ms": percentile(lat, 99),
    }
    if args.scores_out:
        try:
            Path(args.scores_out).write_text(
                "".join(json.dumps({"id": r.id, "turn": r.turn, "score": r.score}) + "\n" for r in rows),
                encoding="utf-8",
            )
        except OSError as exc:
            print(f"error: cannot write {args.scores_out}: {exc.strerror}", file=sys.stderr)
            return 2
    base = auc([float(len(r.text)) for r in rows], labels)
    context: list[tuple[str, object]] = [
        ("policy", scorer.calibration.version),
        ("threshold", thr),
        ("vectors", how),
        ("baseline: prompt-length auc", base),
    ]
    follow = [r for r in rows if r.turn > 0]
    if follow:
        context += [
            ("follow-up turns", len(follow)),
            ("follow-up turns: auc", auc([r.score for r in follow], [r.label for r in follow])),
            ("follow-up turns: accuracy", accuracy(follow)),
            (
                "follow-up turns: prompt-length auc",
                auc([float(len(r.text)) for r in follow], [r.label for r in follow]),
            ),
        ]
    print_report("reasoning", args.data, res, context, as_json=args.json)
    return 0
