"""`mcproute eval outcomes --data outcomes.jsonl`: cost vs quality of routing turns to the strong tier.

The sweep (precisely): every turn gets the router's score; turns are sorted by score, highest
first, and the threshold moves down through every distinct score value, so the sweep visits
(share sent to strong, mean quality) points from (0, always-weak) to (1, always-strong). Turns
with equal scores move together; between two points the curve is a straight line (what random
tie-breaking achieves on average).

* strong_share_at_95: the smallest share on that curve whose quality reaches 0.95 x always-strong
  (linear interpolation inside the segment that crosses it; 0.0 if always-weak already does).
* apgr: the area under PGR(share) = (quality - weak) / (strong - weak) over share in [0, 1]
  (trapezoids between sweep points). Random routing scores 0.5 in expectation.
Quality is the mean per-turn outcome score of the model the turn was sent to.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

from mcproute.errors import DataFileError
from mcproute.eval.data import percentile, progress, read_jsonl
from mcproute.eval.report import print_report


def sweep(scores: Sequence[float], weak: Sequence[float], strong: Sequence[float]) -> list[tuple[float, float]]:
    """(share to strong, mean quality) points of the threshold sweep, starting at (0, weak)."""
    n = len(scores)
    if n == 0:
        return []
    order = sorted(range(n), key=lambda i: -scores[i])
    q = float(sum(weak))
    pts = [(0.0, q / n)]
    i = 0
    while i < n:
        j = i
        while j < n and scores[order[j]] == scores[order[i]]:
            q += strong[order[j]] - weak[order[j]]
            j += 1
        pts.append((j / n, q / n))
        i = j
    return pts


def sweep_metrics(scores: Sequence[float], weak: Sequence[float], strong: Sequence[float]) -> dict[str, float | None]:
    n = len(scores)
    if n == 0:
        return {"weak": None, "strong": None, "strong_share_at_95": None, "apgr": None}
    w, s = sum(weak) / n, sum(strong) / n
    pts = sweep(scores, weak, strong)
    target = 0.95 * s
    share: float | None = None
    if pts[0][1] >= target:
        share = 0.0
    else:
        for (s0, q0), (s1, q1) in pairwise(pts):
            if q1 >= target:
                share = s0 + (s1 - s0) * (target - q0) / (q1 - q0)
                break
    apgr: float | None = None
    if s != w:
        apgr = sum((s1 - s0) * ((q0 + q1) / 2 - w) / (s - w) for (s0, q0), (s1, q1) in pairwise(pts))
    return {"weak": w, "strong": s, "strong_share_at_95": share, "apgr": apgr}


def _turns(items: list[dict], path: str) -> None:
    for it in items:
        turns, out = it["turns"], it["outcomes"]
        line = it["_line"]
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
            raise DataFileError(path, line, "'turns' must be a non-empty list of strings")
        if not isinstance(out, dict) or "weak" not in out or "strong" not in out:
            raise DataFileError(path, line, "'outcomes' must have 'weak' and 'strong' score lists")
        for k in ("weak", "strong"):
            v = out[k]
            if (
                not isinstance(v, list)
                or len(v) != len(turns)
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
            ):
                raise DataFileError(path, line, f"'outcomes.{k}' must list one number per turn ({len(turns)})")


def score_turns(
    items: list[dict], show_progress: bool = True, use_encoder: bool = True
) -> tuple[list[dict], list[float], str]:
    """Score every turn in order; a later turn sees the tier the earlier one got (sticky input)."""
    from mcproute.eval.tier_scoring import prepared, score_conversation

    scorer, vectors, how = prepared([t for it in items for t in it["turns"]], use_encoder)
    rows: list[dict] = []
    lat: list[float] = []
    for it in progress(items, "outcomes", show_progress):
        for k, (text, s) in enumerate(
            zip(it["turns"], score_conversation(scorer, it["turns"], vectors, lat), strict=True)
        ):
            rows.append(
                {
                    "id": it["id"],
                    "turn": k,
                    "score": s.score,
                    "weak": float(it["outcomes"]["weak"][k]),
                    "strong": float(it["outcomes"]["strong"][k]),
                    "chars": len(text),
                }
            )
    return rows, lat, how


def unseen(item_id: str) -> bool:
    """Questions the shipped tier model never saw (scripts/build_tier_model.py trains on the rest)."""
    return int(hashlib.sha256(item_id.encode()).hexdigest(), 16) % 5 == 0


def run(args: argparse.Namespace) -> int:
    if args.plot:
        from mcproute.eval.plot import missing

        if (hint := missing()) is not None:  # before any scoring: that can take minutes
            print(f"error: {hint}", file=sys.stderr)
            return 2
    items = read_jsonl(args.data, ("id", "turns", "outcomes"))
    if args.filter:
        items = [it for it in items if it.get("source") == args.filter]
    if getattr(args, "unseen", False):
        items = [it for it in items if unseen(str(it["id"]))]
    if args.limit is not None:
        items = items[: args.limit]
    _turns(items, args.data)
    if getattr(args, "online", False):
        return _run_online(args, items)
    rows, lat, how = score_turns(items, not args.no_progress, getattr(args, "encoder", None) is not False)
    scores = [r["score"] for r in rows]
    weak = [r["weak"] for r in rows]
    strong = [r["strong"] for r in rows]
    m = sweep_metrics(scores, weak, strong)
    res = {"n_turns": len(rows), **m, "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99)}
    if args.scores_out:
        lines = "".join(json.dumps({"id": r["id"], "turn": r["turn"], "score": r["score"]}) + "\n" for r in rows)
        if not _write(args.scores_out, lines.encode()):
            return 2
    base = sweep_metrics([float(r["chars"]) for r in rows], weak, strong)
    context: list[tuple[str, object]] = [
        ("vectors", how),
        ("baseline: prompt-length strong_share_at_95", base["strong_share_at_95"]),
        ("baseline: prompt-length apgr", base["apgr"]),
    ]
    if args.plot and not rows:
        context.append(("plot", "no turns: not written"))
    elif args.plot:
        from mcproute.eval.plot import cost_quality_png

        png = cost_quality_png(
            sweep(scores, weak, strong),
            m["weak"] or 0.0,
            m["strong"] or 0.0,
            baseline=sweep([float(r["chars"]) for r in rows], weak, strong),
        )
        if not _write(args.plot, png):
            return 2
        context.append(("plot", f"written to {args.plot}"))
    print_report("outcomes", args.data, res, context, as_json=args.json)
    return 0


def _run_online(args: argparse.Namespace, items: list[dict]) -> int:
    from mcproute.eval.online import outcomes_online

    reveal = getattr(args, "reveal", None)
    rate = 0.2 if reveal is None else reveal
    try:
        res, context = outcomes_online(
            items, rate, getattr(args, "seed", 0), getattr(args, "encoder", None) is not False
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_report("outcomes --online", args.data, res, context, as_json=args.json)
    return 0


def _write(path: str, data: bytes) -> bool:
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        print(f"error: cannot write {path}: {exc.strerror}", file=sys.stderr)
        return False
    return True
