"""The tier score with the step's encoder vector and labelled examples (issue 11, deliverable 3).

Runs the real encoder (session fixture `encoder`) and the shipped model. The prompts below are
paraphrases written for this test: none of them is in the shipped example set or a data file.
"""

from __future__ import annotations

import numpy as np
import pytest

from mcproute.config import Config
from mcproute.errors import ConfigError
from mcproute.router.tier_examples import Example, ExampleSet
from mcproute.router.tiers import TierScorer, TierSignals
from mcproute.runtime.examples import encode_examples, examples_in_force, shipped_examples

AGENTIC_REASONING = [
    "look at these failing CI logs and tell me what broke and how to fix it",
    "design the database tables for a booking system and explain the index choices",
    "prove that there is no largest prime number",
    "we must move 40 services to the new cluster; which order avoids breaking their dependencies, and why?",
    # the four quoted in issue 11 as going to the fast tier
    "find the root cause in these failing test logs and propose a patch",
    "review this pull request for race conditions",
    "design a schema and justify the indexes",
    "prove there are infinitely many primes",  # a strict xfail until 2026-12-06 (scored 0.23-0.26, fast)
]
EVERYDAY_FAST = [
    "what's the time in Paris right now",
    "translate 'good night' into French",
    "make a folder called invoices",
    "thanks a lot!",
]
LEDGER = "reconcile the March ledger with the bank export"


@pytest.fixture(scope="module")
def shipped(encoder) -> ExampleSet:  # noqa: ANN001 - mcproute.encoding.Encoder
    return encode_examples(encoder, shipped_examples())


@pytest.fixture(scope="module")
def scorer(shipped: ExampleSet) -> TierScorer:
    return TierScorer.load().with_examples(shipped)


def _score(scorer: TierScorer, encoder, text: str, signals: TierSignals | None = None):  # noqa: ANN001, ANN202
    return scorer.score(text, signals, vector=encoder.encode_one(text))


@pytest.mark.parametrize("text", AGENTIC_REASONING)
def test_agentic_reasoning_goes_to_the_reasoning_tier(scorer: TierScorer, encoder, text: str) -> None:  # noqa: ANN001
    s = _score(scorer, encoder, text)
    assert scorer.calibration.tier_for(s.score) == "reasoning", (text, s.reason)


@pytest.mark.parametrize("text", EVERYDAY_FAST)
def test_everyday_requests_go_to_the_fast_tier(scorer: TierScorer, encoder, text: str) -> None:  # noqa: ANN001
    s = _score(scorer, encoder, text)
    assert scorer.calibration.tier_for(s.score) == "fast", (text, s.reason)


def test_the_reason_names_the_category_the_step_resembles(scorer: TierScorer, encoder) -> None:  # noqa: ANN001
    s = _score(scorer, encoder, "prove that the product of two odd integers is odd")
    assert "'proofs' examples (reasoning)" in s.reason
    s = _score(scorer, encoder, "translate 'good night' into French")
    assert "'phrase translation' examples (fast)" in s.reason
    assert {"text.vector", "text.shape", "text.examples", "text.outcomes"} <= set(s.signals)


def test_your_examples_teach_the_decision_and_the_reason_quotes_them(encoder, shipped: ExampleSet) -> None:  # noqa: ANN001
    before = TierScorer.load().with_examples(shipped)
    assert before.calibration.tier_for(_score(before, encoder, LEDGER).score) == "fast"
    config = Config.model_validate(
        {
            "routing": {
                "tiers": {
                    "examples": {
                        "reasoning": [
                            "reconcile the quarterly ledger against the bank statements and explain every difference",
                            "reconcile our payroll ledger with the bank export",
                            "reconcile the vendor ledger against the invoices",
                        ]
                    }
                }
            }
        }
    )
    taught = TierScorer.load().with_examples(encode_examples(encoder, examples_in_force(config.routing.tiers)))
    s = _score(taught, encoder, LEDGER)
    assert taught.calibration.tier_for(s.score) == "reasoning"
    assert "your reasoning example 'reconcile" in s.reason
    # Unrelated steps keep their tier: the examples act near themselves, not everywhere.
    for text in EVERYDAY_FAST:
        assert taught.calibration.tier_for(_score(taught, encoder, text).score) == "fast"


def test_examples_are_part_of_the_policy_version(encoder, shipped: ExampleSet) -> None:  # noqa: ANN001
    bare = TierScorer.load()
    a, b = bare.with_examples(shipped), bare.with_examples(shipped)
    assert a.calibration.version == b.calibration.version != bare.calibration.version
    more = shipped.merged(encode_examples(encoder, [Example("audit the ledger", "reasoning", "", "yours")]))
    assert bare.with_examples(more).calibration.version != a.calibration.version


