"""The click-through tool learner (router/online_tools.py, online_tool_stats.py): an online softmax
re-ranker that starts static, learns a consistent click pattern, stays off when it would hurt,
keeps its weights within bounds and round-trips through its compact form. Vectors are synthetic
unit vectors around a few centres: the learner only ever sees vectors and rankings."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from mcproute.router.online_tool_stats import ToolStats
from mcproute.router.online_tools import ARMS, START_WEIGHTS, ToolLearner, ToolLearning
from mcproute.router.retrieval_types import Ranking
from mcproute.router.step import Candidate
from online_support import DIM, make_centres, near


@pytest.fixture
def centres() -> list[np.ndarray]:
    return make_centres()


def _ranking(names: list[str], no_tool: bool = False) -> Ranking:
    cands = tuple(Candidate(n, float(len(names) - i)) for i, n in enumerate(names))
    return Ranking(cands, no_tool, 0.9 if no_tool else 0.1, 0.5, "static")


def _taught(centres: list[np.ndarray], steps: int = 60, seed: int = 5) -> ToolLearner:
    """Static ranking always a, b, c; steps near centre 0 really used "c", near centre 1 "a"."""
    rng = np.random.default_rng(seed)
    learner = ToolLearner.start(DIM)
    static = _ranking(["a", "b", "c"])
    for i in range(steps):
        c = i % 2
        learner = learner.learn(near(centres[c], rng), "c" if c == 0 else "a", static)
    return learner


def test_a_consistent_click_pattern_moves_the_revealed_tool_first(centres: list[np.ndarray]) -> None:
    rng = np.random.default_rng(9)
    static = _ranking(["a", "b", "c"])
    fresh = ToolLearner.start(DIM)
    assert fresh.weights == START_WEIGHTS and fresh._rerank(static, centres[0], 10, None, "learned") == static
    assert fresh.rerank(static, near(centres[0], rng)) is static  # inactive: untouched
    learner = _taught(centres)
    assert learner.wins > learner.losses and learner.active
    moved = learner.rerank(static, near(centres[0], rng))
    assert [c.name for c in moved.candidates][0] == "c" and f"{learner.arm} re-ranker" in moved.explanation
    assert moved.candidates[0].score == static.candidates[0].score  # the leader keeps the top score
    assert "click-through: c moved up from static rank 3" in moved.explanation
    kept = learner.rerank(static, near(centres[1], rng))
    assert kept.candidates[0].name == "a"  # where "a" was the answer, it stays first
    assert learner.rerank(static, None) is static  # no vector: nothing to compare
    # A tool the step cannot use never joins its list; one it can, does (with the lowest score as base).
    short = _ranking(["a", "b"])
    assert "c" not in [c.name for c in learner.rerank(short, near(centres[0], rng), available={"a", "b"}).candidates]
    joined = learner.rerank(short, near(centres[0], rng), available={"a", "b", "c"})
    assert joined.candidates[0].name == "c" and "outside the static list" in joined.explanation


@pytest.mark.parametrize(
    ("params", "arm"),
    [
        (ToolLearning(lr=0.0), "vote"),  # the learned weights never move off the static order
        (ToolLearning(vote_weight=0.0), "learned"),  # the vote arm is the static order
    ],
)
def test_the_arm_with_the_better_self_check_decides(centres: list[np.ndarray], params: ToolLearning, arm: str) -> None:
    rng = np.random.default_rng(3)
    learner = ToolLearner.start(DIM, params)
    static = _ranking(["a", "b", "c"])
    for i in range(40):
        learner = learner.learn(near(centres[i % 2], rng), "c" if i % 2 == 0 else "a", static)
    other = 1 - ARMS.index(arm)
    assert learner.checks[other] == (0, 0) and learner.arm == arm
    # The decisions in force were its own, from when it passed its self-check on.
    assert 0 < learner.wins < learner.checks[ARMS.index(arm)][0] and learner.losses == 0
    moved = learner.rerank(static, near(centres[0], rng))
    assert moved.candidates[0].name == "c" and f"{arm} re-ranker" in moved.explanation


def test_the_learner_stays_off_when_clicks_follow_no_pattern(centres: list[np.ndarray]) -> None:
    rng = np.random.default_rng(6)
    coin = random.Random(4)
    learner = ToolLearner.start(DIM)
    names = ["a", "b", "c"]
    for _ in range(300):  # near-identical requests using random tools; the static ranking is random too
        static = _ranking(coin.sample(names, 3))
        learner = learner.learn(near(centres[0], rng, 0.02), coin.choice(names), static)
    assert all(w + lost > 10 for w, lost in learner.checks)  # both arms did disagree with the static ranking
    assert not learner.active and learner.arm is None
    static = _ranking(["b", "a", "c"])
    assert learner.rerank(static, near(centres[0], rng)) is static
    with pytest.raises(ValueError, match="non-empty tool name"):
        learner.learn(centres[0], "")
    with pytest.raises(ValueError, match="finite non-zero vector of 16"):
        learner.learn(np.zeros(DIM), "a")


def test_weights_stay_within_bounds_under_adversarial_reveals(centres: list[np.ndarray]) -> None:
    params = ToolLearning(lr=10.0, max_weight=2.0, max_step=0.25)
    learner = ToolLearner.start(DIM, params)
    rng = np.random.default_rng(11)
    names = [f"t{i}" for i in range(10)]
    for i in range(200):  # always the tool the static ranking put last, then flipping to the first
        static = _ranking(names[::-1] if i % 50 < 25 else names)
        before = np.asarray(learner.weights)
        learner = learner.learn(near(centres[i % 3], rng), names[-1] if i % 7 else names[0], static, set(names))
        after = np.asarray(learner.weights)
        assert np.all(np.abs(after - before) <= params.max_step + 1e-12)
        assert np.all(np.abs(after) <= params.max_weight)
    assert np.abs(np.asarray(learner.weights)).max() == pytest.approx(params.max_weight)  # the clip was reached
    assert params.max_update_effect() == pytest.approx(params.max_step * (8.0 + 6 * 1.0 + np.log1p(1_000_000)))


def test_stats_are_bounded_and_forget_the_least_recent(centres: list[np.ndarray]) -> None:
    stats = ToolStats.empty(DIM, max_tools=2, max_pairs=2)
    for tool, leader in [("x", "a"), ("y", "a"), ("x", "b"), ("z", "a")]:
        stats = stats.add(centres[0], tool, leader)
    assert list(stats.prototypes) == ["x", "z"] and stats.count("x") == 2 and stats.count("y") == 0
    assert list(stats.confusion) == [("b", "x"), ("a", "z")]  # ("a", "x") and ("a", "y") left
    assert dict(stats.led) == {"b": 1, "a": 1} and stats.share("a", "z") == pytest.approx(0.5)
    assert (
        stats.similarity("x", centres[0]) == pytest.approx(1.0, abs=1e-5) and stats.similarity("y", centres[0]) is None
    )


def test_state_round_trips(centres: list[np.ndarray]) -> None:
    learner = _taught(centres)
    back = ToolLearner.from_dict(json.loads(json.dumps(learner.to_dict())))
    assert back.params == learner.params and back.weights == learner.weights and back.averaged == learner.averaged
    learner = learner.learn(centres[2], "a", _ranking(["a", "b"], no_tool=True))
    learner = learner.learn_no_tool(centres[2], _ranking(["a", "b"], no_tool=True))
    back = ToolLearner.from_dict(json.loads(json.dumps(learner.to_dict())))
    assert (back.wins, back.losses, back.revealed, back.steps, back.misses, back.holds) == (
        learner.wins,
        learner.losses,
        learner.revealed,
        learner.steps,
        1,
        1,
    )
    assert dict(back.stats.counts) == dict(learner.stats.counts) and dict(back.stats.confusion) == dict(
        learner.stats.confusion
    )
    assert back.stats.prototypes.keys() == learner.stats.prototypes.keys()
    for name, proto in learner.stats.prototypes.items():
        assert np.allclose(back.stats.prototypes[name], proto, atol=0.05 * np.linalg.norm(proto))  # int8 directions
    probe = near(centres[0], np.random.default_rng(2))
    static = _ranking(["a", "b", "c"])
    assert [c.name for c in back.rerank(static, probe).candidates] == [
        c.name for c in learner.rerank(static, probe).candidates
    ]


def test_the_learned_arm_decides_with_the_average_of_its_weights(centres: list[np.ndarray]) -> None:
    """The first step's average is that step's weights; later ones trail the raw SGD weights at
    the `average` rate, so one odd reveal moves what decides by a twentieth of what it moves them."""
    learner = _taught(centres)
    assert learner.steps > 20 and learner.averaged != learner.weights
    one = ToolLearner.start(DIM).learn(centres[0], "b", _ranking(["a", "b", "c"]))
    assert one.steps == 1 and one.averaged == one.weights != START_WEIGHTS
    again = learner.learn(near(centres[1], np.random.default_rng(9)), "c", _ranking(["a", "b", "c"]))
    moved = np.abs(np.asarray(again.averaged) - np.asarray(learner.averaged))
    raw = np.abs(np.asarray(again.weights) - np.asarray(learner.weights))
    assert np.allclose(moved, learner.params.average * np.abs(np.asarray(again.weights) - np.asarray(learner.averaged)))
    assert raw.max() > 0.0


def test_a_format_3_state_loads_with_no_no_tool_evidence(centres: list[np.ndarray]) -> None:
    old = _taught(centres).learn(centres[2], "a", _ranking(["a"], no_tool=True)).to_dict()
    old["format"] = 3
    del old["no_tool"]
    back = ToolLearner.from_dict(old)
    assert (back.misses, back.holds) == (0, 0) and back.trust == back.params.trust


def test_a_format_2_state_still_loads_its_weights_as_the_average(centres: list[np.ndarray]) -> None:
    old = _taught(centres).to_dict()
    old["format"] = 2
    del old["averaged"], old["steps"]
    back = ToolLearner.from_dict(old)
    assert back.averaged == back.weights and back.steps == 0


def _set(path: str, value: Any) -> Callable[[dict], None]:
    def mutate(d: dict) -> None:
        *parents, last = path.split(".")
        for p in parents:
            d = d[p]
        d[last] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d.pop("format"), "format 1, this learner reads 2 or 3 or 4"),
        (_set("no_tool.holds", -1), "negative counts"),
        (_set("averaged.vote", 12.0), "a weight outside"),
        (_set("steps", -1), "negative counts"),
        (lambda d: d.pop("stats"), "malformed tool learner state"),
        (_set("weights.vote", 11.0), r"a weight outside \[-10.0, 10.0\]"),
        (_set("weights.vote", float("nan")), "a weight outside"),
        (lambda d: d["weights"].pop("vote"), "malformed tool learner state"),
        (_set("weights.extra", 0.0), "weights must name exactly"),
        (_set("params.lr", -1.0), "lr within"),
        (_set("check", [-1, 0]), "negative counts"),
        (_set("arms.vote", [0, -2]), "negative counts"),
        (lambda d: d["arms"].pop("vote"), "malformed tool learner state"),
        (_set("arms.other", [0, 0]), "arms must be exactly vote, learned"),
        (_set("stats.counts", [0, 0]), "tool count outside"),
        (_set("stats.directions_int8", "AAAA"), "prototype bytes"),
        (_set("stats.tools", ["c", "c"]), "distinct non-empty"),
        (_set("stats.confusion", [["a", "c", 1], ["a", "c", 2]]), "listed twice"),
        (_set("stats.max_pairs", 10**9), "out of bounds"),
        (_set("stats.dim", 8), "prototype bytes"),
        (_set("memory.labels", [3] * 60), "not the expected kind"),
    ],
)
def test_malformed_state_is_refused_with_a_clear_error(centres: list[np.ndarray], mutate, needle: str) -> None:  # type: ignore[no-untyped-def]
    d = json.loads(json.dumps(_taught(centres).to_dict()))
    mutate(d)
    with pytest.raises(ValueError, match=needle):
        ToolLearner.from_dict(d)


def test_no_tool_is_kept_unless_the_votes_are_overwhelming(centres: list[np.ndarray]) -> None:
    rng = np.random.default_rng(8)
    learner = ToolLearner.start(DIM)
    for i in range(40):
        c = i % 2
        learner = learner.learn(near(centres[c], rng, 0.01), "b" if c else "a", _ranking(["a", "b"]))
    assert learner.active
    said_none = _ranking(["a", "b"], no_tool=True)
    over = learner.rerank(said_none, near(centres[1], rng, 0.01))
    assert over.candidates[0].name == "b" and not over.no_tool  # near-unanimous neighbours
    strict = replace(learner, params=ToolLearning(trust=1.0))
    kept = strict.rerank(said_none, near(centres[1], rng, 0.01))
    assert kept.candidates[0].name == "b" and kept.no_tool


def _votes_split(centres: list[np.ndarray]) -> tuple[ToolLearner, np.ndarray]:
    """An active learner, and a probe whose nearest revealed steps are split between "a" and "b"
    (the leader's vote is about 0.45: under the starting trust, over the floor)."""
    rng = np.random.default_rng(8)
    learner = ToolLearner.start(DIM)
    for i in range(40):
        c = i % 2
        learner = learner.learn(near(centres[c], rng, 0.01), "b" if c else "a", _ranking(["a", "b"]))
    mid = (centres[0] + centres[1]) / np.linalg.norm(centres[0] + centres[1])
    assert learner.active
    return learner, mid.astype(np.float32)


def test_the_trust_that_overrides_no_tool_is_learned_from_what_followed_it(centres: list[np.ndarray]) -> None:
    """Where steps the static ranking said needed no tool went on to call one (misses), the
    neighbours' vote is believed sooner; where they were answered without one (holds), it is not."""
    learner, probe = _votes_split(centres)
    said_none = _ranking(["a", "b"], no_tool=True)
    vote = learner._view(said_none, probe, None).votes
    assert learner.params.trust_floor < max(vote.values()) < learner.params.trust
    assert learner.rerank(said_none, probe).no_tool  # no evidence yet: the verdict holds
    far = centres[2]  # the outcomes are revealed elsewhere: only the counts move the trust
    missed = learner
    for _ in range(30):
        missed = missed.learn(far, "a", said_none)
    assert missed.misses == 30 and missed.trust < 0.3
    assert not missed.rerank(said_none, probe).no_tool  # the deployment's "no tool" is usually wrong
    held = learner
    for _ in range(30):
        held = held.learn_no_tool(far, said_none)
    assert held.holds == 30 and held.trust == learner.params.trust
    assert held.rerank(said_none, probe).no_tool
    mixed = held
    for _ in range(3):
        mixed = mixed.learn(far, "a", said_none)
    assert learner.params.trust - 0.05 < mixed.trust < learner.params.trust and mixed.rerank(said_none, probe).no_tool
    # A step answered without a tool that the static ranking gave one counts for neither.
    assert learner.learn_no_tool(far, _ranking(["a", "b"])).holds == 0
    assert learner.learn_no_tool(far, _ranking([])) is learner  # nothing was offered: nothing to learn


def test_a_step_answered_without_a_tool_is_scored_by_the_self_check(centres: list[np.ndarray]) -> None:
    """An arm that would have overridden a right "no tool" verdict loses; one that kept it does
    not; where the static ranking gave a tool and none was called, an arm that also gave one
    neither wins nor loses."""
    learner, probe = _votes_split(centres)
    lenient = replace(learner, params=replace(learner.params, trust=0.3, trust_floor=0.3))
    said_none = _ranking(["a", "b"], no_tool=True)
    assert not lenient.rerank(said_none, probe).no_tool
    after = lenient.learn_no_tool(probe, said_none)
    in_force = ARMS.index(lenient.arm)  # type: ignore[arg-type]
    assert after.checks[in_force][1] == lenient.checks[in_force][1] + 1 and after.losses == lenient.losses + 1
    kept = learner.learn_no_tool(probe, said_none)
    assert kept.checks == learner.checks and kept.losses == learner.losses
    gave = learner.learn_no_tool(probe, _ranking(["a", "b"]))
    assert gave.checks == learner.checks and gave.revealed == learner.revealed + 1
