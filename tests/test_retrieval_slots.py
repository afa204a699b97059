"""Argument slots: a request's typed values (a URL, file names, a revision, a clock time) point at
the tools whose input schema takes such a value. General rules over schemas, no catalogue names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcproute.router.retrieval_slots import number_fit, query_slots, slot_fit, tool_slots
from mcproute.router.tools import ToolIndex, specs_from_dicts

REFERENCE = Path(__file__).parent / "data" / "catalogs" / "reference_servers.json"


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("summarise https://example.org/post/1", {"url"}),
        ("what's on acme.io/pricing", {"url"}),
        ("open notes.md", {"path"}),
        ("make an empty .gitignore", {"path"}),
        ("compare a.txt with b.txt", {"path", "paths"}),
        ("what did 9fceb02 change", {"revision"}),
        ("README.md at v1.2.0", {"path", "revision"}),
        ("10:30 in Asia/Tokyo", {"clock", "zone"}),
        ("mail it to ana@example.com", {"email"}),
        ("the last 5 commits", {"number"}),
        ("how are you today?", set()),
        ("version 2.0 please", {"number"}),  # a version number is not a file
        ("show Makefile and Dockerfile at once", {"path", "paths"}),  # files named by convention
        ("how should I structure a README", set()),  # a kind of document, not a file here
        ("open ~/code/portal/.env.example", {"path"}),  # one path, with a copy's long suffix
        ("peek at package.json in ./webapp", {"path"}),  # the directory says where the file is
        ("move notes.txt into ./archive", {"path", "paths"}),  # a destination is a second path
        ("report.pdf in ~/Downloads belongs in ~/Documents/taxes", {"path", "paths"}),  # where it is, where it goes
        ("add up 45.20 + 112.75 + 8.99", {"expression", "number"}),
        ("what is (24.50 - 3) * 0.15", {"expression", "number"}),
        ("what percent of the order never came", {"expression"}),
        ("15% of 86.40", {"expression", "number"}),
        ("acct 55-0098123, call 555-0142", {"number"}),  # a minus without spaces is a hyphen
        ("due 2024-06-12", {"number"}),
    ],
)
def test_the_kinds_of_value_a_request_carries(text: str, kinds: set[str]) -> None:
    assert query_slots(text) == kinds


def test_a_schema_says_which_kinds_a_tool_takes() -> None:
    assert tool_slots({"properties": {"url": {"type": "string"}, "max_length": {"type": "integer"}}}) == {
        "url",
        "number",
    }
    assert tool_slots({"properties": {"paths": {"type": "array", "items": {"type": "string"}}}}) == {"path", "paths"}
    assert tool_slots({"properties": {"source": {"type": "string"}, "destination": {"type": "string"}}}) == {
        "path",
        "paths",
    }
    # "source" inside a longer name is not a path, and a description can name the kind
    assert tool_slots({"properties": {"source_timezone": {"type": "string"}}}) == {"zone"}
    assert "url" in tool_slots({"properties": {"target": {"type": "string", "description": "The URL to open"}}})
    # nested objects and array items count
    nested = {
        "properties": {
            "items": {"type": "array", "items": {"type": "object", "properties": {"sha": {"type": "string"}}}}
        }
    }
    assert "revision" in tool_slots(nested)
    assert tool_slots({"type": "object"}) == frozenset()


def test_fit_is_all_or_nothing_on_typed_values_and_separate_for_numbers() -> None:
    assert slot_fit(frozenset({"url"}), frozenset({"url"})) == 1.0
    assert slot_fit(frozenset({"url"}), frozenset({"path"})) == -1.0
    assert slot_fit(frozenset({"path", "paths"}), frozenset({"path"})) == 0.0
    assert slot_fit(frozenset({"number"}), frozenset()) == 0.0  # numbers are number_fit's
    assert number_fit(frozenset({"number"}), frozenset({"number"})) == 1.0
    assert number_fit(frozenset({"number"}), frozenset({"path"})) == -1.0
    assert number_fit(frozenset(), frozenset({"number"})) == 0.0


def test_arithmetic_counts_for_a_calculator_and_never_against_another_tool() -> None:
    calculator = tool_slots({"properties": {"expression": {"type": "string", "description": "e.g. '1650 * 12'"}}})
    assert calculator == {"expression"}
    assert "expression" in tool_slots({"properties": {"q": {"type": "string", "description": "An arithmetic formula"}}})
    sums = query_slots("add up 45.20 + 112.75 + 8.99")
    assert slot_fit(sums, calculator) == 1.0
    # `CalcProduct(a, b)` multiplies "443 * 349" too: a tool that does not take an expression loses nothing
    assert slot_fit(sums, tool_slots({"properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}})) == 0.0


def test_a_url_sends_a_request_without_tool_words_to_the_tool_that_takes_one() -> None:
    index = ToolIndex(specs_from_dicts(json.loads(REFERENCE.read_text())))
    ranking = index.rank("thoughts on https://example.org/essays/why-rust ?")
    assert ranking.candidates[0].name == "fetch__fetch"


def test_a_negated_verb_is_not_the_action_asked_for() -> None:
    from mcproute.router.retrieval_features import _drop_negated

    assert _drop_negated("which files have I modified but not committed") == "which files have I modified but not "
    assert "delete" not in _drop_negated("don't delete anything, just list the files")
    assert "staged" not in _drop_negated("files that haven't been staged yet")
    assert _drop_negated("delete the notes") == "delete the notes"
