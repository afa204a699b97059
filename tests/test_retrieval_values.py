"""A request's values are not what it asks: where a path points, which page a URL names, what a
quoted text says. The checkout at "/check/work/main" made "Show the git log of the repository at
/check/work/main" ask for `git_status` ("check", "work": "Shows the working tree status"), in CI
and nowhere else: the folders were read as the request's words and moved its sentence vector. The
ranking now reads a path without its folders, a URL without its page and a quote without its
words (`retrieval_slots.folded`); the slots still read them whole."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mcproute.router.retrieval_slots import folded, query_slots
from reference_support import ReferenceIndex

# examples/agents/offline.yaml: the time server and git's read-only tools.
AGENT_TOOLS = {
    "time__get_current_time",
    "time__convert_time",
    *(
        f"git__{t}"
        for t in ("git_status", "git_log", "git_diff_unstaged", "git_diff_staged", "git_diff", "git_show", "git_branch")
    ),
}
PLACES = ["/check/work/main", "/home/check/status/working", "/tmp/ci52/main", "~/diff/staged/show", r"C:\work\status"]


@pytest.mark.parametrize(
    ("text", "words", "vector"),
    [
        ("git log of /check/work/main", "git log of main/", "git log of /"),
        ("read ~/code/app/src/main.py", "read main.py", "read main.py"),
        ("what's in /var/log/nginx?", "what's in nginx/?", "what's in /?"),
        ("open ./webapp/.env.example", "open .env.example", "open .env.example"),
        (r"commits in C:\Lab\eye-tracking", "commits in eye-tracking/", "commits in /"),
        ("diff src/app/main.go", "diff main.go", "diff main.go"),
        ("summarise https://example.com/blog/git-log-tips", "summarise https://", "summarise https://"),
        ("what's on acme.io/pricing", "what's on https://", "what's on https://"),
        # a short quote's words are not the request's; the sentence vector reads it whole
        (
            "notes.txt containing 'git status is clean'",
            'notes.txt containing ""',
            "notes.txt containing 'git status is clean'",
        ),
        ("Mochi's record: “hates the vacuum”", 'Mochi\'s record: ""', "Mochi's record: “hates the vacuum”"),
        (
            "run 'git log' and say `git status`",
            "run 'git log' and say `git status`",
            "run 'git log' and say `git status`",
        ),
    ],
)
def test_a_path_keeps_its_file_name_and_loses_its_folders_a_url_its_page_a_quote_its_words(
    text: str, words: str, vector: str
) -> None:
    assert folded(text, words=True) == words
    assert folded(text) == vector


@pytest.mark.parametrize(
    "text",
    [
        "10:30 from Asia/Tokyo to America/New_York",  # zone names are not paths
        "input and/or output of src/app over TCP/IP",  # one slash: words, not a place
        "was it 2024/03/01 or 1/2/3?",  # dates and fractions
        "no path here at all",
    ],
)
def test_what_is_not_a_folder_path_is_left_as_it_is(text: str) -> None:
    assert folded(text) == text == folded(text, words=True)


@pytest.mark.parametrize(
    "text",
    [
        '"What is the capital city of Australia, and what is the current population of Canada?"',  # all quoted
        "The user wrote: 'show me what changed in my repo'",  # a quote that is the request
        "run 'git log --oneline' in ~/app",
        "rewrite: 'Dear team, the release is delayed because the build server is down again this week'",  # long
    ],
)
def test_a_quote_that_is_the_request_keeps_its_words(text: str) -> None:
    inner = re.search(r"[\"'](.+)[\"']", text)
    assert inner is not None and inner.group(1) in folded(text, words=True)


def test_the_slots_still_see_the_whole_path() -> None:
    text = "list the files in /home/me/git/status-page"
    assert "path" in query_slots(text)
    assert folded(text) == "list the files in /"  # the ranking's reading; query_slots reads `text`
    assert "url" in query_slots("summarise https://example.com/blog/git-log-tips")


def test_the_step_vector_does_not_move_with_the_folders(encoder) -> None:  # noqa: ANN001
    one, two = (encoder.encode_one(f"Show the git log of the repository at {p}") for p in PLACES[:2])
    assert np.array_equal(one, two)
    named = encoder.encode_one("read /srv/x/error.log"), encoder.encode_one("read /srv/x/notes.md")
    assert not np.array_equal(*named)  # a file's name is kept: it says what the file holds


@pytest.fixture(scope="module")
def agent_tools(encoder) -> ReferenceIndex:  # noqa: ANN001
    return ReferenceIndex(encoder, examples=True, only=AGENT_TOOLS)


@pytest.fixture(scope="module")
def reference(encoder) -> ReferenceIndex:  # noqa: ANN001
    return ReferenceIndex(encoder, examples=True)


def test_the_repository_s_location_does_not_choose_the_git_tool(agent_tools: ReferenceIndex) -> None:
    """The examples/agents loop's third step, wherever the checkout is (each failed before on
    one of these places: git_status first)."""
    ranked = {p: agent_tools.rank(f"Show the git log of the repository at {p}") for p in PLACES}
    for place, r in ranked.items():
        assert not r.no_tool and r.candidates[0].name == "git__git_log", (place, r.explanation)
    rooted = [[c.name for c in r.candidates] for p, r in ranked.items() if p != PLACES[-1]]
    assert all(names == rooted[0] for names in rooted)  # the same ranking, not just the same leader
    status = agent_tools.rank("Show the git status of the repository at /home/log/history/commits")
    assert status.candidates[0].name == "git__git_status"


@pytest.mark.parametrize(
    ("text", "tool"),
    [
        ("list the files in /home/me/git/status-page", "filesystem__list_directory"),
        ("what's in /var/log/nginx", "filesystem__list_directory"),
        ("summarise https://example.com/blog/git-log-tips", "fetch__fetch"),  # was git_log
        ("create a file notes.txt in ~/docs containing 'git status is clean'", "filesystem__write_file"),  # no tool
        ("commit in ~/app with message 'list the directory before reading files'", "git__git_commit"),  # list_directory
        ("run 'git log --oneline' in ~/app", "git__git_log"),  # the quoted command is the ask
    ],
)
def test_a_folder_page_or_quote_that_reads_like_a_tool_does_not_take_the_request(
    reference: ReferenceIndex, text: str, tool: str
) -> None:
    r = reference.rank(text)
    assert not r.no_tool and r.candidates[0].name == tool, r.explanation
