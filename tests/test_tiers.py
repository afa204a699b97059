"""The tier scorer: pure, explainable, overridable, calibrated and versioned.

These tests run the scorer without a step vector (its shape-only fallback); what the encoder
vector and the labelled examples add is specified in test_tier_examples.py."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from mcproute.errors import ConfigError
from mcproute.router.tiers import Calibration, TierScore, TierScorer, TierSignals, calibrate

MATH = (
    "A train leaves at 3:15 pm travelling 84 km/h; a second leaves at 4:05 pm at 102 km/h. "
    "Calculate step by step when the second catches up, given that both start at the same station."
)
CODE = (
    "Complete the following Python function.\n\ndef running_max(xs: list[int]) -> list[int]:\n"
    '    """Return the running maximum.\n    >>> running_max([1, 3, 2])\n    [1, 3, 3]\n    """\n'
)
PLAIN = "Could you tell me the current weather in Lisbon, please?"


@pytest.fixture(scope="module")
def scorer() -> TierScorer:
    return TierScorer.load()


def test_scores_are_probabilities_and_deterministic(scorer: TierScorer) -> None:
    for text in (MATH, CODE, PLAIN, "", "   ", "今日の東京の天気を教えてください", "x" * 100_000):
        a, b = scorer.score(text), scorer.score(text)
        assert isinstance(a, TierScore)
        assert 0.0 <= a.score <= 1.0 and 0.0 <= a.text_score <= 1.0
        assert a == b


def test_reasoning_shaped_steps_score_above_plain_requests(scorer: TierScorer) -> None:
    plain = scorer.score(PLAIN).score
    assert scorer.score(MATH).score > plain
    assert scorer.score(CODE).score > plain


def test_results_are_frozen(scorer: TierScorer) -> None:
    s = scorer.score(PLAIN)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.score = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.signals["x"] = 1.0  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        TierSignals().tool_errors = 3  # type: ignore[misc]
    json.dumps(s.to_dict())


def test_override_wins_outright(scorer: TierScorer) -> None:
    up = scorer.score(PLAIN, TierSignals(tier_override="reasoning", intelligence_priority=0.0))
    down = scorer.score(MATH, TierSignals(tier_override="fast", tool_errors=5, previous_tier="reasoning"))
    assert up.score == 1.0 and down.score == 0.0
    assert "override" in up.reason and "fast" in down.reason
    assert up.signals["tier_override"] > 0 > down.signals["tier_override"]
    with pytest.raises(ValueError, match="tier_override"):
        scorer.score(PLAIN, TierSignals(tier_override="huge"))  # type: ignore[arg-type]


def test_intelligence_priority_shifts_the_score(scorer: TierScorer) -> None:
    low = scorer.score(PLAIN, TierSignals(intelligence_priority=0.0)).score
    mid = scorer.score(PLAIN, TierSignals(intelligence_priority=0.5)).score
    high = scorer.score(PLAIN, TierSignals(intelligence_priority=1.0)).score
    assert low < mid < high
    assert mid == pytest.approx(scorer.score(PLAIN).score)
    # out-of-range hints are clamped rather than trusted
    assert scorer.score(PLAIN, TierSignals(intelligence_priority=7.0)).score == pytest.approx(high)


def test_conversation_signals_escalate_and_are_explained(scorer: TierScorer) -> None:
    base = scorer.score(PLAIN)
    errs = [scorer.score(PLAIN, TierSignals(tool_errors=n)).score for n in range(0, 6)]
    assert errs == sorted(errs) and errs[1] > base.score
    assert errs[5] == errs[3]  # capped: a broken tool should not pin the conversation forever
    s = scorer.score(PLAIN, TierSignals(failed_validations=2, previous_tier="reasoning", step_count=12))
    assert s.score > base.score and s.text_score == base.text_score
    assert {"failed_validations", "previous_tier", "step_count"} <= set(s.signals)
    assert "text.shape" in s.signals


def test_reason_is_one_sentence_naming_the_tier(scorer: TierScorer) -> None:
    for text in (MATH, PLAIN):
        s = scorer.score(text)
        tier = scorer.calibration.tier_for(s.score)
        assert tier in s.reason and s.reason.endswith(".") and s.reason.count(". ") == 0


def test_calibrate_hits_the_target_rate() -> None:
    scores = [i / 200 for i in range(200)]
    for rate in (0.1, 0.25, 0.5, 0.9):
        cal = calibrate(scores, rate, "m")
        share = sum(s >= cal.threshold for s in scores) / len(scores)
        assert share == pytest.approx(rate, abs=1 / 200)
        assert cal.target_escalation_rate == rate
    assert sum(s >= calibrate(scores, 0.0, "m").threshold for s in scores) == 0
    assert sum(s >= calibrate(scores, 1.0, "m").threshold for s in scores) == 200
    assert calibrate([], 0.3, "m").threshold == 0.5
    with pytest.raises(ValueError, match="target_rate"):
        calibrate(scores, 1.5, "m")


def test_calibration_version_changes_with_threshold_and_model(scorer: TierScorer, tmp_path: Path) -> None:
    a = scorer.calibrate([0.1, 0.4, 0.9], 0.67)
    b = scorer.calibrate([0.1, 0.5, 0.9], 0.67)
    assert isinstance(a, Calibration) and a.version != b.version
    assert a.version.startswith(f"tiers-{scorer.model_version}-")
    assert scorer.with_calibration(a).calibration == a
    # same parameters, one weight nudged: a different policy version, visible in every decision
    params = json.loads(json.dumps(dict(scorer.params)))
    same = tmp_path / "same.json"
    same.write_bytes(_shipped().read_bytes())
    assert TierScorer.load(same).calibration.version == scorer.calibration.version
    params["fallback"]["bias"] += 0.01
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(params))
    other = TierScorer.load(changed)
    assert other.calibration.version != scorer.calibration.version
    assert other.score(PLAIN).score != scorer.score(PLAIN).score


def _shipped() -> Path:
    import mcproute

    return Path(mcproute.__file__).parent / "data" / "tier_model.json"


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not valid JSON"),
        ('{"format": "something/else"}', "format"),
        ('{"format": "mcproute.tier_model/1"}', "format"),
        ('{"format": "mcproute.tier_model/2"}', "malformed tier model"),
    ],
)
def test_bad_parameter_files_are_clear_errors(tmp_path: Path, content: str, needle: str) -> None:
    p = tmp_path / "tiers.json"
    p.write_text(content)
    with pytest.raises(ConfigError) as exc:
        TierScorer.load(p)
    assert str(p) in str(exc.value) and needle in str(exc.value)


def test_missing_parameter_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read tier model"):
        TierScorer.load(tmp_path / "absent.json")


def test_wrong_vector_length_is_rejected(tmp_path: Path) -> None:
    params = json.loads(_shipped().read_text())
    params["head"]["vector"] = params["head"]["vector"][:-1]
    p = tmp_path / "short.json"
    p.write_text(json.dumps(params))
    with pytest.raises(ConfigError, match="entries"):
        TierScorer.load(p)


def test_a_mechanical_instruction_about_pasted_material_is_a_transform_cue() -> None:
    """`transform_cues` counts transform verbs in the instruction before a paste only: the paste's
    words never count, and without a paste there is no cue (router/tier_features.py)."""
    from mcproute.router.tier_features import FORM_FEATURES, form_features

    cue = FORM_FEATURES.index("transform_cues")
    paste = "\n\n2024-05-02 INFO started\n2024-05-02 ERROR disk full\n2024-05-02 INFO retry ok"
    assert form_features("give me only the lines that contain ERROR:" + paste)[cue] > 0
    assert (
        form_features("Rename `tmp` to `buffer` in this code:\n\ndef f(tmp):\n    return tmp * 2 + tmp // 3")[cue] > 0
    )
    assert form_features("review this log for the root cause:" + paste + "\nsort order changed")[cue] == 0
    assert form_features("sort these: b, a")[cue] == 0  # nothing pasted worth the name
    assert form_features("please format the report nicely")[cue] == 0
