"""The tier scorer as the engine runs it, for the offline evals: shipped examples attached and
every prompt encoded once per run as a step (through the encoder's on-disk step cache, so a second
run reads the vectors back instead of re-encoding 13k prompts).

`--no-encoder` scores without vectors: the scorer's shape-only fallback, what a gateway without
the encoder uses.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from mcproute.router.tiers import TierScore, TierScorer, TierSignals


def prepared(texts: Sequence[str], use_encoder: bool = True) -> tuple[TierScorer, dict[str, Any], str]:
    """(scorer, {text: vector}, a note on how the vectors were made)."""
    scorer = TierScorer.load()
    if not use_encoder:
        return scorer, {}, "no encoder: shape-only fallback"
    from mcproute.encoding import EncoderUnavailable, load_shared
    from mcproute.encoding.steps import step_cache, step_vectors
    from mcproute.runtime.examples import encode_examples, shipped_examples

    try:
        enc = load_shared()
    except EncoderUnavailable as exc:
        print(f"warning: the encoder is unavailable ({exc}); scoring with the shape-only fallback", file=sys.stderr)
        return scorer, {}, f"encoder unavailable: {exc}"
    cache = step_cache()
    try:
        started = time.perf_counter()
        scorer = scorer.with_examples(encode_examples(enc, shipped_examples(), cache))
        unique = list(dict.fromkeys(texts))
        vecs = step_vectors(enc, unique, cache)
        took = time.perf_counter() - started
    finally:
        cache.close()
    return (
        scorer,
        dict(zip(unique, vecs, strict=True)),
        f"encoder {enc.model_id}: {len(unique)} texts in {took:.1f} s (cached on disk)",
    )


def score_conversation(
    scorer: TierScorer, turns: Sequence[str], vectors: dict[str, Any], lat: list[float] | None = None
) -> list[TierScore]:
    """Every user turn of one conversation, in order, as the engine scores its steps: a later turn
    sees the tier the earlier one got (`previous_tier`) and how many came before (`step_count`).
    `lat`, when given, collects each `score()` call's wall time in ms."""
    out: list[TierScore] = []
    prev = None
    for k, text in enumerate(turns):
        t0 = time.perf_counter_ns()
        s = scorer.score(text, TierSignals(previous_tier=prev, step_count=k), vector=vectors.get(text))
        if lat is not None:
            lat.append((time.perf_counter_ns() - t0) / 1e6)
        prev = scorer.calibration.tier_for(s.score)
        out.append(s)
    return out
