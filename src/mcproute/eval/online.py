"""`mcproute eval outcomes|tools --online [--reveal RATE] [--seed S]`: the learners, streamed.

Items are streamed in one fixed shuffled order (`random.Random(seed)`). Each is decided twice on
the same footing: by the static shipped policy and by the current online policy (static +
learner, router/online_tier.py / router/online_tools.py); then, with probability RATE (a second
generator seeded from S, so the same items are revealed whatever is learned), its outcome is
revealed and learned from: the strong-minus-weak gain of each turn (outcomes), or the first
expected tool, or that none was used (tools: click-through). Both policies' figures are computed
over the same stream, so the difference is what learning did. A decision never sees its own outcome.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from mcproute.eval.data import percentile

DEFAULT_SEED = 0


def stream_order(n: int, seed: int) -> list[int]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


def reveals(seed: int, rate: float) -> Callable[[], bool]:
    """A coin with P(heads) = rate, seeded apart from the order (S + 1)."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"--reveal must be within [0, 1], got {rate}")
    rng = random.Random(seed + 1)
    return lambda: rng.random() < rate


def outcomes_online(items: list[dict], rate: float, seed: int, use_encoder: bool) -> tuple[dict[str, Any], list]:
    """Figures of the static and the online tier policy over one stream, overall and per source."""
    from mcproute.eval.outcomes import sweep_metrics
    from mcproute.eval.tier_scoring import prepared
    from mcproute.router.online_tier import TierLearner
    from mcproute.router.tiers import TierSignals

    scorer, vectors, how = prepared([t for it in items for t in it["turns"]], use_encoder)
    if not vectors and items:
        raise ValueError("--online needs the sentence encoder: the learner remembers step vectors")
    learner = TierLearner.start(scorer.dim)
    coin = reveals(seed, rate)
    rows: list[tuple[str, float, float, float, float]] = []  # source, static, online, weak, strong
    lat: list[float] = []
    revealed = 0
    for i in stream_order(len(items), seed):
        it = items[i]
        prev_static = prev_online = None
        for k, text in enumerate(it["turns"]):
            v = vectors.get(text)
            static = scorer.score(text, TierSignals(previous_tier=prev_static, step_count=k), vector=v).score
            base = scorer.score(text, TierSignals(previous_tier=prev_online, step_count=k), vector=v).score
            t0 = time.perf_counter_ns()
            online = learner.adjust(base, v)
            lat.append((time.perf_counter_ns() - t0) / 1e6)
            prev_static, prev_online = scorer.calibration.tier_for(static), scorer.calibration.tier_for(online)
            w, s = float(it["outcomes"]["weak"][k]), float(it["outcomes"]["strong"][k])
            rows.append((str(it.get("source", "")), static, online, w, s))
        if coin():
            revealed += 1
            for k, text in enumerate(it["turns"]):
                gain = float(it["outcomes"]["strong"][k]) - float(it["outcomes"]["weak"][k])
                learner = learner.learn(vectors[text], max(-1.0, min(1.0, gain)))

    def figures(sel: Sequence[tuple[str, float, float, float, float]]) -> dict[str, Any]:
        w, s = [r[3] for r in sel], [r[4] for r in sel]
        st, on = sweep_metrics([r[1] for r in sel], w, s), sweep_metrics([r[2] for r in sel], w, s)
        return {
            "n_turns": len(sel),
            "strong_share_at_95": on["strong_share_at_95"],
            "static_strong_share_at_95": st["strong_share_at_95"],
            "apgr": on["apgr"],
            "static_apgr": st["apgr"],
        }

    res = figures(rows)
    sources = sorted({r[0] for r in rows})
    res["by_source"] = {src: figures([r for r in rows if r[0] == src]) for src in sources}
    res.update({"reveal": rate, "seed": seed, "revealed_items": revealed, "learner_active": learner.active})
    res.update({"p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99)})
    p = learner.params
    context: list = [
        ("vectors", how),
        ("learner", f"k={p.k} floor={p.floor} prior_weight={p.prior_weight} weight={p.weight} cap={p.cap}"),
        ("memory", f"{len(learner.memory)} of {p.capacity} steps; self-check {learner.evidence:.3f}"),
        ("p50_ms/p99_ms", "the learner's adjustment alone (static scoring is timed by eval outcomes)"),
    ]
    return res, context


def tools_online(
    stream: list[tuple[list[str], Any, Any, Any]], rate: float, seed: int
) -> tuple[dict[str, Any], list, list[str | None]]:
    """`stream`: per item (expected, static ranking, query vector, available tool names), in file
    order. Returns figures, context rows and the online leader per item (file order)."""
    from mcproute.router.online_tools import ARMS, FEATURES, ToolLearner

    dim = next((len(v) for _, _, v, _ in stream if v is not None), 0)
    if stream and not dim:
        raise ValueError("--online needs the sentence encoder: the learner remembers query vectors")
    learner = ToolLearner.start(dim)
    coin = reveals(seed, rate)
    st: list[float] = []
    on: list[float] = []
    st_none: list[float] = []  # items that need no tool: did the static / online ranking say so?
    on_none: list[float] = []
    leaders: list[str | None] = [None] * len(stream)
    lat: list[float] = []
    revealed = 0
    for i in stream_order(len(stream), seed):
        expected, ranking, vec, available = stream[i]
        t0 = time.perf_counter_ns()
        online = learner.rerank(ranking, vec, available=available)
        lat.append((time.perf_counter_ns() - t0) / 1e6)
        lead = online.candidates[0].name if online.candidates and not online.no_tool else None
        leaders[i] = lead
        if expected:
            static_lead = ranking.candidates[0].name if ranking.candidates and not ranking.no_tool else None
            st.append(1.0 if static_lead in expected else 0.0)
            on.append(1.0 if lead in expected else 0.0)
            if coin():
                revealed += 1
                learner = learner.learn(vec, expected[0], ranking, available)
        else:
            st_none.append(1.0 if ranking.no_tool or not ranking.candidates else 0.0)
            on_none.append(1.0 if lead is None else 0.0)
            if coin():  # the tools were offered and none was called: a click-through outcome too
                revealed += 1
                learner = learner.learn_no_tool(vec, ranking, available)
    res = {
        "n": len(stream),
        "top1": round(sum(on) / len(on), 4) if on else None,
        "static_top1": round(sum(st) / len(st), 4) if st else None,
        "no_tool_accuracy": round(sum(on_none) / len(on_none), 4) if on_none else None,
        "static_no_tool_accuracy": round(sum(st_none) / len(st_none), 4) if st_none else None,
        "reveal": rate,
        "seed": seed,
        "revealed_items": revealed,
        "learner_active": learner.active,
        "learner_arm": learner.arm,
        "no_tool_trust": round(learner.trust, 4),
        "p50_ms": round(percentile(lat, 50), 4),
        "p99_ms": round(percentile(lat, 99), 4),
    }
    p = learner.params
    context: list = [
        ("learner", f"k={p.k} floor={p.floor} prior_weight={p.prior_weight} lr={p.lr} gate={p.gate}"),
        ("weights", " ".join(f"{f}={w:+.2f}" for f, w in zip(FEATURES, learner.averaged, strict=True)) + " (averaged)"),
        (
            "memory",
            f"{len(learner.memory)} of {p.capacity} steps, {len(learner.stats.prototypes)} tool prototypes",
        ),
        (
            "self-check",
            ", ".join(f"{a} {w} wins {lost} losses" for a, (w, lost) in zip(ARMS, learner.checks, strict=True))
            + f"; in force at the end: {learner.arm or 'none (static)'}",
        ),
        (
            "no tool fits",
            f"static verdict followed by a tool call {learner.misses}, by none {learner.holds}; "
            f"vote that overrides it {learner.trust:.3f} (from {p.trust}, floor {p.trust_floor})",
        ),
        ("p50_ms/p99_ms", "the learner's re-ranking alone (the static ranking is timed by eval tools)"),
    ]
    return res, context, leaders
