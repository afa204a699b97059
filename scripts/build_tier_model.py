#!/usr/bin/env python3
"""Build src/mcproute/data/tier_model.json from ../shared/evaldata (reproducible, seeded, pure Python).

    .venv/bin/python scripts/build_tier_model.py [--data DIR] [--out FILE] [--cv]

What is learned, and from what (never item ids, never source names):
  * word model "fail": P(weak model wrong) from MMLU prompt words (outcomes_mmlu.jsonl);
  * word model "gain": strong-minus-weak score from the same prompts;
    both exclude every prompt that also appears in reasoning.jsonl, so that file stays unseen
    by them;
  * combiner: logistic regression of reasoning.jsonl's label on the 15 form features and the
    two word-model outputs; then the gain model's weight is set to GAIN_WEIGHT (chosen on
    the development set, see docs/routing-tiers.md) because the reasoning labels do not reward
    what the outcomes data measures;
  * calibration: the threshold escalating TARGET_RATE of the outcomes prompts.
`--cv` also prints held-in / held-out figures (k-fold by item and by category/subject).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mcproute.eval.data import read_jsonl  # noqa: E402
from mcproute.eval.outcomes import sweep_metrics  # noqa: E402
from mcproute.eval.reasoning import auc  # noqa: E402
from mcproute.router.tier_features import FORM_FEATURES, form_features, word_tokens  # noqa: E402
from mcproute.router.tiers import MODEL_FORMAT, TierScorer, calibrate  # noqa: E402

TOP_WORDS = 2500  # per word model: keeps the file small; more words barely move held-out figures
GAIN_WEIGHT = 1.5
TARGET_RATE = 0.45
SIGNALS = {
    # logit units; why each exists is in docs/routing-tiers.md
    "previous_reasoning": 0.5,
    "tool_error": 0.7,
    "failed_validation": 0.9,
    "max_errors": 3.0,
    "step_count": 0.1,
    "priority": 4.0,
}


def train_linear(docs: Sequence[set[str]], y: Sequence[float], epochs: int = 3, lr: float = 0.02,
                 l2: float = 1e-5, seed: int = 0) -> tuple[dict[str, float], float]:
    """Least-squares SGD on sparse binary token features, scaled by 1/sqrt(#tokens)."""
    w: dict[str, float] = {}
    b = 0.0
    order = list(range(len(docs)))
    rnd = random.Random(seed)
    for ep in range(epochs):
        rnd.shuffle(order)
        eta = lr / (1 + ep)
        for i in order:
            x = docs[i]
            nx = 1.0 / math.sqrt(max(1, len(x)))
            g = b + sum(w.get(f, 0.0) for f in x) * nx - y[i]
            b -= eta * g
            s = eta * g * nx
            for f in x:
                v = w.get(f, 0.0)
                w[f] = v - s - eta * l2 * v
    return w, b


def word_model(docs: Sequence[set[str]], y: Sequence[float], top: int = TOP_WORDS) -> dict:
    w, b = train_linear(docs, y)
    kept = dict(sorted(w.items(), key=lambda kv: -abs(kv[1]))[:top])
    raw = [b + sum(kept.get(f, 0.0) for f in x) / math.sqrt(max(1, len(x))) for x in docs]
    mean = sum(raw) / len(raw)
    scale = math.sqrt(sum((r - mean) ** 2 for r in raw) / len(raw)) or 1.0
    return {"bias": round(b, 6), "mean": round(mean, 6), "scale": round(scale, 6),
            "weights": {k: round(v, 5) for k, v in sorted(kept.items())}}


def fit_logistic(X: Sequence[Sequence[float]], y: Sequence[float], l2: float = 0.05,
                 iters: int = 400, lr: float = 0.5) -> tuple[list[float], float]:
    """Batch gradient descent; X already standardised. Small (≈20 columns, ≈700 rows)."""
    d, n = len(X[0]), len(X)
    w, b = [0.0] * d, 0.0
    for _ in range(iters):
        gw = [l2 * v for v in w]
        gb = 0.0
        for x, t in zip(X, y):
            z = b + sum(a * c for a, c in zip(w, x))
            p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
            g = (p - t) / n
            for j in range(d):
                gw[j] += g * x[j]
            gb += g
        w = [a - lr * g for a, g in zip(w, gw)]
        b -= lr * gb
    return w, b


def standardise(rows: Sequence[Sequence[float]]) -> tuple[list[float], list[float]]:
    d = len(rows[0])
    mean = [sum(r[j] for r in rows) / len(rows) for j in range(d)]
    scale = [math.sqrt(sum((r[j] - mean[j]) ** 2 for r in rows) / len(rows)) or 1.0 for j in range(d)]
    return mean, scale


def word_models(outcomes: list[dict], exclude: set[str]) -> dict:
    train = [o for o in outcomes if o["turns"][0] not in exclude]
    docs = [set(word_tokens(o["turns"][0])) for o in train]
    weak = [float(o["outcomes"]["weak"][0]) for o in train]
    strong = [float(o["outcomes"]["strong"][0]) for o in train]
    return {"fail": word_model(docs, [1.0 - v for v in weak]),
            "gain": word_model(docs, [s - v for s, v in zip(strong, weak)])}


def build(reasoning: list[dict], outcomes: list[dict], gain_weight: float = GAIN_WEIGHT,
          words: dict | None = None, exclude: set[str] | None = None,
          calibrated: bool = True) -> dict:
    """Parameters from the given items; word models are trained on `outcomes` unless given."""
    if words is None:
        words = word_models(outcomes, exclude if exclude is not None else {r["prompt"] for r in reasoning})
    form_rows = [form_features(r["prompt"]) for r in reasoning]
    mean, scale = standardise(form_rows)
    probe = TierScorer.from_params(_params(mean, scale, [0.0] * len(FORM_FEATURES), 0.0,
                                           words, {"fail": 1.0, "gain": 1.0}, 0.5))
    X = []
    for r, f in zip(reasoning, form_rows):
        _, parts = probe.text_logit(r["prompt"])
        X.append([(v - m) / s for v, m, s in zip(f, mean, scale)] + [parts["fail"], parts["gain"]])
    y = [1.0 if r["needs_reasoning"] else 0.0 for r in reasoning]
    w, b = fit_logistic(X, y)
    n = len(FORM_FEATURES)
    # The reasoning labels give the gain model almost no weight (they reward "looks like
    # reasoning", not "the strong model does better"), so its weight is set, not fitted.
    comb = {"fail": round(w[n], 5), "gain": round(gain_weight, 5)}
    params = _params(mean, scale, [round(v, 5) for v in w[:n]], round(b, 5), words, comb, 0.5)
    if not calibrated:  # cross-validation folds only rank, they need no threshold
        return params
    scorer = TierScorer.from_params(params)
    cal = calibrate([scorer.score(o["turns"][0]).score for o in outcomes], TARGET_RATE, "")
    params["calibration"] = {"target_escalation_rate": TARGET_RATE, "threshold": round(cal.threshold, 6)}
    return params


def _params(mean: list[float], scale: list[float], form_w: list[float], bias: float, words: dict,
            comb_words: dict, threshold: float) -> dict:
    return {
        "format": MODEL_FORMAT,
        "form": {"names": list(FORM_FEATURES), "mean": [round(v, 6) for v in mean],
                 "scale": [round(v, 6) for v in scale]},
        "combine": {"bias": bias, "form": form_w, "words": comb_words},
        "words": words,
        "signals": SIGNALS,
        "calibration": {"target_escalation_rate": TARGET_RATE, "threshold": threshold},
        "provenance": {
            "built_by": "scripts/build_tier_model.py",
            "data": ["outcomes_mmlu.jsonl (RouteLLM/MMLU)", "reasoning.jsonl (MMLU, BIG-Bench Hard, HumanEval, BFCL, MetaTool)"],
        },
    }


def _folds(items: list[dict], key: str, k: int = 5, seed: int = 0) -> list[int]:
    rnd = random.Random(seed)
    if key == "item":
        return [rnd.randrange(k) for _ in items]
    groups = sorted({str(it["category"]) for it in items})
    rnd.shuffle(groups)
    fold = {g: i % k for i, g in enumerate(groups)}
    return [fold[str(it["category"])] for it in items]


GAIN_GRID = (0.0, 0.6, 1.0, 1.5, 2.5)


def _split_logits(scorer: TierScorer, text: str) -> tuple[float, float]:
    """(logit without the gain model, the gain model's standardised output)."""
    z, parts = scorer.text_logit(text)
    g = scorer.words["gain"][1]
    return z - parts["gain"], (parts["gain"] / g if g else 0.0)


def cross_validate(reasoning: list[dict], outcomes: list[dict]) -> None:
    """Held-in and held-out figures for every gain weight of GAIN_GRID.

    Each fold's items are scored by a model built without them; the gain model's weight is the
    only knob between the two data sets, so the folds are built once with weight 1 and the
    logits recombined per weight (ranking metrics do not need the sigmoid).
    """
    seen = {r["prompt"] for r in reasoning}
    words = word_models(outcomes, seen)
    weak = [o["outcomes"]["weak"][0] for o in outcomes]
    strong = [o["outcomes"]["strong"][0] for o in outcomes]
    labels = [bool(r["needs_reasoning"]) for r in reasoning]
    full = TierScorer.from_params(build(reasoning, outcomes, gain_weight=1.0, words=words, calibrated=False))
    rows: dict[str, tuple[list[tuple[float, float]], str]] = {
        "reasoning held-in": ([_split_logits(full, r["prompt"]) for r in reasoning], "auc"),
        "outcomes held-in": ([_split_logits(full, o["turns"][0]) for o in outcomes], "curve"),
    }
    for key in ("item", "category"):
        fo = _folds(outcomes, key)
        parts = [(0.0, 0.0)] * len(outcomes)
        for k in range(5):
            train = [o for o, f in zip(outcomes, fo) if f != k]
            scorer = TierScorer.from_params(build(reasoning, train, gain_weight=1.0, exclude=seen, calibrated=False))
            for i, (o, f) in enumerate(zip(outcomes, fo)):
                if f == k:
                    parts[i] = _split_logits(scorer, o["turns"][0])
        rows[f"outcomes held-out by {key}"] = (parts, "curve")
        print(f"... outcomes folds by {key} done", flush=True)
    for seed in range(3):
        fo = _folds(reasoning, "category", seed=seed)
        parts = [(0.0, 0.0)] * len(reasoning)
        for k in range(5):
            train = [r for r, f in zip(reasoning, fo) if f != k]
            # word models never saw reasoning.jsonl prompts, so the folds can share them
            scorer = TierScorer.from_params(build(train, outcomes, gain_weight=1.0, words=words, calibrated=False))
            for i, (r, f) in enumerate(zip(reasoning, fo)):
                if f == k:
                    parts[i] = _split_logits(scorer, r["prompt"])
        rows[f"reasoning held-out by category, seed {seed}"] = (parts, "auc")
    for src in sorted({str(r.get("source")) for r in reasoning}):
        train = [r for r in reasoning if str(r.get("source")) != src]
        scorer = TierScorer.from_params(build(train, outcomes, gain_weight=1.0, words=words, calibrated=False))
        rows[f"reasoning, source {src} held out"] = ([_split_logits(scorer, r["prompt"]) for r in reasoning], "auc")
    print("| evaluation | " + " | ".join(f"gain weight {g}" for g in GAIN_GRID) + " |")
    print("|---|" + "---|" * len(GAIN_GRID))
    for name, (parts, kind) in rows.items():
        cells = []
        for g in GAIN_GRID:
            sc = [a + g * b for a, b in parts]
            if kind == "auc":
                cells.append(f"auc {auc(sc, labels):.3f}")
            else:
                m = sweep_metrics(sc, weak, strong)
                cells.append(f"{m['strong_share_at_95']:.3f} / {m['apgr']:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "evaldata"))
    ap.add_argument("--out", default=str(ROOT / "src" / "mcproute" / "data" / "tier_model.json"))
    ap.add_argument("--cv", action="store_true", help="also print held-out figures (slow: ~25 builds)")
    args = ap.parse_args(argv)
    data = Path(args.data)
    reasoning = read_jsonl(data / "reasoning.jsonl", ("prompt", "needs_reasoning", "category"))
    outcomes = read_jsonl(data / "outcomes_mmlu.jsonl", ("turns", "outcomes", "category"))
    for items in (reasoning, outcomes):
        for it in items:
            it.pop("_line", None)
    params = build(reasoning, outcomes)
    Path(args.out).write_text(json.dumps(params, indent=None, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"wrote {args.out} ({Path(args.out).stat().st_size // 1024} KiB)")
    if args.cv:
        cross_validate(reasoning, outcomes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
