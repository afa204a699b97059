"""The examples' classifier (router/retrieval_head.py): fitted on the taught requests, it orders
the taught tools, and leaves them where they stood against tools nobody taught."""

from __future__ import annotations

import numpy as np
import pytest

from mcproute.router import retrieval_examples as examples_module, tools as tools_module
from mcproute.router.retrieval_examples import NO_TOOL
from mcproute.router.retrieval_head import HEAD_WEIGHT, MIN_EXAMPLES, fit_head
from mcproute.router.step import ToolSpec
from mcproute.router.tools import ToolIndex

DIMS = 16


def unit(i: int) -> np.ndarray:
    v = np.zeros(DIMS, dtype=np.float32)
    v[i] = 1.0
    return v


def around(center: np.ndarray, n: int, seed: int, spread: float = 0.35) -> np.ndarray:
    """`n` unit rows scattered around `center`."""
    rng = np.random.default_rng(seed)
    rows = center + spread * rng.standard_normal((n, DIMS)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_it_tells_apart_requests_that_share_a_topic_but_not_a_direction() -> None:
    """Two tools whose requests share most of their meaning (dimension 0) and differ in a little
    (dimension 1 up or down): the classifier picks the side, and a third class for no tool."""
    add = around(unit(0) + 0.4 * unit(1), 30, seed=1, spread=0.15)
    delete = around(unit(0) - 0.4 * unit(1), 30, seed=2, spread=0.15)
    chat = around(unit(5), 30, seed=3, spread=0.15)
    head = fit_head({"add": add, "delete": delete, NO_TOOL: chat})
    assert head is not None and set(head.names) == {"add", "delete", NO_TOOL}
    leaning = (unit(0) + 0.25 * unit(1)) / np.linalg.norm(unit(0) + 0.25 * unit(1))
    p = head.probabilities(leaning)
    assert p["add"] > 0.9 and p["delete"] < 0.05, p
    assert head.probabilities(unit(5))[NO_TOOL] > 0.9
    assert abs(sum(p.values()) - 1.0) < 1e-5


def test_a_class_with_few_examples_is_left_out_and_one_class_is_no_classifier() -> None:
    few = around(unit(2), MIN_EXAMPLES - 1, seed=4)
    enough = around(unit(3), MIN_EXAMPLES, seed=5)
    other = around(unit(4), MIN_EXAMPLES, seed=6)
    head = fit_head({"few": few, "enough": enough, "other": other})
    assert head is not None and head.names == ("enough", "other")
    assert fit_head({"few": few, "enough": enough}) is None
    assert fit_head({}) is None


def test_the_fit_is_deterministic_so_a_replay_decides_the_same() -> None:
    rows = {"a": around(unit(0), 25, seed=7), "b": around(unit(1), 25, seed=8)}
    one, two = fit_head(rows), fit_head({k: v.copy() for k, v in rows.items()})
    assert one is not None and two is not None
    assert np.array_equal(one.weights, two.weights) and np.array_equal(one.bias, two.bias)


def _index() -> ToolIndex:
    specs = [
        ToolSpec("s__add_note", "Add a note to a record.", {"type": "object"}, "s"),
        ToolSpec("s__delete_note", "Delete a note from a record.", {"type": "object"}, "s"),
        ToolSpec("o__untaught_note", "Keep a note somewhere else.", {"type": "object"}, "o"),
    ]
    index = ToolIndex(specs)
    index.attach_vectors(
        {"s__add_note": unit(0), "s__delete_note": unit(0), "o__untaught_note": unit(0)},
        examples={
            "s__add_note": around(unit(0) + 0.4 * unit(1), 30, seed=1, spread=0.15),
            "s__delete_note": around(unit(0) - 0.4 * unit(1), 30, seed=2, spread=0.15),
            NO_TOOL: around(unit(5), 30, seed=3, spread=0.15),
        },
    )
    return index


def test_the_classifier_reorders_the_taught_tools_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    step = (unit(0) + 0.25 * unit(1)) / np.linalg.norm(unit(0) + 0.25 * unit(1))
    with_head = _index().rank("note", k=3, vector=step)
    monkeypatch.setattr(examples_module, "HEAD_WEIGHT", 0.0)
    without = _index().rank("note", k=3, vector=step)
    scores = {c.name: c.score for c in with_head.candidates}
    plain = {c.name: c.score for c in without.candidates}
    # the likely taught tool gains up to HEAD_WEIGHT; its unlikely sibling and the tool nobody
    # taught gain nothing and lose nothing
    assert scores["s__add_note"] > plain["s__add_note"] + 0.9 * HEAD_WEIGHT
    assert scores["s__delete_note"] == pytest.approx(plain["s__delete_note"], abs=0.05 * HEAD_WEIGHT)
    assert scores["o__untaught_note"] == pytest.approx(plain["o__untaught_note"])
    assert with_head.candidates[0].name == "s__add_note"


def test_a_step_the_classifier_finds_needs_no_tool_does_not_hand_the_lead_to_an_untaught_tool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every taught tool is unlikely for a step like the no-tool requests; none of them gains or
    loses ground against the tool nobody taught."""
    chat = (unit(0) + 2.0 * unit(5)) / np.linalg.norm(unit(0) + 2.0 * unit(5))
    with_head = _index().rank("note", k=3, vector=chat)
    monkeypatch.setattr(examples_module, "HEAD_WEIGHT", 0.0)
    without = _index().rank("note", k=3, vector=chat)
    assert with_head.candidates[0].name == without.candidates[0].name
    assert with_head.no_tool_score >= without.no_tool_score


def test_a_step_the_classifier_finds_needs_no_tool_fits_less_and_the_reason_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chat = (unit(0) + 2.0 * unit(5)) / np.linalg.norm(unit(0) + 2.0 * unit(5))
    doubted = _index().rank("note", k=3, vector=chat)
    assert "the examples' classifier gives no tool" in doubted.explanation, doubted.explanation
    # as the nearest-requests vote: not for a command asked after something else, nor for a path
    # the leader takes (retrieval_gates.points_at); these tools take none, so a path does not spare them
    told = "tell me about notes, then add a note"
    assert "the examples' classifier gives no tool" not in _index().rank(told, k=3, vector=chat).explanation
    assert (
        "the examples' classifier gives no tool" in _index().rank("note /tmp/notes.txt", k=3, vector=chat).explanation
    )
    monkeypatch.setattr(tools_module, "FIT_HEAD", 0.0)
    plain = _index().rank("note", k=3, vector=chat)
    assert doubted.no_tool_score > plain.no_tool_score
    # a step it reads as a request for a taught tool keeps its P(fit): the term only lowers
    step = (unit(0) + 0.25 * unit(1)) / np.linalg.norm(unit(0) + 0.25 * unit(1))
    asked = _index().rank("note", k=3, vector=step)
    monkeypatch.undo()
    assert _index().rank("note", k=3, vector=step).no_tool_score == pytest.approx(asked.no_tool_score)


def test_the_bonus_waits_for_a_taught_tool_to_lead(monkeypatch: pytest.MonkeyPatch) -> None:
    """A step whose words lead to a tool nobody taught keeps it first, however sure the classifier
    is of a taught one (it knows only the taught tools: next to an airline's, it sent a flight
    search to convert_time)."""
    monkeypatch.setattr(examples_module, "HEAD_WEIGHT", 20.0)  # large enough to pass any lead
    ranked = _index().rank("note somewhere else", k=3, vector=unit(1))
    assert ranked.candidates[0].name == "o__untaught_note", ranked.explanation
    # and once a taught tool leads, the same bonus does decide among the taught ones
    step = (unit(0) + 0.25 * unit(1)) / np.linalg.norm(unit(0) + 0.25 * unit(1))
    assert _index().rank("note", k=3, vector=step).candidates[0].name == "s__add_note"
