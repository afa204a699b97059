"""The threshold in force: configured or shipped, then nudged by feedback within a fixed bound.

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

from dataclasses import dataclass

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


def base_calibration(scorer: TierScorer, routing: RoutingConfig) -> tuple[Calibration, str]:
    """`routing.threshold` if set, else the shipped calibration (see the note for a target rate)."""
    shipped = scorer.calibration
    if routing.threshold is not None:
        rate = routing.target_escalation_rate or shipped.target_escalation_rate
        return Calibration(routing.threshold, rate, f"{shipped.version}+threshold={routing.threshold:g}"), "routing.threshold from servers.yaml"
    if routing.target_escalation_rate is not None and abs(routing.target_escalation_rate - shipped.target_escalation_rate) > 1e-9:
        # Re-calibrating for another rate needs a sample of step scores, which a fresh gateway
        # does not have; say so rather than invent a threshold.
        return shipped, (
            f"routing.target_escalation_rate={routing.target_escalation_rate:g} needs a score sample to calibrate; "
            f"using the shipped threshold {shipped.threshold:.3f} (rate {shipped.target_escalation_rate:g}); set routing.threshold to override"
        )
    return shipped, "the shipped calibration"


def feedback_shift(stats: FeedbackStats, *, min_rated: int = MIN_RATED, gain: float = GAIN, max_shift: float = MAX_SHIFT) -> tuple[float, str]:
    fast = stats.by_tier.get("fast")
    reasoning = stats.by_tier.get("reasoning")
    if fast is None or fast.rated < min_rated or fast.mean_reward is None:
        have = 0 if fast is None else fast.rated
        return 0.0, f"no feedback shift: {have} of {min_rated} rated fast steps needed"
    ref = reasoning.mean_reward if reasoning is not None and reasoning.rated >= min_rated and reasoning.mean_reward is not None else 0.0
    shift = max(-max_shift, min(max_shift, gain * (fast.mean_reward - ref)))
    shift = round(shift, 4)
    return shift, (
        f"feedback shift {shift:+.3f}: fast steps rated {fast.mean_reward:+.2f} over {fast.rated}, "
        f"reasoning {ref:+.2f}" + ("" if reasoning is not None and reasoning.rated >= min_rated else " (too few rated: 0 assumed)")
    )


def calibrate(base: Calibration, stats: FeedbackStats, note: str = "", **kwargs: float) -> CalibrationState:
    shift, why = feedback_shift(stats, **kwargs)  # type: ignore[arg-type]
    if shift == 0.0:
        return CalibrationState(base, base, 0.0, f"{note}; {why}" if note else why)
    threshold = min(_CEILING, max(_FLOOR, base.threshold + shift))
    current = Calibration(threshold, base.target_escalation_rate, f"{base.version}+fb{shift:+.3f}")
    return CalibrationState(base, current, shift, f"{note}; {why}" if note else why)
