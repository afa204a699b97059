#!/usr/bin/env python3
"""Build src/mcproute/data/tier_model.json (seeded, deterministic; numpy + the step encoder).

    .venv/bin/python scripts/build_tier_model.py [--data DIR] [--out FILE] [--cv]

Learned, and from what (never item ids, sources or category names as features):
  * head: L2 logistic regression of "needs reasoning" on the step vector (384), the 17 shape
    features and the example closeness (router/tier_examples.py), over reasoning.jsonl + the
    agentic sets (AGENTIC: four authors' sets under tests/data/) + the shipped examples (each example's
    closeness leaves itself out). Rows are weighted per source
    (GROUP_WEIGHT, AGENTIC_WEIGHT), so a big source cannot drown a small one;
  * fallback: the same without vector and closeness, for steps scored without an encoder;
  * outcomes: ridge regression of strong-minus-weak score on the vector and log length, over the
    outcomes_mmlu.jsonl questions with sha256(id) % 5 != 0. The rest (2,802) are never seen:
    `mcproute eval outcomes --unseen` reports on them. Added with a set weight (GAIN_MC on
    multiple-choice questions, GAIN_OTHER elsewhere), chosen on the trade-off table of --cv;
  * threshold (RULE "recall0.9"): maximises the mean of three accuracies on scores of items the
    model did not train on: reasoning.jsonl (each source scored by the model built without it), the
    agentic sets (each scored by a model built without it; their mean) and everyday_dev requests
    (all fast; never trained on), among the cuts keeping 90 % of the agentic reasoning prompts up.
    `--agentic`, `--rule recallR|costK` and `--also` (score sets never trained on) reproduce the
    alternatives tried in docs/routing-tiers.md.
`--cv` prints the held-out table (leave-one-source-out, agentic transfer, outcomes by fold).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mcproute.encoding import load_shared  # noqa: E402
from mcproute.encoding.steps import step_cache, step_vectors  # noqa: E402
from mcproute.eval.data import read_jsonl  # noqa: E402
from mcproute.eval.outcomes import sweep_metrics, unseen  # noqa: E402
from mcproute.eval.reasoning import auc  # noqa: E402
from mcproute.router.tier_examples import ExampleSet  # noqa: E402
from mcproute.router.tier_features import FORM_FEATURES, form_features  # noqa: E402
from mcproute.router.tiers import MODEL_FORMAT, TierScorer  # noqa: E402
from mcproute.runtime.examples import shipped_examples  # noqa: E402

L2_VECTOR, L2_SHAPE, RIDGE = 10.0, 10.0, 100.0
# Weight of each source's rows in the head, relative to one reasoning.jsonl source (every source
# sums to its weight whatever its size). The agentic sets are the kind of step a gateway sees, so
# together they count as three (split evenly); MMLU at half: its labels come from the subject name and the outcome data
# contradicts them. Chosen on the dev trade-off (docs/routing-tiers.md, "How it was chosen").
GROUP_WEIGHT = {"examples": 1.0, "mmlu": 0.5}
AGENTIC_WEIGHT = 3.0  # all agentic sets together, split evenly between them
AGENTIC = ("agentic_dev", "agentic_dev2", "agentic_dev3", "agentic_short_dev")  # four authors (docs/routing-tiers.md)
RULE = "recall0.9"  # the mean of three accuracies among cuts keeping 90 % of agentic reasoning up
GAIN_MC, GAIN_OTHER = 4.5, 1.0
SIGNALS = {
    "previous_reasoning": 0.5,
    "tool_error": 0.7,
    "failed_validation": 0.9,
    "max_errors": 3.0,
    "step_count": 0.1,
    "priority": 4.0,
}  # logit units; why each exists: docs/routing-tiers.md
OPT, LOGC = FORM_FEATURES.index("options"), FORM_FEATURES.index("log_chars")


@dataclass
class Rows:
    texts: list[str]
    y: np.ndarray  # 1 = needs reasoning
    group: np.ndarray  # weighting group (source)
    v: np.ndarray  # (n, 384)
    s: np.ndarray  # (n, 15) raw shape features
    x: np.ndarray  # (n,) example closeness

    def take(self, m: np.ndarray) -> Rows:
        return Rows([t for t, k in zip(self.texts, m) if k], self.y[m], self.group[m], self.v[m], self.s[m], self.x[m])


def fit_logistic(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, pen: np.ndarray, iters: int = 40
) -> tuple[np.ndarray, float]:
    """Weighted L2 logistic regression by Newton steps (deterministic; bias unpenalised)."""
    n, d = X.shape
    Xb = np.hstack([X, np.ones((n, 1))])
    P = np.append(pen, 0.0)
    w = w / w.mean()
    beta = np.zeros(d + 1)
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(Xb @ beta, -30, 30)))
        g = Xb.T @ (w * (p - y)) + P * beta
        H = (Xb * (w * p * (1 - p))[:, None]).T @ Xb + np.diag(P) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(H, g)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta[:-1], float(beta[-1])


def ridge(X: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, float]:
    Xb = np.hstack([X, np.ones((len(X), 1))])
    P = lam * np.eye(Xb.shape[1])
    P[-1, -1] = 0.0
    beta = np.linalg.solve(Xb.T @ Xb + P, Xb.T @ y)
    return beta[:-1], float(beta[-1])


def weights(group: np.ndarray) -> np.ndarray:
    agentic = {g for g in group if str(g).startswith("agentic")}
    w = {**GROUP_WEIGHT, **{g: AGENTIC_WEIGHT / max(len(AGENTIC), 1) for g in agentic}}
    return np.array([w.get(g, 1.0) / (group == g).sum() for g in group])


def fit_head(rows: Rows) -> dict:
    mean, scale = rows.s.mean(0), rows.s.std(0)
    scale = np.where(scale == 0, 1.0, scale)
    S = (rows.s - mean) / scale
    xm, xs = float(rows.x.mean()), float(rows.x.std() or 1.0)
    X = np.hstack([rows.v, S, ((rows.x - xm) / xs)[:, None]])
    d = rows.v.shape[1]
    pen = np.concatenate([np.full(d, L2_VECTOR), np.full(S.shape[1], L2_SHAPE), [0.0]])
    b, c = fit_logistic(X, rows.y, weights(rows.group), pen)
    fb, fc = fit_logistic(S, rows.y, weights(rows.group), np.full(S.shape[1], L2_SHAPE))
    return {
        "shape_mean": mean,
        "shape_scale": scale,
        "vector": b[:d],
        "shape": b[d:-1],
        "examples": float(b[-1]),
        "examples_mean": xm,
        "examples_scale": xs,
        "bias": c,
        "fallback_shape": fb,
        "fallback_bias": fc,
    }


def fit_gain(v: np.ndarray, log_chars_std: np.ndarray, gain: np.ndarray) -> dict:
    """Ridge on [vector, standardised log length]; output standardised on its training rows."""
    b, c = ridge(np.hstack([v, log_chars_std[:, None]]), gain, RIDGE)
    raw = v @ b[:-1] + log_chars_std * b[-1] + c
    mu, sd = float(raw.mean()), float(raw.std() or 1.0)
    return {"vector": b[:-1] / sd, "log_chars": float(b[-1] / sd), "bias": (c - mu) / sd}


def params(
    head: dict,
    gain: dict,
    threshold: float,
    rate: float,
    dim: int,
    gain_mc: float = GAIN_MC,
    gain_other: float = GAIN_OTHER,
) -> dict:
    r = lambda a: [round(float(x), 6) for x in a]  # noqa: E731
    return {
        "format": MODEL_FORMAT,
        "encoder": {"model": "all-MiniLM-L6-v2 (mcproute.encoding, step vectors)", "dim": dim},
        "shape": {"names": list(FORM_FEATURES), "mean": r(head["shape_mean"]), "scale": r(head["shape_scale"])},
        "head": {
            "bias": round(head["bias"], 6),
            "vector": r(head["vector"]),
            "shape": r(head["shape"]),
            "examples": round(head["examples"], 6),
            "examples_mean": round(head["examples_mean"], 6),
            "examples_scale": round(head["examples_scale"], 6),
        },
        "outcomes": {
            "vector": r(gain["vector"]),
            "log_chars": round(gain["log_chars"], 6),
            "bias": round(gain["bias"], 6),
            "weight_multiple_choice": gain_mc,
            "weight_other": gain_other,
        },
        "fallback": {"bias": round(head["fallback_bias"], 6), "shape": r(head["fallback_shape"])},
        "signals": SIGNALS,
        "calibration": {
            "threshold": round(threshold, 6),
            "target_escalation_rate": round(rate, 4),
            "picked_on": "mean accuracy of reasoning.jsonl (leave-one-source-out), the agentic sets "
            "(each by a model built without it) and everyday_dev (all fast)"
            + (f", among cuts keeping {RULE[6:]} of agentic reasoning up" if RULE.startswith("recall") else "")
            + (f", a missed reasoning step costing {RULE[4:]}" if RULE.startswith("cost") else ""),
        },
        "provenance": {
            "built_by": "scripts/build_tier_model.py",
            "data": [
                "reasoning.jsonl",
                "outcomes_mmlu.jsonl (sha256(id) % 5 != 0 only)",
                *(f"tests/data/{name}.jsonl" for name in AGENTIC),
                "mcproute/data/tier_examples.yaml",
            ],
            "outcomes_unseen": "sha256(id) % 5 == 0",
        },
    }


class Data:
    def __init__(self, data_dir: Path) -> None:
        enc = load_shared()
        cache = step_cache()
        self.dim = enc.dim
        vec = lambda texts: step_vectors(enc, texts, cache).astype(np.float64)  # noqa: E731
        ex = shipped_examples()
        self.examples = ExampleSet(tuple(ex), vec([e.text for e in ex]))
        R = read_jsonl(data_dir / "reasoning.jsonl", ("prompt", "needs_reasoning", "source"))
        D = read_jsonl(ROOT / "tests" / "data" / "everyday_dev.jsonl", ("query",))
        outs = read_jsonl(data_dir / "outcomes_mmlu.jsonl", ("id", "turns", "outcomes"))
        self.R = self._rows([r["prompt"] for r in R], [r["needs_reasoning"] for r in R], [r["source"] for r in R], vec)
        self._vec = vec
        self.A = {name: self.rows_of(name) for name in AGENTIC}
        self.D = self._rows([d["query"] for d in D], [False] * len(D), ["everyday"] * len(D), vec)
        self.E = Rows(
            [e.text for e in ex],
            np.array([e.tier == "reasoning" for e in ex], float),
            np.array(["examples"] * len(ex), dtype=object),
            self.examples.vectors.astype(np.float64),
            np.array([form_features(e.text) for e in ex]),
            self.examples.closeness_many(self.examples.vectors, exclude_self=True),
        )
        self.O = self._rows([o["turns"][0] for o in outs], [False] * len(outs), ["outcomes"] * len(outs), vec)
        self.O_unseen = np.array([unseen(o["id"]) for o in outs])
        self.weak = np.array([float(o["outcomes"]["weak"][0]) for o in outs])
        self.strong = np.array([float(o["outcomes"]["strong"][0]) for o in outs])

    def rows_of(self, name: str) -> Rows:
        """A labelled agentic set, tests/data/NAME.jsonl (or a path), as rows of group NAME."""
        path = Path(name) if name.endswith(".jsonl") else ROOT / "tests" / "data" / f"{name}.jsonl"
        A = read_jsonl(path, ("prompt", "needs_reasoning"))
        return self._rows([a["prompt"] for a in A], [a["needs_reasoning"] for a in A], [path.stem] * len(A), self._vec)

    def _rows(self, texts, y, group, vec) -> Rows:  # type: ignore[no-untyped-def]
        v = vec(texts)
        return Rows(
            list(texts),
            np.array(y, float),
            np.array(group, dtype=object),
            v,
            np.array([form_features(t) for t in texts]),
            self.examples.closeness_many(v),
        )

    def train_rows(self, without: str | None = None) -> Rows:
        parts = [self.R.take(self.R.group != without), self.E]
        parts += [rows for name, rows in self.A.items() if name != without]
        return Rows(
            sum((p.texts for p in parts), []),
            np.concatenate([p.y for p in parts]),
            np.concatenate([p.group for p in parts]),
            np.vstack([p.v for p in parts]),
            np.vstack([p.s for p in parts]),
            np.concatenate([p.x for p in parts]),
        )


def build_gain(data: Data, head: dict, train: np.ndarray) -> dict:
    lc = (data.O.s[:, LOGC] - head["shape_mean"][LOGC]) / head["shape_scale"][LOGC]
    return fit_gain(data.O.v[train], lc[train], (data.strong - data.weak)[train])


def logits(p: dict, rows: Rows) -> np.ndarray:
    """The text logit of every row (no conversation signals), as TierScorer computes it."""
    h, g = p["head"], p["outcomes"]
    S = (rows.s - np.array(p["shape"]["mean"])) / np.array(p["shape"]["scale"])
    gain = rows.v @ np.array(g["vector"]) + g["log_chars"] * S[:, LOGC] + g["bias"]
    gw = np.where(rows.s[:, OPT] > 0, g["weight_multiple_choice"], g["weight_other"])
    return (
        h["bias"]
        + rows.v @ np.array(h["vector"])
        + S @ np.array(h["shape"])
        + h["examples"] * (rows.x - h["examples_mean"]) / h["examples_scale"]
        + gw * gain
    )


def held_out(
    data: Data, gain: dict, gain_mc: float, gain_other: float
) -> tuple[dict, np.ndarray, dict[str, np.ndarray]]:
    """Per-source AUCs with the source held out, out-of-source scores of reasoning.jsonl, and
    each agentic set scored by a model that never saw it."""
    per: dict[str, float] = {}
    oos = np.zeros(len(data.R.y))
    for src in sorted(set(data.R.group)):
        p = params(fit_head(data.train_rows(without=src)), gain, 0.5, 0.5, data.dim, gain_mc, gain_other)
        z = logits(p, data.R)
        m = data.R.group == src
        oos[m] = z[m]
        missing = [c for c in (0.0, 1.0) if c not in set(data.R.y[m])]  # a one-class source meets the other class
        sel = m | (~m & np.isin(data.R.y, missing))
        per[src] = float(auc(list(z[sel]), list(data.R.y[sel] > 0)))
    oos_a = {}
    for name, rows in data.A.items():
        p = params(fit_head(data.train_rows(without=name)), gain, 0.5, 0.5, data.dim, gain_mc, gain_other)
        oos_a[name] = logits(p, rows)
    return per, oos, oos_a


def threshold_value(
    c: float, oos_r: np.ndarray, data: Data, oos_a: dict[str, np.ndarray], z_d: np.ndarray, rule: str
) -> float:
    """What the threshold rule maximises at logit cut c."""
    acc_r = np.mean((oos_r >= c) == (data.R.y > 0))
    acc_d = np.mean(z_d < c)
    if rule.startswith("recall"):  # the mean below, among cuts keeping that share of reasoning steps
        y_all = np.concatenate([data.A[n].y > 0 for n in oos_a])
        z_all = np.concatenate(list(oos_a.values()))
        if np.mean(z_all[y_all] >= c) < float(rule[6:]):
            return -1.0
    if rule == "mean" or rule.startswith("recall"):
        acc_a = np.mean([np.mean((z >= c) == (data.A[n].y > 0)) for n, z in oos_a.items()])
        return float((acc_r + acc_a + acc_d) / 3)
    # "costK": on the agentic sets a reasoning step sent to the fast tier costs K, the reverse 1
    k = float(rule[4:])
    vals = []
    for n, z in oos_a.items():
        y = data.A[n].y > 0
        miss, over = np.sum(y & (z < c)), np.sum(~y & (z >= c))
        vals.append(1 - (k * miss + over) / (k * y.sum() + (~y).sum()))
    return float((acc_r + np.mean(vals) + acc_d) / 3)


def pick_threshold(
    oos_r: np.ndarray, data: Data, oos_a: dict[str, np.ndarray], z_d: np.ndarray, rule: str | None = None
) -> float:
    """The logit cut maximising the threshold rule (RULE unless `rule`); returned as a score in [0, 1]."""
    rule = rule or RULE
    cands = np.unique(np.concatenate([oos_r, *oos_a.values(), z_d]))
    best, cut = -1.0, 0.0
    for c in cands:
        v = threshold_value(c, oos_r, data, oos_a, z_d, rule)
        if v > best + 1e-12:
            best, cut = v, float(c)
    return float(1.0 / (1.0 + np.exp(-cut)))


def fallback_logits(head: dict, rows: Rows) -> np.ndarray:
    return head["fallback_bias"] + ((rows.s - head["shape_mean"]) / head["shape_scale"]) @ head["fallback_shape"]


def build(data: Data, gain_mc: float = GAIN_MC, gain_other: float = GAIN_OTHER) -> tuple[dict, dict]:
    head = fit_head(data.train_rows())
    gain = build_gain(data, head, ~data.O_unseen)
    per, oos_r, oos_a = held_out(data, gain, gain_mc, gain_other)
    p = params(head, gain, 0.5, 0.5, data.dim, gain_mc, gain_other)
    thr = pick_threshold(oos_r, data, oos_a, logits(p, data.D))
    # The shape-only fallback has its own best cut on the same mix; shift its bias so that the one
    # shipped threshold is that cut too (a gateway whose encoder is still loading decides sanely).
    # Its cut is the plain mean of the three accuracies: shape alone cannot tell a short, bare
    # reasoning request from an everyday one, so keeping 90 % of them up would send every plain
    # request after a reasoning step above the step-down line (tests/test_sticky.py).
    fb_thr = pick_threshold(
        fallback_logits(head, data.R),
        data,
        {n: fallback_logits(head, rows) for n, rows in data.A.items()},
        fallback_logits(head, data.D),
        rule="mean",
    )
    head["fallback_bias"] += float(np.log(thr / (1 - thr)) - np.log(fb_thr / (1 - fb_thr)))
    scores = 1.0 / (1.0 + np.exp(-logits(p, data.O)))
    p = params(head, gain, thr, float(np.mean(scores >= thr)), data.dim, gain_mc, gain_other)
    return p, {"per_source": per, "oos_r": oos_r, "oos_a": oos_a}


def report(data: Data, p: dict, info: dict) -> None:
    thr = p["calibration"]["threshold"]
    cut = float(np.log(thr / (1 - thr)))
    zR, zD, zO = (logits(p, rows) for rows in (data.R, data.D, data.O))
    sel = data.O_unseen
    m = sweep_metrics(list(zO[sel]), list(data.weak[sel]), list(data.strong[sel]))
    base = sweep_metrics(list(data.O.s[sel, LOGC]), list(data.weak[sel]), list(data.strong[sel]))
    print(f"threshold {thr:.4f} (escalates {p['calibration']['target_escalation_rate']:.3f} of outcomes prompts)")
    print(
        f"reasoning.jsonl held-in auc {auc(list(zR), list(data.R.y > 0)):.3f}; out-of-source pooled "
        f"{auc(list(info['oos_r']), list(data.R.y > 0)):.3f}; length {auc(list(data.R.s[:, LOGC]), list(data.R.y > 0)):.3f}"
    )
    print("leave-one-source-out auc: " + ", ".join(f"{k} {v:.3f}" for k, v in info["per_source"].items()))
    for n, rows in data.A.items():
        zA, oa, y = logits(p, rows), info["oos_a"][n], rows.y > 0
        print(
            f"{n} held-in auc {auc(list(zA), list(y)):.3f} acc {np.mean((zA >= cut) == y):.3f}; "
            f"built without it auc {auc(list(oa), list(y)):.3f} acc {np.mean((oa >= cut) == y):.3f} "
            f"(reasoning kept {np.mean(oa[y] >= cut):.3f}, fast kept {np.mean(oa[~y] < cut):.3f}); "
            f"length {auc(list(rows.s[:, LOGC]), list(y)):.3f}"
        )
    print(f"everyday_dev sent to fast: {np.mean(zD < cut):.3f}")
    print(
        f"outcomes unseen ({int(sel.sum())}): strong_share_at_95 {m['strong_share_at_95']:.3f} apgr {m['apgr']:.3f}; "
        f"length {base['strong_share_at_95']:.3f} / {base['apgr']:.3f}"
    )


def score_set(data: Data, p: dict, name: str) -> None:
    """A labelled agentic set the model never trained on, at the shipped threshold."""
    rows = data.rows_of(name)
    thr = p["calibration"]["threshold"]
    z, y = logits(p, rows), rows.y > 0
    cut = float(np.log(thr / (1 - thr)))
    print(
        f"{name} (not trained on): auc {auc(list(z), list(y)):.3f} acc {np.mean((z >= cut) == y):.3f} "
        f"(reasoning kept {np.mean(z[y] >= cut):.3f}, fast kept {np.mean(z[~y] < cut):.3f})"
    )


def cross_validate(data: Data) -> None:
    """The gain-weight trade-off on training data only: outcomes by 5 folds of the seen questions."""
    head = fit_head(data.train_rows())
    seen = np.flatnonzero(~data.O_unseen)
    fold = np.random.RandomState(0).randint(0, 5, len(seen))
    print(
        "| gain weight (multiple choice / other) | LOSO auc min | agentic (built without it) auc | outcomes 5-fold on seen questions |"
    )
    print("|---|---|---|---|")
    for mc, other in ((0.0, 0.0), (3.0, 1.0), (4.0, 1.0), (4.5, 1.0), (5.0, 1.0), (4.5, 2.0), (4.5, 0.5), (4.5, 0.0)):
        zO = np.zeros(len(seen))
        for k in range(5):
            tr = np.zeros(len(data.O.y), bool)
            tr[seen[fold != k]] = True
            p = params(head, build_gain(data, head, tr), 0.5, 0.5, data.dim, mc, other)
            zO[fold == k] = logits(p, data.O.take(np.isin(np.arange(len(data.O.y)), seen[fold == k])))
        m = sweep_metrics(list(zO), list(data.weak[seen]), list(data.strong[seen]))
        gain = build_gain(data, head, ~data.O_unseen)
        per, _, oos_a = held_out(data, gain, mc, other)
        print(
            f"| {mc} / {other} | {min(per.values()):.3f} ({min(per, key=per.get)}) | "
            f"{' / '.join(f'{auc(list(z), list(data.A[n].y > 0)):.3f}' for n, z in oos_a.items())} | "
            f"{m['strong_share_at_95']:.3f} / {m['apgr']:.3f} |",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    global AGENTIC, RULE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "evaldata"))
    ap.add_argument("--out", default=str(ROOT / "src" / "mcproute" / "data" / "tier_model.json"))
    ap.add_argument("--cv", action="store_true", help="also print the gain-weight trade-off table")
    ap.add_argument("--agentic", default=",".join(AGENTIC), help="agentic sets (tests/data/NAME.jsonl) to train on")
    ap.add_argument("--rule", default=RULE)
    ap.add_argument("--also", default="", help="agentic sets to score, never trained on (NAME,NAME)")
    args = ap.parse_args(argv)
    AGENTIC, RULE = tuple(args.agentic.split(",")), args.rule
    data = Data(Path(args.data))
    p, info = build(data)
    Path(args.out).write_text(json.dumps(p, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"wrote {args.out} ({Path(args.out).stat().st_size // 1024} KiB)")
    TierScorer.load(args.out)  # the file must load
    report(data, p, info)
    for name in filter(None, args.also.split(",")):
        score_set(data, p, name)
    if args.cv:
        cross_validate(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
