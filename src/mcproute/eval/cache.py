"""`mcproute eval cache --data evals/cache_pairs.jsonl`: would the similarity tier reuse a reply?

Each line is a pair of requests, `{id, kind, a, b}`: `paraphrase` (the same request in other
words: a hit is right) or `near_miss` (looks alike, asks for something else — another verb,
number, name, path, direction: a hit would be a wrong answer). A pair is a hit when the cache's
own rule (`cache_key.similar_hit`: cosine of the two step vectors at or above the threshold, and
the same anchors) says so; the vectors are the engine's (`Encoder.encode_one`).

The threshold is chosen on one half of the pairs (`sha256(id)` even: "calibration") as the lowest
cosine that keeps that half's false-hit rate at or under `--target` (default 0.01), and the
figures that count are the other half's ("held_out"). The shipped threshold
(`cache_key.SHIPPED_SIMILARITY`) is reported on the held-out half too, with the rule without the
minimal-pair guard beside it as a baseline.
"""

from __future__ import annotations

import argparse
import hashlib
from typing import Any

import numpy as np

from mcproute.errors import DataFileError
from mcproute.eval.data import read_jsonl
from mcproute.eval.report import print_report
from mcproute.runtime.cache_key import SHIPPED_SIMILARITY, Question, similar_hit

KINDS = ("paraphrase", "near_miss")


def half(item_id: str) -> str:
    return "calibration" if hashlib.sha256(item_id.encode()).digest()[0] % 2 == 0 else "held_out"


def rates(pairs: list[dict[str, Any]], threshold: float, *, guard: bool = True) -> tuple[float | None, float | None]:
    """(hit rate on paraphrases, false-hit rate on near misses) at this threshold."""

    def hit(p: dict[str, Any]) -> bool:
        if not guard:
            return bool(p["cos"] >= threshold and p["qa"].anchors == p["qb"].anchors)
        return similar_hit(p["cos"], threshold, p["qa"], p["qb"])

    para = [hit(p) for p in pairs if p["kind"] == "paraphrase"]
    near = [hit(p) for p in pairs if p["kind"] == "near_miss"]
    return (sum(para) / len(para) if para else None, sum(near) / len(near) if near else None)


def choose(pairs: list[dict[str, Any]], target: float) -> float:
    """The lowest threshold (among the pairs' own cosines) whose false-hit rate is <= target."""
    for t in sorted({round(p["cos"], 4) for p in pairs} | {1.0}):
        fh = rates(pairs, t)[1]
        if fh is None or fh <= target:
            return t
    return 1.0


def run(args: argparse.Namespace) -> int:
    from mcproute.encoding import EncoderUnavailable, load_shared

    items = read_jsonl(args.data, ("id", "kind", "a", "b"))
    for it in items:
        if it["kind"] not in KINDS:
            raise DataFileError(args.data, it["_line"], f"'kind' must be one of {', '.join(KINDS)}, got {it['kind']!r}")
        if not (isinstance(it["a"], str) and isinstance(it["b"], str) and it["a"].strip() and it["b"].strip()):
            raise DataFileError(args.data, it["_line"], "'a' and 'b' must be non-empty strings")
    if args.limit is not None:
        items = items[: args.limit]
    try:
        enc = load_shared()
    except EncoderUnavailable as exc:
        print(f"error: the similarity tier needs the sentence encoder: {exc}")
        return 2
    pairs = [
        {
            "kind": it["kind"],
            "half": half(str(it["id"])),
            "cos": float(np.dot(enc.encode_one(it["a"]), enc.encode_one(it["b"]))),
            "qa": Question.of(it["a"]),
            "qb": Question.of(it["b"]),
        }
        for it in items
    ]
    target = float(getattr(args, "target", None) or 0.01)
    cal = [p for p in pairs if p["half"] == "calibration"]
    held = [p for p in pairs if p["half"] == "held_out"]
    chosen = choose(cal, target)
    cal_hit, cal_false = rates(cal, chosen)
    held_hit, held_false = rates(held, chosen)
    ship_hit, ship_false = rates(held, SHIPPED_SIMILARITY)
    all_hit, all_false = rates(pairs, SHIPPED_SIMILARITY)
    bare_hit, bare_false = rates(held, SHIPPED_SIMILARITY, guard=False)
    figures = {
        "n_paraphrase": sum(p["kind"] == "paraphrase" for p in pairs),
        "n_near_miss": sum(p["kind"] == "near_miss" for p in pairs),
        "shipped_threshold": SHIPPED_SIMILARITY,
        "held_out_hit_rate": ship_hit,
        "held_out_false_hit_rate": ship_false,
        "all_hit_rate": all_hit,
        "all_false_hit_rate": all_false,
        "chosen_threshold": chosen,
        "chosen_calibration_hit_rate": cal_hit,
        "chosen_calibration_false_hit_rate": cal_false,
        "chosen_held_out_hit_rate": held_hit,
        "chosen_held_out_false_hit_rate": held_false,
    }
    context = [
        ("encoder", enc.model_id),
        ("halves", f"calibration {len(cal)} pairs, held out {len(held)} (sha256(id) parity)"),
        ("target false-hit rate (calibration half)", target),
        ("held out, shipped threshold, anchors only (no minimal-pair guard): hit rate", bare_hit),
        ("held out, shipped threshold, anchors only (no minimal-pair guard): false-hit rate", bare_false),
    ]
    print_report("cache", args.data, figures, context, as_json=args.json)
    return 0
