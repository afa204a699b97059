"""Stickiness: hysteresis, tool loops, cascade, isolation, model and deployment stickiness, affinity."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mcproute.errors import ModelCalledUnknownTool, ModelToolArgumentsInvalid, ModelToolCallError
from mcproute.router.conversation import (
    CACHE_TTL,
    MAX_TEXTS,
    MAX_TOOLS,
    TEXT_CHARS,
    StepOutcome,
    advance,
    apply_affinity,
    cascade,
    choose_deployment,
    choose_model,
    choose_replica,
    choose_tier,
    outcome_from_error,
    record_proxied_call,
    rendezvous,
)
from mcproute.router.decide import decide
from mcproute.router.step import Candidate, ConversationState, Decision, Step, StepHints
from mcproute.state import MemoryStore, SqliteStore
from routing_inputs import CATALOG, MODELS, POLICY, Calibration, ScriptedScorer, index

K = POLICY.step_down_after
T0 = 1_700_000_000.0


def run(
    step_text: str, cid: str, state: ConversationState | None, scorer: ScriptedScorer, n: int, **kw: Any
) -> Decision:
    step = Step(step_text, cid, f"{cid}-s{n}", kw.pop("hints", StepHints()))
    return decide(step, state, index(), scorer, Calibration(), MODELS, POLICY, now=T0 + n, tools=CATALOG, **kw)


def validate_call(tool: str, arguments: dict[str, Any]) -> None:
    """What the executor does with a model's tool call (real JSON Schema validation)."""
    spec = CATALOG.get(tool)
    if spec is None:
        raise ModelCalledUnknownTool(tool)
    problems = [e.message for e in jsonschema.Draft202012Validator(dict(spec.input_schema)).iter_errors(arguments)]
    if problems:
        raise ModelToolArgumentsInvalid(tool, problems)


# ---------------------------------------------------------------- tier hysteresis


def test_escalates_then_holds_through_a_tool_loop_then_steps_down_after_k() -> None:
    hard = "work out why the merge broke the build and plan a fix across the repository"
    scorer = ScriptedScorer({hard: 0.9})
    state: ConversationState | None = None
    log: list[tuple[str, bool, str]] = []

    def step(text: str, n: int, outcome: StepOutcome) -> Decision:
        nonlocal state
        d = run(text, "c1", state, scorer, n)
        state = advance(state, d, replace(outcome, text=text), now=T0 + n)
        log.append((d.tier, d.sticky_held, d.sticky_reason))
        return d

    d = step("show the diff of the working tree", 0, StepOutcome())
    assert d.tier == "fast" and d.model == "quick" and d.tool == "git__git_diff"
    d = step(hard, 1, StepOutcome(tool_called="git__git_status", server="git", awaiting_tool_result=True))
    assert d.tier == "reasoning" and d.model == "deep" and not d.sticky_held
    assert "escalated at once" in d.sticky_reason and "crossed the threshold" in d.sticky_reason
    # A tool loop of clearly-fast-looking steps: the tier never changes mid loop.
    for n in range(2, 2 + 2 * K):
        d = step(
            "now show status",
            n,
            StepOutcome(tool_called="git__git_status", server="git", result_text="clean", awaiting_tool_result=True),
        )
        assert d.tier == "reasoning" and d.sticky_held and "awaiting its result" in d.sticky_reason
        assert state is not None and state.fast_streak == 0
    # The step that brings the last tool result still belongs to the loop (the same model reads it)...
    n = 2 + 2 * K
    d = step("now show status", n, StepOutcome())
    assert d.tier == "reasoning" and "awaiting its result" in d.sticky_reason
    n += 1
    # ...then the loop is over: k consecutive confident fast steps are needed to step down.
    for i in range(1, K):
        d = step("now show status", n, StepOutcome())
        n += 1
        assert d.tier == "reasoning" and d.sticky_held and f"{i} of {K} confident fast steps" in d.sticky_reason
    d = step("now show status", n, StepOutcome())
    assert d.tier == "fast" and d.model == "quick" and not d.sticky_held
    assert f"stepped down to fast after {K} consecutive confident fast steps" in d.sticky_reason
    assert state is not None and state.tier == "fast" and state.fast_streak == 0


