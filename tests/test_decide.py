"""decide(): the whole decision record, determinism, ties, latency from an injected clock, bad input."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from mcproute.router.decide import decide, tier_signals
from mcproute.router.step import Candidate, ConversationState, Decision, ModelSpec, Step, StepHints
from mcproute.router.tools import ToolIndex
from routing_inputs import CATALOG, MODELS, POLICY, TOOLS, Calibration, ScriptedScorer, index

NOW = 1_700_000_000.0


def step(text: str, cid: str = "c", hints: StepHints | None = None) -> Step:
    return Step(text, cid, "s1", hints or StepHints())


def go(text: str, state: ConversationState | None = None, **kw: object) -> Decision:
    scorer = kw.pop("scorer", ScriptedScorer())
    models = kw.pop("models", MODELS)
    policy = kw.pop("policy", POLICY)
    ix = kw.pop("ix", index())
    return decide(
        step(text, hints=kw.pop("hints", None)),
        state,
        ix,
        scorer,
        Calibration(),
        models,
        policy,
        now=NOW,
        tools=CATALOG,
        **kw,
    )  # type: ignore[arg-type]


def test_full_record_is_json_and_explains_itself() -> None:
    d = go("commit the changes with message fix typo")
    assert d.tool == "git__git_commit" and d.tool_score == d.alternatives[0].score
    assert [c.name for c in d.alternatives][0] == "git__git_commit"
    assert d.tier == "fast" and d.model == "quick" and d.model_alternatives[0].name == "quick"
    assert d.deployment in ("quick#0", "quick#1")
    assert d.threshold == 0.5 and d.policy_version == "test-1" and d.reasoning_score == 0.1
    assert d.signals["scripted"] == 0.1 and "no_tool_score" in d.signals
    assert d.reason.startswith("git__git_commit ranks first") and "quick on the fast tier" in d.reason
    assert d.reason.endswith(".") and "\n" not in d.reason
    assert d.sticky_held and d.sticky_reason.startswith("new conversation")
    back = json.loads(json.dumps(d.to_dict()))
    assert back["tool"] == "git__git_commit" and back["alternatives"][0]["name"] == "git__git_commit"


def test_same_inputs_same_decision() -> None:
    state = ConversationState(
        "c", tier="reasoning", model="deep", deployment="deep#2", servers_used=("git",), updated_at=NOW - 5
    )
    a = go("show the diff of the working tree", state)
    b = go("show the diff of the working tree", state)
    assert a == b


@dataclass(frozen=True)
class FixedRanking:
    candidates: tuple[Candidate, ...]
    no_tool: bool = False


class FixedIndex:
    """An index whose ranking is given: tied scores, in catalogue order (zz before aa)."""

    def __init__(self, ranking: FixedRanking) -> None:
        self.ranking = ranking

    def rank(self, text: str, *, context: object = None, k: int = 10, vector: object = None) -> FixedRanking:
        return FixedRanking(self.ranking.candidates[:k], self.ranking.no_tool)


def test_ties_keep_catalogue_order_never_the_name() -> None:
    tied = FixedRanking((Candidate("zz__lookup", 5.0), Candidate("aa__lookup", 5.0), Candidate("mm__lookup", 5.0)))
    history = ConversationState("c", servers_used=("qq",), tier="fast", model="quick", updated_at=NOW)
    for state in (None, history):  # with and without an (irrelevant) affinity pass
        d = decide(step("lookup"), state, FixedIndex(tied), ScriptedScorer(), Calibration(), MODELS, POLICY, now=NOW)
        assert [c.name for c in d.alternatives] == ["zz__lookup", "aa__lookup", "mm__lookup"]
        assert d.tool == "zz__lookup"


def test_no_tool_from_the_index_is_respected() -> None:
    ranking = FixedRanking((Candidate("zz__lookup", 0.1),), no_tool=True)
    d = decide(step("hello"), None, FixedIndex(ranking), ScriptedScorer(), Calibration(), MODELS, POLICY, now=NOW)
    assert d.tool is None and [c.name for c in d.alternatives] == ["zz__lookup"] and "no tool fits" in d.reason


def test_latency_comes_from_the_injected_clock() -> None:
    ticks = iter([10.0, 10.0025])
    d = go("what time is it in Tokyo", clock=lambda: next(ticks))
    assert d.latency_ms == 2.5
    assert go("what time is it in Tokyo").latency_ms == 0.0


def test_no_tool_fits_picks_the_cheapest_model_even_without_tool_support() -> None:
    d = go("write a poem about the sea")
    assert d.tool is None and d.tool_score == 0.0
    assert d.model == "quicker-no-tools" and "no tool fits this step" in d.reason


def test_empty_catalogue_and_empty_step() -> None:
    d = go("anything at all", ix=ToolIndex([]))
    assert d.tool is None and d.alternatives == () and "no tool in the catalogue" in d.reason
    d = go("")
    assert d.tool is None and d.model is not None


def test_top_k_bounds_the_alternatives() -> None:
    d = go("show the git status diff commit time file", policy=POLICY.model_copy(update={"top_k": 2}))
    assert len(d.alternatives) <= 2


def test_threshold_override_is_visible_in_the_policy_version() -> None:
    d = go("x", scorer=ScriptedScorer(default=0.3), policy=POLICY.model_copy(update={"threshold": 0.25}))
    assert d.tier == "reasoning" and d.threshold == 0.25 and d.policy_version == "test-1+threshold=0.25"


def test_scorer_gets_the_conversation_signals() -> None:
    scorer = ScriptedScorer()
    state = ConversationState("c", tier="reasoning", model="deep", step_count=4, tool_errors=2)
    go("x", state, scorer=scorer, hints=StepHints(intelligence_priority=0.9))
    sig = scorer.seen[-1]
    expected = tier_signals(step("x", hints=StepHints(intelligence_priority=0.9)), state)
    assert sig == expected
    for name, value in (
        ("previous_tier", "reasoning"),
        ("step_count", 4),
        ("tool_errors", 2),
        ("intelligence_priority", 0.9),
    ):
        if hasattr(sig, name):
            assert getattr(sig, name) == value


def test_no_model_available_says_why() -> None:
    down = [replace(m, available=False, unavailable_reason="OPENAI_API_KEY is not set") for m in MODELS]
    d = go("show the diff of the working tree", models=down)
    assert d.model is None and not d.sticky_held
    assert "no model can run it" in d.reason and "OPENAI_API_KEY" in d.reason


def test_hints_override_the_tier_and_the_model() -> None:
    assert go("x", hints=StepHints(tier_override="reasoning")).tier == "reasoning"
    d = go("x", hints=StepHints(model_override="deep-pricey"))
    assert (d.tier, d.model) == ("reasoning", "deep-pricey")


def test_affinity_shows_in_signals_and_sticky_reason() -> None:
    state = ConversationState(
        "c",
        tier="fast",
        model="quick",
        servers_used=("git", "git", "git"),
        tools_used=("git__git_diff",),
        updated_at=NOW - 1,
    )
    d = go("show the status and the diff", state)
    assert d.tool is not None and d.tool.startswith("git__")
    assert "kept git's tools first" in d.sticky_reason


def test_models_catalog_free_names_use_the_namespace_separator() -> None:
    state = ConversationState("c", servers_used=("git",) * 3, tier="fast", model="quick", updated_at=NOW)
    d = decide(
        step("show the diff of the working tree"),
        state,
        index(),
        ScriptedScorer(),
        Calibration(),
        MODELS,
        POLICY,
        now=NOW,
    )
    assert "kept git's tools first" in d.sticky_reason


def test_models_with_equal_price_keep_configuration_order() -> None:
    twins = [ModelSpec("b-model", "fast", 1.0, 1.0), ModelSpec("a-model", "fast", 1.0, 1.0)]
    assert go("x", models=twins).model == "b-model"
    assert [m.name for m in TOOLS]  # catalogue is non-empty (sanity for the other tests)


# ---------------------------------------------------------------- with the shipped tier scorer

from mcproute.router.tiers import TierScorer, TierSignals  # noqa: E402

PROOF = "Prove that there are infinitely many primes, and then derive the asymptotic density of primes using the prime number theorem, step by step."


def test_real_scorer_and_calibration_end_to_end() -> None:
    scorer = TierScorer.load()
    cal = scorer.calibration
    d = decide(
        step("show the diff of the working tree"), None, index(), scorer, cal, MODELS, POLICY, now=NOW, tools=CATALOG
    )
    assert d.tier == "fast" and d.tool == "git__git_diff"
    assert d.threshold == cal.threshold and d.policy_version == cal.version
    assert d.reason.endswith(".") and ".." not in d.reason
    json.dumps(d.to_dict())
    hard = decide(step(PROOF), None, index(), scorer, cal, MODELS, POLICY, now=NOW, tools=CATALOG)
    assert hard.reasoning_score >= cal.threshold and hard.tier == "reasoning" and hard.model == "deep"


def test_real_scorer_hears_the_conversation() -> None:
    scorer = TierScorer.load()
    state = ConversationState("c", tier="reasoning", model="deep", step_count=5, tool_errors=2, updated_at=NOW)
    sig = tier_signals(step("show the diff of the working tree"), state)
    assert isinstance(sig, TierSignals)
    assert (sig.previous_tier, sig.step_count, sig.tool_errors) == ("reasoning", 5, 2)
    d = decide(
        step("show the diff of the working tree"),
        state,
        index(),
        scorer,
        scorer.calibration,
        MODELS,
        POLICY,
        now=NOW,
        tools=CATALOG,
    )
    assert d.signals.get("tool_errors", 0.0) != 0.0 or d.signals.get("step_count", 0.0) != 0.0
    forced = decide(
        step("show the diff of the working tree", hints=StepHints(tier_override="reasoning")),
        None,
        index(),
        scorer,
        scorer.calibration,
        MODELS,
        POLICY,
        now=NOW,
        tools=CATALOG,
    )
    assert forced.tier == "reasoning"


def test_the_step_vector_reaches_the_tier_scorer() -> None:
    """One encoder vector per step serves both decisions: the tier scorer gets the same one."""
    import numpy as np

    scorer = ScriptedScorer()
    vec = np.full(384, 1 / np.sqrt(384), dtype=np.float32)
    decide(
        Step("prove it", "c", "s1", StepHints(), vector=vec),
        None,
        index(),
        scorer,
        Calibration(),
        MODELS,
        POLICY,
        now=NOW,
        tools=CATALOG,
    )
    decide(step("prove it"), None, index(), scorer, Calibration(), MODELS, POLICY, now=NOW, tools=CATALOG)
    assert scorer.vectors[0] is vec and scorer.vectors[1] is None