def test_a_user_example_overrides_a_shipped_one_with_the_other_label() -> None:
    shipped_fast = next(e for e in shipped_examples() if e.tier == "fast")
    config = Config.model_validate({"routing": {"tiers": {"examples": {"reasoning": [shipped_fast.text.upper()]}}}})
    found = examples_in_force(config.routing.tiers)
    same = [e for e in found if e.text.lower() == shipped_fast.text.lower()]
    assert [(e.tier, e.origin) for e in same] == [("reasoning", "yours")]
    off = Config.model_validate({"routing": {"tiers": {"shipped_examples": False}}})
    assert examples_in_force(off.routing.tiers) == []


def test_without_a_vector_the_scorer_falls_back_to_shape_and_says_so(scorer: TierScorer) -> None:
    s = scorer.score("prove that there is no largest prime number")
    assert "no step vector" in s.reason and set(s.signals) == {"text.shape"}


def test_a_vector_of_the_wrong_size_is_refused(scorer: TierScorer) -> None:
    with pytest.raises(ValueError, match="384"):
        scorer.score("hello", vector=np.zeros(10, dtype=np.float32))


def test_closeness_compares_with_both_sides_and_never_with_itself() -> None:
    v = np.eye(4, dtype=np.float32)
    ex = ExampleSet(
        (Example("a", "reasoning"), Example("b", "reasoning"), Example("c", "fast"), Example("d", "fast")), v, k=1
    )
    m = ex.match(v[0])
    assert m is not None and m.closeness == pytest.approx(1.0) and m.nearest == ex.examples[0]
    assert ex.match(v[2]).closeness == pytest.approx(-1.0)  # type: ignore[union-attr]
    # As training rows, each example is compared with the others only.
    assert list(ex.closeness_many(v, exclude_self=True)) == pytest.approx([0.0, 0.0, 0.0, 0.0])
    assert ExampleSet((Example("a", "reasoning"),), v[:1]).match(v[0]) is None  # one side only: no term


def test_bad_examples_in_servers_yaml_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="both reasoning and fast"):
        Config.model_validate({"routing": {"tiers": {"examples": {"reasoning": ["Sort it"], "fast": ["sort  it"]}}}})
    with pytest.raises(ValueError, match=r"reasoning\[1\] is empty"):
        Config.model_validate({"routing": {"tiers": {"examples": {"reasoning": ["ok", "  "]}}}})
    with pytest.raises(ValueError, match="extra|not permitted"):
        Config.model_validate({"routing": {"tiers": {"examples": {"slow": ["x"]}}}})


def test_a_malformed_shipped_set_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="'reasoning' and 'fast'"):
        shipped_examples("reasoning: {}\n")
    with pytest.raises(ConfigError, match=r"fast\.lookups: expected a list of non-empty strings"):
        shipped_examples("reasoning: {proofs: ['prove it']}\nfast: {lookups: [3]}\n")


@pytest.mark.anyio
async def test_the_gateway_uses_the_examples_from_servers_yaml(tmp_path) -> None:  # noqa: ANN001
    """End to end: routing.tiers.examples in the config move a routed step to the reasoning tier,
    and the decision's policy version names the example set it was made with."""
    from mcproute.gateway.identity import ConversationIdentity
    from mcproute.runtime import Engine
    from runtime_support import loaded_config

    teach = {
        "examples": {
            "reasoning": [
                "reconcile the quarterly ledger against the bank statements",
                "reconcile our payroll ledger with the bank export",
                "reconcile the vendor ledger against the invoices",
            ]
        }
    }
    results = {}
    for name, tiers in (("plain", {}), ("taught", teach)):
        async with Engine(loaded_config(tmp_path / name, tiers=tiers)) as engine:
            await engine.wait_settled()
            d = await engine.route(LEDGER, identity=ConversationIdentity(f"c-{name}", "argument"))
            results[name] = d
    assert results["plain"].tier == "fast" and results["taught"].tier == "reasoning"
    assert (
        "+ex" in results["taught"].policy_version
        and results["taught"].policy_version != results["plain"].policy_version
    )
    assert "your reasoning example 'reconcile" in results["taught"].reason


def test_no_shipped_example_repeats_an_evaluation_item() -> None:
    # The shipped examples teach the score; the sets in tests/data and shared/evaldata judge it.
    # An example copied from them answers the judge from memory (it happened once: issue 11).
    import json
    from pathlib import Path

    def norm(text: str) -> str:
        return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())

    root = Path(__file__).parent
    files = [
        *sorted((root / "data").glob("*.jsonl")),
        *sorted((root.parent.parent / "shared" / "evaldata").glob("reasoning.jsonl")),
    ]
    judged = {
        norm(str(item.get("prompt") or item.get("query") or ""))
        for f in files
        for item in map(json.loads, f.read_text(encoding="utf-8").splitlines())
    }
    copies = [e.text for e in shipped_examples() if norm(e.text) in judged]
    assert len(files) >= 5 and not copies, copies
