"""Composing content is not storing it: "write a haiku" asks for text in the reply, not a file.

These pin what the cue means (general English, no catalogue), and how the ranking uses it on the
real reference servers' tools: the file-writing tool may still be listed, but it is not trusted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcproute.encoding.texts import tool_text
from mcproute.router.retrieval_compose import composes, explains, stores
from mcproute.router.step import ToolSpec
from mcproute.router.tools import ToolIndex, specs_from_dicts

REFERENCE = Path(__file__).parent / "data" / "catalogs" / "reference_servers.json"


@pytest.mark.parametrize(
    "text",
    [
        "write a haiku about the sea",
        "compose a sonnet for my wife",
        "draft a reply to my boss saying I'll be late",
        "write a javascript function that checks for palindromes",
        "tell me a story about a brave toaster",
        "give me three slogans for a coffee shop",
        "rephrase this so it sounds friendlier",
        "turn my manager's bullet points into a short essay",  # an apostrophe is not a quote
        "write a short story about a lost file",  # the storage word is the topic, not a target
        "compose a limerick on the theme of folders, please",
    ],
)
def test_a_request_for_written_content_that_names_no_target_composes(text: str) -> None:
    assert composes(text)


@pytest.mark.parametrize(
    "text",
    [
        "write a poem to poem.txt",  # a file name
        "save a haiku about rain in my notes folder",  # a storage word
        "write a limerick into /tmp/out",  # a path
        "post a joke to https://example.org/jokes",  # a URL
        "write hello world to a file",
        "write a poem about rain and save it in my notes",  # the topic ends at "and": then a target
        "create a directory called poems",
        "what time is it in Lisbon?",  # no request to write at all
        "generate a 440Hz tone for 5 seconds, and what is the function to call?",  # the object is a tone
    ],
)
def test_a_request_that_names_storage_or_asks_for_no_writing_does_not_compose(text: str) -> None:
    assert not composes(text)


def test_quoted_text_is_material_to_work_on_not_a_target() -> None:
    assert composes('rewrite this more politely: "send me the file by noon"')
    assert not composes("rewrite the file intro.md more politely")


def test_a_tool_stores_when_it_creates_or_writes_files_or_directories() -> None:
    assert stores("write_file", "Create a new file or completely overwrite an existing file.", "create")
    assert stores("create_directory", "Create a new directory or ensure it exists.", "create")
    # Creating or sending something that is not a file is not storing in this sense.
    assert not stores("create_entities", "Create multiple new entities in the knowledge graph", "create")
    assert not stores("send_email", "Send an email with an attachment file", "send")
    assert not stores("read_file", "Read the complete contents of a file", "read")


@pytest.fixture(scope="module")
def reference(encoder):  # noqa: ANN001, ANN201 - mcproute.encoding.Encoder
    specs = specs_from_dicts(json.loads(REFERENCE.read_text(encoding="utf-8")))
    index = ToolIndex(specs)
    index.attach_vectors(dict(zip((s.name for s in specs), encoder.encode([tool_text(s) for s in specs]), strict=True)))
    return lambda text: index.rank(text, k=5, vector=encoder.encode_one(text))


@pytest.mark.parametrize(
    "text",
    [
        "write a sonnet about the moon",
        "write a go function that sums a slice",
        "compose a thank-you email to my team",
    ],
)
def test_pure_writing_needs_no_tool_on_the_reference_servers(reference, text: str) -> None:  # noqa: ANN001
    r = reference(text)
    assert r.no_tool, r.explanation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write a haiku about rain to haiku.txt", "filesystem__write_file"),
        ("create a folder called poems", "filesystem__create_directory"),
    ],
)
def test_writing_that_names_a_target_still_picks_the_storing_tool(reference, text: str, expected: str) -> None:  # noqa: ANN001
    r = reference(text)
    assert not r.no_tool and r.candidates[0].name == expected, r.explanation


def test_a_composing_request_still_trusts_a_leader_that_does_not_store() -> None:
    # A catalogue with a poem generator: the request is for content and this tool makes it.
    index = ToolIndex(
        [
            ToolSpec(
                "generate_poem",
                "Generate a poem on a topic in a given style.",
                {"type": "object", "properties": {"topic": {"type": "string"}}},
                "poems",
            )
        ]
    )
    r = index.rank("write a poem about autumn")
    assert not r.no_tool and r.candidates[0].name == "generate_poem", r.explanation


@pytest.mark.parametrize(
    "text",
    [
        "explain how a hash map handles collisions",
        "what is an index in SQL, roughly",
        "what's the difference between a process and a thread",
        "why does ice float on water",
        "describe photosynthesis in two sentences",
        "what does 'eventual consistency' mean",
    ],
)
def test_a_request_for_an_explanation_from_knowledge_explains(text: str) -> None:
    assert explains(text)


@pytest.mark.parametrize(
    "text",
    [
        "explain what changed in commit 3f9a2c1",  # a revision: a tool can show it
        "describe the files in ~/projects/site",  # a path
        "what is on https://example.org/status",  # a URL
        "explain the diff in my repo",  # a storage word
        "what's the time difference between Paris and Lima",  # a computation, not a definition
        "show me the last 3 commits",  # no explanation asked
    ],
)
def test_an_explanation_about_something_a_tool_can_reach_is_not_from_knowledge(text: str) -> None:
    assert not explains(text)


def test_an_explaining_request_gets_no_tool_on_the_reference_servers() -> None:
    specs = specs_from_dicts(json.loads(REFERENCE.read_text()))
    ranking = ToolIndex(specs).rank("explain the difference between a mutex and a semaphore")
    assert ranking.no_tool
    assert "asks for an explanation" in ranking.explanation