def test_a_borderline_step_resets_the_streak_and_the_switch_cost_is_a_margin() -> None:
    state = ConversationState("c", tier="reasoning", model="deep", fast_streak=K - 1, updated_at=T0)
    # Below the threshold but within the switch cost: not confident, streak resets.
    c = choose_tier(state, 0.47, 0.5, POLICY)
    assert (c.tier, c.held, c.fast_streak) == ("reasoning", True, 0) and "within the switch cost" in c.reason
    # Clearly below: the k-th confident step steps down.
    c = choose_tier(state, 0.40, 0.5, POLICY)
    assert (c.tier, c.held) == ("fast", False)
    # A cold prompt cache waives the margin.
    c = choose_tier(state, 0.47, 0.5, POLICY, warm=False)
    assert c.tier == "fast" and "cold" in c.reason


def test_fast_conversation_escalates_at_once_even_mid_loop() -> None:
    state = ConversationState("c", tier="fast", model="quick", awaiting_tool_result=True)
    c = choose_tier(state, 0.5, 0.5, POLICY)
    assert (c.tier, c.held) == ("reasoning", False)
    assert choose_tier(state, 0.49, 0.5, POLICY).tier == "fast"


def test_user_override_wins_and_new_conversations_start_on_the_raw_score() -> None:
    c = choose_tier(ConversationState("c", tier="fast"), 0.0, 0.5, POLICY, hints=StepHints(tier_override="reasoning"))
    assert (c.tier, c.held) == ("reasoning", False) and "caller asked" in c.reason
    assert choose_tier(None, 0.7, 0.5, POLICY).tier == "reasoning"
    assert choose_tier(None, 0.2, 0.5, POLICY).tier == "fast"
    assert choose_tier(None, 0.2, 0.5, POLICY).held


# ---------------------------------------------------------------- cascade


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("git__git_commit", {"repo_path": "/r"}, "'message' is a required property"),
        ("git__git_commit", {"repo_path": 7, "message": "x"}, "7 is not of type 'string'"),
        ("git__git_push_everything", {}, "unknown tool 'git__git_push_everything'"),
    ],
)
def test_schema_invalid_fast_tool_call_escalates_and_records_why(
    tool: str, arguments: dict[str, Any], expected: str
) -> None:
    scorer = ScriptedScorer()
    d = run("commit the changes with message fix typo", "c", None, scorer, 0)
    assert d.tier == "fast" and d.tool == "git__git_commit"
    with pytest.raises(ModelToolCallError) as err:
        validate_call(tool, arguments)
    # Within the step: retry on the reasoning tier, and say why.
    up = cascade(d, err.value, MODELS, None, POLICY)
    assert (up.tier, up.model, up.sticky_held) == ("reasoning", "deep", False)
    assert "cascade" in up.sticky_reason and expected in up.sticky_reason and up.signals["cascade"] == 1.0
    assert up.deployment in ("deep#0", "deep#1", "deep#2")
    # Across steps: the invalid call is remembered and the next step escalates even on a low score.
    state = advance(None, d, outcome_from_error(err.value, text="commit it"), now=T0)
    assert expected in state.cascade_reason and state.tool_errors == 1
    assert state.tools_used == ()  # an invalid call was never executed
    nxt = run("commit it", "c", state, scorer, 1)
    assert nxt.tier == "reasoning" and not nxt.sticky_held and expected in nxt.sticky_reason
    assert nxt.signals["cascade"] == 1.0
    if hasattr(scorer.seen[-1], "failed_validations"):  # the tier scorer hears about it too
        assert scorer.seen[-1].failed_validations == 1
    # Once on reasoning, the cascade is spent.
    after = advance(state, nxt, StepOutcome(text="commit it", tool_called="git__git_commit", server="git"), now=T0 + 1)
    assert after.cascade_reason == "" and after.tool_errors == 0 and after.tier == "reasoning"


