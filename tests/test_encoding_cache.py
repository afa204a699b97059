"""The tool-vector cache: a restart or a catalogue change re-encodes only the texts that changed."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from mcproute.encoding import Encoder
from mcproute.encoding.cache import ToolVectorCache
from mcproute.encoding.texts import tool_text
from mcproute.router.step import ToolSpec


class Counting:
    """The real encoder, counting the texts it is asked to run."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.texts: list[str] = []

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.extend(texts)
        return self.inner.encode(texts)


TOOLS = [
    ToolSpec("time__get_current_time", "Get current time in a specific timezone", server="time"),
    ToolSpec("time__convert_time", "Convert time between timezones", server="time"),
    ToolSpec("git__git_log", "Shows the commit logs", server="git"),
    ToolSpec("git__git_status", "Shows the working tree status", server="git"),
    ToolSpec("memory__create_entities", "Create multiple new entities in the knowledge graph", server="memory"),
]


def test_a_restart_reads_every_vector_back_and_a_change_encodes_only_itself(encoder: Encoder, tmp_path: Path) -> None:
    db = tmp_path / "vectors.sqlite3"
    texts = [tool_text(t) for t in TOOLS]
    first = Counting(encoder)
    got = ToolVectorCache(db).vectors(first, texts)
    assert first.texts == texts and got.encoded == len(texts)
    np.testing.assert_array_equal(got.vectors, encoder.encode(texts))

    # A new process (new cache object, same file): nothing is encoded.
    restart = Counting(encoder)
    cache = ToolVectorCache(db)
    again = cache.vectors(restart, texts)
    assert restart.texts == [] and again.from_disk == len(texts)
    np.testing.assert_array_equal(again.vectors, got.vectors)

    # list_changed: git_log's description changed, a tool was added, one removed.
    changed = [
        *TOOLS[:2],
        ToolSpec("git__git_log", "Shows the commit logs, newest first", server="git"),
        *TOOLS[3:4],
        ToolSpec("fetch__fetch", "Fetches a URL from the internet", server="fetch"),
    ]
    new_texts = [tool_text(t) for t in changed]
    third = cache.vectors(restart, new_texts)
    assert restart.texts == [new_texts[2], new_texts[4]]
    assert third.from_memory == 3 and third.encoded == 2
    np.testing.assert_array_equal(third.vectors[2], encoder.encode([new_texts[2]])[0])


def test_duplicate_texts_are_encoded_once(encoder: Encoder) -> None:
    c = Counting(encoder)
    got = ToolVectorCache(None).vectors(c, ["read a file", "read a file", "write a file"])
    assert c.texts == ["read a file", "write a file"]
    np.testing.assert_array_equal(got.vectors[0], got.vectors[1])


def test_another_model_id_never_reads_these_vectors(encoder: Encoder, tmp_path: Path) -> None:
    db = tmp_path / "v.sqlite3"
    ToolVectorCache(db).vectors(encoder, ["list the files"])

    class Other(Counting):
        @property
        def model_id(self) -> str:
            return "another-model@0/int8"

    other = Other(encoder)
    ToolVectorCache(db).vectors(other, ["list the files"])
    assert other.texts == ["list the files"]


def test_an_unusable_cache_file_is_reported_and_skipped(
    encoder: Encoder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = tmp_path / "v.sqlite3"
    bad.write_bytes(b"this is not a database" * 100)
    cache = ToolVectorCache(bad)
    c = Counting(encoder)
    got = cache.vectors(c, ["read a file"])
    assert c.texts == ["read a file"] and got.vectors.shape == (1, encoder.dim)
    assert "tool-vector cache is off" in caplog.text and str(bad) in cache.problem
    with pytest.raises(sqlite3.DatabaseError):  # the file was left as it was, not overwritten
        sqlite3.connect(bad).execute("SELECT 1 FROM tool_vectors")


def test_tool_text_is_the_name_in_words_then_the_description() -> None:
    assert tool_text(TOOLS[2]) == "git git log: Shows the commit logs"
    assert tool_text(ToolSpec("fs__listDir", "  Lists\n a directory. ")) == "fs list dir: Lists a directory."
    assert tool_text(ToolSpec("x__ping")) == "x ping"


@pytest.mark.parametrize(
    ("description", "first"),
    [
        (
            "Activate a newly issued card. Only for cards in status 'pending_activation'.",
            "Activate a newly issued card.",
        ),
        ("Get weather.\n\n    Args:\n        city: the city", "Get weather."),
        (
            "Set the notes the courier sees (e.g. leave at door). Does not change the address.",
            "Set the notes the courier sees (e.g. leave at door).",
        ),
        ("Upgrade to v1.2. Then restart.", "Upgrade to v1.2."),
        ("Is the service up? Returns a status.", "Is the service up?"),
        ("one sentence without a full stop", "one sentence without a full stop"),
    ],
)
def test_a_tools_vector_reads_its_descriptions_first_sentence(description: str, first: str) -> None:
    # what the tool does; the preconditions and return values after it are shared by its siblings
    assert tool_text(ToolSpec("bank__tool", description)) == f"bank tool: {first}"
