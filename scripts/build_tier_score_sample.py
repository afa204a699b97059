#!/usr/bin/env python3
"""Build src/mcproute/data/tier_score_sample.json: the shipped tier model's calibration sample.

    .venv/bin/python scripts/build_tier_score_sample.py [--data DIR] [--out FILE]

The shipped threshold (tier_model.json "calibration") escalates `target_escalation_rate` of the
first-turn prompts of outcomes_mmlu.jsonl (scripts/build_tier_model.py records that share). This
file keeps that sample's score distribution — the scores the shipped model (with the shipped
examples, every prompt encoded as a step) gives those 13,772 prompts, as 1,001 quantiles, not the prompts themselves — so the gateway can honour `routing.target_escalation_rate`
with `TierScorer.calibrate(sample, rate)` without the evaluation data. It names the model version
it was scored with; the runtime ignores it (and says so) when the tier model is another one, so
re-run this script whenever tier_model.json is rebuilt.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mcproute.eval.data import read_jsonl  # noqa: E402
from mcproute.eval.tier_scoring import prepared  # noqa: E402
from mcproute.runtime.calibration import SAMPLE_FORMAT  # noqa: E402

POINTS = 1001  # quantiles at every 0.1 % of the sample


def quantiles(scores: list[float], points: int = POINTS) -> list[float]:
    """Nearest-rank quantiles at i / (points - 1), ascending (the first is the minimum, the last the maximum)."""
    ordered = sorted(scores)
    last = len(ordered) - 1
    return [round(ordered[round(i * last / (points - 1))], 6) for i in range(points)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "evaldata"))
    ap.add_argument("--out", default=str(ROOT / "src" / "mcproute" / "data" / "tier_score_sample.json"))
    args = ap.parse_args()
    prompts = [o["turns"][0] for o in read_jsonl(Path(args.data) / "outcomes_mmlu.jsonl")]
    scorer, vectors, _ = prepared(prompts)
    if not vectors:
        sys.exit("the encoder is needed to score the sample as the gateway does")
    scores = [scorer.score(p, vector=vectors[p]).score for p in prompts]
    shipped = scorer.calibration
    rate = sum(s >= shipped.threshold for s in scores) / len(scores)
    if abs(rate - shipped.target_escalation_rate) > 0.002:
        sys.exit(
            f"the shipped threshold {shipped.threshold} escalates {rate:.4f} of this sample, the model file says "
            f"{shipped.target_escalation_rate}: is tier_model.json built from another outcomes file?"
        )
    out = {
        "format": SAMPLE_FORMAT,
        "model_version": scorer.model_version.split("+", 1)[0],
        "source": "outcomes_mmlu.jsonl (first turns)",
        "about": "the shipped tier model's text-only scores (step vectors, shipped examples) (no conversation signals) of the first-turn prompts of "
        "outcomes_mmlu.jsonl (RouteLLM/MMLU), the sample its shipped threshold was calibrated on, as quantiles "
        "at every 0.1 %; built by scripts/build_tier_score_sample.py",
        "n": len(scores),
        "quantiles": quantiles(scores),
    }
    Path(args.out).write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {args.out}: {len(scores)} scores of model {scorer.model_version} as {POINTS} quantiles")


if __name__ == "__main__":
    main()