def test_cascade_leaves_a_reasoning_decision_alone_and_reports_no_model() -> None:
    d = run("x", "c", None, ScriptedScorer(default=0.9), 0)
    assert cascade(d, "bad args", MODELS, None, POLICY) is d
    fast = run("x", "c", None, ScriptedScorer(default=0.1), 0)
    no_reasoning = [
        replace(m, available=False, unavailable_reason="key DEEP_KEY not set") if m.tier == "reasoning" else m
        for m in MODELS
    ]
    out = cascade(fast, "bad args", no_reasoning, None, POLICY)
    assert (
        out.tier == "fast"
        and not out.sticky_held
        and "could not escalate" in out.sticky_reason
        and "DEEP_KEY" in out.sticky_reason
    )


# ---------------------------------------------------------------- isolation


@pytest.mark.anyio
async def test_two_conversations_never_see_each_others_state() -> None:
    hard = "design a migration plan for the whole repository history"
    scorer = ScriptedScorer({hard: 0.95})
    store = MemoryStore()
    for n, (cid, text) in enumerate(
        [("A", hard), ("B", "what time is it in Tokyo"), ("A", "now show status"), ("B", "what time is it in Tokyo")]
    ):
        state = await store.load(cid)
        d = run(text, cid, state, scorer, n)
        tool = d.tool
        await store.update(
            cid,
            lambda s, d=d, t=text, tool=tool, n=n: advance(
                s, d, StepOutcome(text=t, tool_called=tool, server=tool.split("__")[0] if tool else None), now=T0 + n
            ),
        )
    a, b = await store.load("A"), await store.load("B")
    assert a is not None and b is not None
    assert a.tier == "reasoning" and b.tier == "fast"
    assert set(a.servers_used) == {"git"} and set(b.servers_used) == {"time"}
    assert all("Tokyo" not in t for t in a.recent_texts) and all("migration" not in t for t in b.recent_texts)
    # Handing A's state to B's step is ignored by decide and by advance.
    d = run("what time is it in Tokyo", "B", a, scorer, 9)
    assert d.tier == "fast" and d.conversation_id == "B"
    assert advance(a, d, StepOutcome()).conversation_id == "B" and advance(a, d, StepOutcome()).step_count == 1


@pytest.mark.anyio
async def test_restart_mid_conversation_keeps_tier_and_tool_affinity(tmp_path: Path) -> None:
    scorer = ScriptedScorer({"plan the refactor of the git history": 0.9})
    path = tmp_path / "state.sqlite3"
    texts = ["plan the refactor of the git history", "show the diff of the working tree", "now show status"]
    for n, text in enumerate(texts):
        async with SqliteStore(path) as store:  # a fresh gateway process each step
            state = await store.load("conv")
            d = run(text, "conv", state, scorer, n)
            await store.record_step(
                "conv",
                d.step_id,
                json.dumps(d.to_dict()),
                lambda s, d=d, t=text, n=n: advance(
                    s, d, StepOutcome(text=t, tool_called=d.tool, server="git", awaiting_tool_result=True), now=T0 + n
                ),
            )
    async with SqliteStore(path) as store:
        state = await store.load("conv")
        assert state is not None and state.tier == "reasoning" and state.servers_used[-1] == "git"
        d = run("now show status", "conv", state, scorer, 3)
        assert d.tier == "reasoning" and d.model == "deep" and d.deployment == state.deployment
        assert d.sticky_held and "kept git's tools first" in d.sticky_reason


# ---------------------------------------------------------------- models and deployments


def test_cheapest_adequate_model_and_tool_capability() -> None:
    c = choose_model("fast", MODELS, None, POLICY, conversation_id="c", needs_tools=True)
    assert c.model == "quick" and c.alternatives[0].name == "quick"
    c = choose_model("fast", MODELS, None, POLICY, conversation_id="c", needs_tools=False)
    assert c.model == "quicker-no-tools"
    c = choose_model("reasoning", MODELS, None, POLICY, conversation_id="c")
    assert c.model == "deep" and [a.name for a in c.alternatives][:2] == ["deep", "deep-pricey"]


