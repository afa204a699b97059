"""ToolIndex with sentence-encoder vectors attached (pure router: the vectors are given arrays)."""

from __future__ import annotations

import numpy as np

from mcproute.router.step import ToolSpec
from mcproute.router.tools import ToolIndex

TOOLS = [
    ToolSpec("time__get_current_time", "Get current time in a specific timezone", server="time"),
    ToolSpec("time__convert_time", "Convert time between timezones", server="time"),
    ToolSpec("git__git_log", "Shows the commit logs", server="git"),
    ToolSpec("git__git_status", "Shows the working tree status", server="git"),
]


def unit(i: int, dims: int = 8) -> np.ndarray:
    v = np.zeros(dims, dtype=np.float32)
    v[i] = 1.0
    return v


def test_attached_vectors_feed_the_cosine_and_an_update_drops_only_that_servers() -> None:
    index = ToolIndex(TOOLS)
    assert index.vector_count == 0
    assert index.attach_vectors({t.name: unit(i) for i, t in enumerate(TOOLS)} | {"nope__x": unit(7)}) == 4
    assert index.vector_count == 4
    # The query vector equals git_log's: its cosine feature is 1, the others' 0.
    pool, x, _ = index.features("history of the repository", vector=unit(2))
    from mcproute.router.retrieval_params import FEATURES

    cos = dict(zip((index._docs[s].spec.name for s in pool), x[:, FEATURES.index("cos")], strict=True))
    assert cos["git__git_log"] == 1.0 and all(v == 0.0 for n, v in cos.items() if n != "git__git_log")
    # Without a vector the static table's cosine is used: not exactly 1.
    pool2, x2, _ = index.features("history of the repository")
    cos2 = dict(zip((index._docs[s].spec.name for s in pool2), x2[:, FEATURES.index("cos")], strict=True))
    assert cos2.get("git__git_log", 0.0) != 1.0

    index.update(
        "git",
        [
            ToolSpec("git__git_log", "Shows the commit logs, newest first"),
            ToolSpec("git__git_status", "Shows the status"),
        ],
    )
    assert index.vector_count == 2  # time's two kept; git's texts may have changed, so dropped
    index.attach_vectors({"git__git_log": unit(2), "git__git_status": unit(3)})
    assert index.vector_count == 4
    ranked = index.rank("history of the repository", vector=unit(2))
    assert ranked.candidates and ranked.candidates[0].name == "git__git_log"


def test_a_renormalising_update_keeps_the_other_servers_vectors() -> None:
    index = ToolIndex(TOOLS[:2])
    index.attach_vectors({"time__get_current_time": unit(0), "time__convert_time": unit(1)})
    rows = index._enc
    # A server far larger than the rest moves the average field lengths: the index is rebuilt.
    big = [ToolSpec(f"big__tool_{i}", "a long description " * 30 + f"number {i}") for i in range(40)]
    index.update("big", big)
    assert index._enc is not rows  # rebuilt (renormalised), not updated in place
    assert len(index) == 42 and index.vector_count == 2
    pool, x, _ = index.features("convert the time", vector=unit(1))
    names = [index._docs[s].spec.name for s in pool]
    assert "time__convert_time" in names
