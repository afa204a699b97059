"""The threshold in force: configured, calibrated for a target rate, or shipped; then nudged by
feedback within a fixed bound.

Base: `routing.threshold` if set. Else, when `routing.target_escalation_rate` differs from the
shipped model's rate, the threshold that escalates that share of the shipped calibration sample
(`mcproute/data/tier_score_sample.json`: the shipped tier model's scores of the 13,772
first-turn prompts of outcomes_mmlu.jsonl — the very sample the shipped threshold was set on —
kept as 1,001 quantiles; rebuilt by scripts/build_tier_score_sample.py). The sample is used only
when it was scored by the tier model in use (its `model_version`); otherwise the setting is
ignored, loudly: the note says so, the engine logs a warning, and the shipped threshold stays.
Else the shipped calibration.

Rule (documented in docs/runtime.md): rewards are in [-1, 1]. Once at least `MIN_RATED` fast-tier
steps carry a reward, the gap between how the fast tier was rated and how the reasoning tier was
rated (0 when fewer than `MIN_RATED` reasoning steps are rated) moves the threshold:

    shift = clamp(GAIN * (mean_fast - mean_reasoning), -MAX_SHIFT, +MAX_SHIFT)

A fast tier rated worse than the reasoning tier lowers the threshold (more steps escalate); a fast
tier rated as well or better raises it (more steps stay cheap). The shift is bounded, so feedback
can tune the calibration but never take it over, and it is named in the policy version
(`...+fb-0.040`), so every decision says which calibration made it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources

from mcproute.config import RoutingConfig
from mcproute.router.tiers import Calibration, TierScorer
from mcproute.state import FeedbackStats

MIN_RATED = 5
GAIN = 0.1
MAX_SHIFT = 0.1
_FLOOR, _CEILING = 0.01, 0.99


@dataclass(frozen=True, slots=True)
class CalibrationState:
    base: Calibration  # configured or shipped
    current: Calibration  # base + feedback shift
    shift: float
    note: str  # why the base and the shift are what they are


SAMPLE_FORMAT = "mcproute.tier_score_sample/1"
SAMPLE_FILE = "tier_score_sample.json"


@dataclass(frozen=True, slots=True)
class ScoreSample:
    """Reasoning scores of a prompt sample, as scored by one tier model version."""

    model_version: str
    source: str
    n: int  # prompts scored
    scores: tuple[float, ...]  # the sample's quantiles (what calibrate() ranks)


def load_score_sample(raw: bytes | None = None) -> tuple[ScoreSample | None, str]:
    """The shipped calibration sample (or `raw`), or None and why it cannot be used."""
    where = f"mcproute/data/{SAMPLE_FILE}"
    try:
        data = json.loads(
            raw if raw is not None else resources.files("mcproute").joinpath("data", SAMPLE_FILE).read_bytes()
        )
        if data.get("format") != SAMPLE_FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, expected {SAMPLE_FORMAT!r}")
        scores = tuple(float(v) for v in data["quantiles"])
        if not scores or not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in scores):
            raise ValueError("quantiles must be a non-empty list of scores in [0, 1]")
        return ScoreSample(str(data["model_version"]), str(data.get("source", "")), int(data["n"]), scores), ""
    except OSError as exc:
        return None, f"{where} cannot be read ({exc.strerror or exc})"
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, f"{where} is malformed ({exc})"


def base_calibration(
    scorer: TierScorer, routing: RoutingConfig, sample: tuple[ScoreSample | None, str] | None = None
) -> tuple[Calibration, str]:
    """`routing.threshold` if set; else the threshold for `routing.target_escalation_rate` on
    the shipped calibration sample (when it matches the scorer); else the shipped calibration.
    The note says which, and never contains "; " (feedback notes are appended after one)."""
    shipped = scorer.calibration
    if routing.threshold is not None:
        fixed_rate = routing.target_escalation_rate or shipped.target_escalation_rate
        return Calibration(
            routing.threshold, fixed_rate, f"{shipped.version}+threshold={routing.threshold:g}"
        ), "routing.threshold from servers.yaml"
    rate = routing.target_escalation_rate
    if rate is None or abs(rate - shipped.target_escalation_rate) <= 1e-9:
        return shipped, "the shipped calibration"
    calibrated, note = _for_rate(scorer, rate, sample if sample is not None else load_score_sample())
    return (calibrated or shipped), note


def ignored_rate_warning(
    scorer: TierScorer, routing: RoutingConfig, sample: tuple[ScoreSample | None, str] | None = None
) -> str | None:
    """Why `routing.target_escalation_rate` cannot take effect, or None when it does (or is unset,
    or `routing.threshold` overrides it, which `base_calibration`'s note says)."""
    rate = routing.target_escalation_rate
    if routing.threshold is not None or rate is None or abs(rate - scorer.calibration.target_escalation_rate) <= 1e-9:
        return None
    calibrated, note = _for_rate(scorer, rate, sample if sample is not None else load_score_sample())
    return note if calibrated is None else None


def _for_rate(
    scorer: TierScorer, rate: float, sample: tuple[ScoreSample | None, str]
) -> tuple[Calibration | None, str]:
    shipped = scorer.calibration
    found, why = sample
    # Attached examples extend the version ("<file hash>+ex<fingerprint>"); the sample was scored by
    # the model file with the shipped examples, which is the part that must match.
    if found is not None and found.model_version != scorer.model_version.split("+", 1)[0]:
        why = (
            f"the shipped calibration sample was scored by tier model {found.model_version}, "
            f"this one is {scorer.model_version}: re-run scripts/build_tier_score_sample.py"
        )
        found = None
    if found is None:
        return None, (
            f"routing.target_escalation_rate={rate:g} is ignored: no calibration sample for this tier model "
            f"({why}). Using the shipped threshold {shipped.threshold:.3f} (rate {shipped.target_escalation_rate:g}), "
            f"set routing.threshold instead"
        )
    cal = scorer.calibrate(found.scores, rate)
    return Calibration(cal.threshold, rate, f"{cal.version}+rate={rate:g}"), (
        f"routing.target_escalation_rate={rate:g}: threshold {cal.threshold:.3f} escalates that share of the shipped "
        f"calibration sample ({found.n} prompts of {found.source}), where the shipped {shipped.threshold:.3f} escalates "
        f"{shipped.target_escalation_rate:g}"
    )


def feedback_shift(
    stats: FeedbackStats, *, min_rated: int = MIN_RATED, gain: float = GAIN, max_shift: float = MAX_SHIFT
) -> tuple[float, str]:
    fast = stats.by_tier.get("fast")
    reasoning = stats.by_tier.get("reasoning")
    if fast is None or fast.rated < min_rated or fast.mean_reward is None:
        have = 0 if fast is None else fast.rated
        return 0.0, f"no feedback shift: {have} of {min_rated} rated fast step{'' if min_rated == 1 else 's'} needed"
    ref = (
        reasoning.mean_reward
        if reasoning is not None and reasoning.rated >= min_rated and reasoning.mean_reward is not None
        else 0.0
    )
    shift = max(-max_shift, min(max_shift, gain * (fast.mean_reward - ref)))
    shift = round(shift, 4)
    return shift, (
        f"feedback shift {shift:+.3f}: fast steps rated {fast.mean_reward:+.2f} over {fast.rated}, "
        f"reasoning {ref:+.2f}"
        + ("" if reasoning is not None and reasoning.rated >= min_rated else " (too few rated: 0 assumed)")
    )


def calibrate(base: Calibration, stats: FeedbackStats, note: str = "", **kwargs: float) -> CalibrationState:
    shift, why = feedback_shift(stats, **kwargs)  # type: ignore[arg-type]
    if shift == 0.0:
        return CalibrationState(base, base, 0.0, f"{note}; {why}" if note else why)
    threshold = min(_CEILING, max(_FLOOR, base.threshold + shift))
    current = Calibration(threshold, base.target_escalation_rate, f"{base.version}+fb{shift:+.3f}")
    return CalibrationState(base, current, shift, f"{note}; {why}" if note else why)