def test_a_conversation_keeps_its_model_while_the_cache_is_warm() -> None:
    state = ConversationState("c", tier="reasoning", model="deep-pricey", updated_at=T0)
    kept = choose_model("reasoning", MODELS, state, POLICY, conversation_id="c", warm=True)
    assert kept.model == "deep-pricey" and kept.held and "prompt cache" in kept.reason
    cold = choose_model("reasoning", MODELS, state, POLICY, conversation_id="c", warm=False)
    assert cold.model == "deep" and not cold.held and "cold" in cold.reason
    gone = [
        replace(m, available=False, unavailable_reason="circuit open") if m.name == "deep-pricey" else m for m in MODELS
    ]
    moved = choose_model("reasoning", gone, state, POLICY, conversation_id="c")
    assert moved.model == "deep" and not moved.held and "circuit open" in moved.reason


def test_no_model_in_tier_reports_or_falls_back_across_tiers() -> None:
    only_fast = [m for m in MODELS if m.tier == "fast"]
    none = choose_model("reasoning", only_fast, None, POLICY, conversation_id="c")
    assert none.model is None and "no adequate reasoning-tier model" in none.reason
    fb = choose_model(
        "reasoning", only_fast, None, POLICY.model_copy(update={"cross_tier_fallback": True}), conversation_id="c"
    )
    assert (fb.model, fb.tier, fb.held) == ("quick", "fast", False) and "fell back" in fb.reason


def test_model_override() -> None:
    c = choose_model("fast", MODELS, None, POLICY, conversation_id="c", model_override="deep-pricey")
    assert (c.model, c.tier) == ("deep-pricey", "reasoning")
    c = choose_model("fast", MODELS, None, POLICY, conversation_id="c", model_override="nope")
    assert c.model == "quick" and "requested model nope is not configured" in c.reason


def test_deployment_is_sticky_consistent_and_fails_over_only_to_healthy() -> None:
    deep = MODELS[0]
    keys = deep.deployments
    # Deterministic and spread out.
    firsts = Counter(rendezvous(f"conv-{i}", keys)[0] for i in range(600))
    assert set(firsts) == set(keys) and min(firsts.values()) > 120
    assert all(rendezvous(f"conv-{i}", keys) == rendezvous(f"conv-{i}", keys) for i in range(50))
    # Adding a deployment moves only conversations that now prefer the new one.
    grown = (*keys, "deep#3")
    moved = [i for i in range(600) if rendezvous(f"conv-{i}", grown)[0] != rendezvous(f"conv-{i}", keys)[0]]
    assert all(rendezvous(f"conv-{i}", grown)[0] == "deep#3" for i in moved)
    # A conversation keeps its deployment; an unhealthy one fails over to a healthy one.
    dep, held, _ = choose_deployment("c7", deep, None)
    assert choose_deployment("c7", deep, dep) == (dep, True, f"kept deployment {dep} so its prompt cache stays warm")
    other, held, reason = choose_deployment("c7", deep, dep, unhealthy={dep})
    assert other != dep and other in keys and not held and "failed over" in reason
    third = next(k for k in keys if k not in (dep, other))
    assert choose_deployment("c7", deep, dep, unhealthy={dep, other})[0] == third
    # ...and stays there when the original recovers (its own cache is warm now).
    assert choose_deployment("c7", deep, other)[0] == other
    # Nothing healthy: keep the current one, do not bounce.
    assert choose_deployment("c7", deep, dep, unhealthy=set(keys))[0] == dep


