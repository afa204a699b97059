"""`routing.target_escalation_rate` takes effect: the threshold is calibrated on the shipped
calibration sample (the shipped tier model's scores of the prompts its threshold was set on),
named in the policy version, and used by every decision; when no sample fits the tier model the
setting is ignored out loud."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from mcproute.config import RoutingConfig, parse_config
from mcproute.router.tiers import TierScorer
from mcproute.runtime import Engine
from mcproute.runtime.calibration import SAMPLE_FORMAT, base_calibration, ignored_rate_warning, load_score_sample
from runtime_support import EASY, HARD, config_dict

CANDIDATES = [
    EASY,
    HARD,
    "Which of these is a prime number: 21, 23, 25?",
    "convert 12:00 UTC to Paris time",
    "Explain why the sky is blue",
    "Solve for x: 3x + 7 = 22, showing each step",
]


def test_the_shipped_sample_belongs_to_the_shipped_tier_model() -> None:
    # Fails when tier_model.json is rebuilt without re-running scripts/build_tier_score_sample.py.
    scorer = TierScorer.load()
    sample, why = load_score_sample()
    assert sample is not None, why
    assert sample.model_version == scorer.model_version
    assert list(sample.scores) == sorted(sample.scores) and sample.n > len(sample.scores)
    # The shipped threshold is this sample's threshold for the shipped rate (up to the 0.1 % quantile step).
    shipped = scorer.calibration
    again = scorer.calibrate(sample.scores, shipped.target_escalation_rate)
    share = sum(s >= shipped.threshold for s in sample.scores) / len(sample.scores)
    assert abs(share - shipped.target_escalation_rate) <= 0.002 and abs(again.threshold - shipped.threshold) < 0.01


@pytest.mark.parametrize("rate", [0.1, 0.2, 0.7, 0.9])
def test_a_target_rate_escalates_that_share_of_the_sample(rate: float) -> None:
    scorer = TierScorer.load()
    sample, _ = load_score_sample()
    assert sample is not None
    cal, note = base_calibration(scorer, RoutingConfig(target_escalation_rate=rate))
    share = sum(s >= cal.threshold for s in sample.scores) / len(sample.scores)
    assert abs(share - rate) <= 0.002
    assert cal.target_escalation_rate == rate and cal.version.endswith(f"+rate={rate:g}")
    assert cal.version != scorer.calibration.version and f"threshold {cal.threshold:.3f}" in note and "; " not in note
    assert ignored_rate_warning(scorer, RoutingConfig(target_escalation_rate=rate)) is None
    # Higher rate, lower threshold.
    assert (cal.threshold < scorer.calibration.threshold) == (rate > scorer.calibration.target_escalation_rate)


def test_without_a_sample_for_this_tier_model_the_rate_is_ignored_out_loud() -> None:
    scorer = TierScorer.load()
    routing = RoutingConfig(target_escalation_rate=0.2)
    other = json.dumps(
        {"format": SAMPLE_FORMAT, "model_version": "0000000000", "source": "x", "n": 3, "quantiles": [0.1, 0.5, 0.9]}
    )
    for raw, says in (
        (other.encode(), "scored by tier model 0000000000"),
        (b"{not json", "malformed"),
        (json.dumps({"format": "nope"}).encode(), "format is 'nope'"),
    ):
        sample = load_score_sample(raw)
        cal, note = base_calibration(scorer, routing, sample)
        assert cal == scorer.calibration and "target_escalation_rate=0.2 is ignored" in note and says in note
        assert ignored_rate_warning(scorer, routing, sample) == note
    # routing.threshold wins over a rate (and is not a warning).
    cal, note = base_calibration(scorer, RoutingConfig(target_escalation_rate=0.2, threshold=0.4))
    assert (
        cal.threshold == 0.4
        and ignored_rate_warning(scorer, RoutingConfig(target_escalation_rate=0.2, threshold=0.4)) is None
    )


@pytest.mark.anyio
async def test_decisions_use_the_threshold_for_the_configured_rate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shipped = TierScorer.load().calibration
    rate = 0.2
    loaded = parse_config(
        json.dumps(config_dict(tmp_path, servers={}, backend="memory", target_escalation_rate=rate)), environ={}
    )
    async with Engine(loaded) as e:
        assert e.calibration.threshold > shipped.threshold and e.calibration.version.endswith("+rate=0.2")
        scorer = TierScorer.load()
        between = [t for t in CANDIDATES if shipped.threshold <= scorer.score(t).score < e.calibration.threshold]
        assert between, "no candidate text scores between the shipped and the calibrated threshold"
        d = await e.route(between[0], identity=e.identity(arguments={"conversation_id": "rate"}))
        # The shipped threshold would escalate this step; the configured rate keeps it fast.
        assert d.tier == "fast" and d.threshold == e.calibration.threshold and d.policy_version.endswith("+rate=0.2")
        assert f"threshold {d.threshold:.2f}" in d.reason and f"threshold {shipped.threshold:.2f}" not in d.reason
    # A tier model the shipped sample does not belong to: the engine warns at start and keeps its threshold.
    params = dict(TierScorer.load().params)
    params["signals"] = {**params["signals"], "step_count": 0.2}
    other = TierScorer.from_params(params)
    with caplog.at_level(logging.WARNING, logger="mcproute.runtime"):
        e2 = Engine(loaded, scorer=other)
    assert e2.calibration == other.calibration
    assert any("target_escalation_rate=0.2 is ignored" in r.getMessage() for r in caplog.records)