def test_tool_server_replicas_stick_per_conversation_and_fail_over() -> None:
    urls = ["http://127.0.0.1:9001/mcp", "http://127.0.0.1:9002/mcp", "http://127.0.0.1:9003/mcp"]
    picks = {cid: choose_replica(cid, urls, what="replica")[0] for cid in (f"c{i}" for i in range(300))}
    assert set(picks.values()) == set(urls)  # balanced across replicas
    first = picks["c1"]
    assert choose_replica("c1", urls, first, what="replica") == (first, True, f"kept replica {first}")
    moved, held, reason = choose_replica("c1", urls, first, unhealthy={first}, what="replica")
    assert moved != first and not held and reason == f"replica {first} is unhealthy; failed over to {moved}"


def test_decide_keeps_the_deployment_across_steps() -> None:
    scorer = ScriptedScorer(default=0.9)
    state = None
    deps = []
    for n in range(5):
        d = run("plan it", "sticky-conv", state, scorer, n)
        deps.append(d.deployment)
        state = advance(state, d, StepOutcome(text="plan it"), now=T0 + n)
    assert len(set(deps)) == 1 and deps[0] in MODELS[0].deployments
    d = run("plan it", "sticky-conv", state, scorer, 6, unhealthy={deps[0]})
    assert d.deployment != deps[0] and not d.sticky_held and "failed over" in d.sticky_reason


# ---------------------------------------------------------------- affinity


def _server(name: str) -> str | None:
    return name.split("__")[0]


def test_affinity_boost_is_bounded_and_only_for_relevant_candidates() -> None:
    state = ConversationState("c", servers_used=("git",) * 4, tools_used=("git__git_log",))
    close = [Candidate("fs__read_file", 10.0), Candidate("git__git_show", 9.5), Candidate("time__now", 0.0)]
    out = apply_affinity(close, state, _server)
    assert [c.name for c in out.candidates][:2] == ["git__git_show", "fs__read_file"]
    assert out.held and "kept git's tools first" in out.reason
    assert 0 < out.boosts["git__git_show"] <= 0.15 * 10.0
    far = [Candidate("fs__read_file", 10.0), Candidate("time__now", 8.0), Candidate("git__git_show", 1.0)]
    out = apply_affinity(far, state, _server)
    assert out.candidates[0].name == "fs__read_file" and "git__git_show" not in out.boosts
    assert not out.held and "more relevant" in out.reason
    none = apply_affinity([Candidate("fs__read_file", 3.0)], state, _server)
    assert not none.held and "none of them fits" in none.reason
    # No history: unchanged, no claim.
    plain = apply_affinity(close, ConversationState("c"), _server)
    assert plain.candidates == tuple(close) and plain.reason == "" and plain.held


def test_kept_and_left_are_about_the_last_steps_server() -> None:
    # Two time steps, then one git step: a git tool now "keeps" git; it does not "leave" time again.
    state = ConversationState(
        "c", servers_used=("time", "time", "git"), tools_used=("time__now", "time__convert", "git__git_log")
    )
    out = apply_affinity([Candidate("git__git_status", 9.0), Candidate("time__now", 2.0)], state, _server)
    assert out.candidates[0].name == "git__git_status" and out.held and out.reason == "kept git's tools first"
    back = apply_affinity([Candidate("time__now", 9.0), Candidate("fs__read_file", 2.0)], state, _server)
    assert not back.held and back.reason == "left git's tools: none of them fits this step"


def test_ties_after_boost_keep_catalogue_order() -> None:
    state = ConversationState("c", servers_used=("git",))
    tied = [Candidate("git__a", 5.0), Candidate("git__b", 5.0), Candidate("git__c", 5.0)]
    assert [c.name for c in apply_affinity(tied, state, _server).candidates] == ["git__a", "git__b", "git__c"]


# ---------------------------------------------------------------- transition


def test_advance_keeps_state_bounded() -> None:
    d = run("x", "c", None, ScriptedScorer(), 0)
    state = None
    for n in range(30):
        state = advance(
            state,
            d,
            StepOutcome(text=f"{n} " + "t" * 1000, tool_called=f"git__t{n}", server="git", result_text="r" * 5000),
            now=T0 + n,
        )
    assert state is not None
    assert len(state.tools_used) == MAX_TOOLS and state.tools_used[-1] == "git__t29"
    assert len(state.servers_used) == MAX_TOOLS
    assert len(state.recent_texts) == MAX_TEXTS and all(len(t) <= TEXT_CHARS for t in state.recent_texts)
    assert state.recent_texts[-1].startswith("29 ")
    assert len(state.last_result) == TEXT_CHARS
    assert state.step_count == 30 and state.updated_at == T0 + 29 and state.last_step_id == d.step_id


def test_proxied_calls_count_in_the_conversation() -> None:
    s = record_proxied_call(None, "c", "git__git_status", "git", result_text="clean", now=T0)
    s = record_proxied_call(s, "c", "git__git_diff", "git", error=True, now=T0 + 1)
    assert s.tools_used == ("git__git_status", "git__git_diff") and s.tool_errors == 1 and s.awaiting_tool_result
    # The next route sees the affinity and the pending tool result.
    d = run("now show status", "c", replace(s, tier="reasoning", model="deep"), ScriptedScorer(), 2)
    assert d.tier == "reasoning" and "awaiting its result" in d.sticky_reason


def test_cache_ttl_is_about_provider_caches() -> None:
    assert 60 <= CACHE_TTL <= 3600
    state = ConversationState("c", tier="reasoning", model="deep", fast_streak=K - 1, updated_at=T0)
    # An idle conversation (cache cold) steps down on a borderline score without paying the margin.
    step = Step("now show status", "c", "s", StepHints())
    cold = decide(
        step, state, index(), ScriptedScorer(default=0.48), Calibration(), MODELS, POLICY, now=T0 + CACHE_TTL + 1
    )
    warm = decide(step, state, index(), ScriptedScorer(default=0.48), Calibration(), MODELS, POLICY, now=T0 + 1)
    assert cold.tier == "fast" and warm.tier == "reasoning"
    assert cold.signals["cache_warm"] == 0.0 and warm.signals["cache_warm"] == 1.0


def test_real_scorer_conversation_escalates_holds_and_steps_down() -> None:
    from mcproute.router.tiers import TierScorer

    scorer = TierScorer.load()
    cal = scorer.calibration
    proof = "Prove that there are infinitely many primes, and then derive the asymptotic density of primes using the prime number theorem, step by step."
    state: ConversationState | None = None
    tiers = []
    script = [
        ("show the diff of the working tree", False),
        (proof, False),
        ("now show status", True),
        ("now show status", True),
    ] + [("show the diff of the working tree", False)] * (K + 1)
    for n, (text, calls_tool) in enumerate(script):
        d = decide(Step(text, "real", f"s{n}"), state, index(), scorer, cal, MODELS, POLICY, now=T0 + n, tools=CATALOG)
        tiers.append(d.tier)
        outcome = StepOutcome(
            text=text,
            tool_called=d.tool if calls_tool else None,
            server="git" if calls_tool else None,
            awaiting_tool_result=calls_tool,
        )
        state = advance(state, d, outcome, now=T0 + n)
    # fast; escalate on the proof; step 2 is a confident fast step (streak 1) that starts a tool
    # loop; steps 3-4 wait for results (streak frozen); steps 5-6 bring the streak to k = 3.
    assert K == 3
    assert tiers == ["fast", "reasoning", "reasoning", "reasoning", "reasoning", "reasoning", "fast", "fast"]


def test_reasons_agree_in_number_with_their_counts() -> None:
    one = POLICY.model_copy(update={"step_down_after": 1})
    down = choose_tier(ConversationState("c", tier="reasoning", model="deep"), 0.0, 0.5, one, warm=False)
    assert "after 1 consecutive confident fast step (" in down.reason
    two = POLICY.model_copy(update={"step_down_after": 2})
    kept = choose_tier(ConversationState("c", tier="reasoning", model="deep"), 0.0, 0.5, two, warm=False)
    assert "1 of 2 confident fast steps needed" in kept.reason
