"""The ask and its setting: a sentence of context around a request does not pick the tool.

`retrieval_focus.focus` is general English; the ranking tests use the real reference servers'
tools with the shipped parameters and encoder (as the gateway ranks them).
"""

from __future__ import annotations

import pytest

from mcproute.router.retrieval_focus import focus, sequenced
from reference_support import ReferenceIndex


@pytest.fixture(scope="module")
def reference(encoder) -> ReferenceIndex:  # noqa: ANN001
    return ReferenceIndex(encoder, examples=True)


@pytest.mark.parametrize(
    ("text", "ask", "setting"),
    [
        (
            "We are freezing features today. Could you make a new branch release/4.1 off main?",
            "Could you make a new branch release/4.1 off main?",
            "We are freezing features today.",
        ),
        (
            "What is the capital of Australia? My daughter asked me and I am not sure anymore.",
            "What is the capital of Australia?",
            "My daughter asked me and I am not sure anymore.",
        ),
        (
            "I've got a call in five minutes: pull up your entries for Northwind",
            "pull up your entries for Northwind",
            "I've got a call in five minutes",
        ),
        (
            "I ran 'git add .' by accident. Empty the index for me.",
            "Empty the index for me.",
            "I ran 'git add .' by accident.",
        ),
        # a statement, then an ask after its last comma (nineteenth session)
        (
            "everything's staged in ~/notes-app, commit it with the message 'fix dark mode toggle'",
            "commit it with the message 'fix dark mode toggle'",
            "everything's staged in ~/notes-app",
        ),
        (
            "i messed around with config.py in ~/bot and now nothing works, what exactly did i change lol",
            "what exactly did i change lol",
            "i messed around with config.py in ~/bot and now nothing works",
        ),
    ],
)
def test_the_ask_is_set_apart_from_its_setting(text: str, ask: str, setting: str) -> None:
    assert focus(text) == (ask, setting)


@pytest.mark.parametrize(
    "text",
    [
        "show me the last 3 commits",  # one sentence
        "Read /srv/app/robots.txt and v2.3.0/notes.md",  # periods inside words end nothing
        "delete Mr. Ito from memory",  # nor one after a title
        "Show me the log. Then list the branches.",  # every sentence asks
        "commit it as 'fix, then test'",  # a comma within quotes
        "make a new file /srv/shop/README.txt that says 'Open Mondays. Call us first.'",  # sentences quoted
        "apples, bananas, pears",  # a list, no ask after the comma
        "hi, list ~/Downloads",  # too short to be a statement
        "open notes.txt, add a line 'call mom'",  # both clauses ask
        "I need the euro rate. I want to know what 100 euro is in USD.",  # a statement of what is wanted asks
        "Did the mockups land in ~/shared/mockups yet? I just need to see what's in there.",  # "just need" too
        "The build is red. The logs are huge.",  # no sentence asks
        # a task description: its statements carry requests of their own
        "Imagine you are a teacher. You have two shapes. The first is a triangle. Find its area.",
    ],
)
def test_the_whole_text_is_the_ask_when_nothing_sets_it_apart(text: str) -> None:
    assert focus(text) == (text, "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the setting names what another tool does ("fixed", "compare", "staged"); the ask decides
        (
            "I just fixed the two config files in /srv/ops, config/prod.yaml and config/staging.yaml. Please stage"
            " them and then commit with 'Fix prod and staging timeouts'.",
            "git__git_add",
        ),
        (
            "I suspect the environments disagree. Please read config/dev.yaml, config/staging.yaml and"
            " config/prod.yaml under /srv/app together so we can compare them.",
            "filesystem__read_multiple_files",
        ),
        (
            "The staged changes in ~/projects/landing look good to me. Please commit them with the message 'Fix"
            " hero image alignment on mobile'.",
            "git__git_commit",
        ),
        # a statement, then the ask after a comma: "staged" is the setting's word, "commit" the ask's
        ("everything's staged in ~/notes-app, commit it with the message 'fix dark mode toggle'", "git__git_commit"),
        # and the setting still says what the ask is about ("it" = the file named before)
        (
            "The file notes_draft.md in ~/docs should be called meeting-notes.md. Please rename it.",
            "filesystem__move_file",
        ),
    ],
)
def test_a_request_with_a_setting_gets_the_tool_for_its_ask(
    reference: ReferenceIndex, text: str, expected: str
) -> None:
    r = reference.rank(text)
    assert not r.no_tool and r.candidates[0].name == expected, r.explanation


def test_the_explanation_names_the_ask_and_the_typos_it_read(reference: ReferenceIndex) -> None:
    r = reference.rank("We are freezing features today. Could you make a new brnach release/4.1 off main?")
    assert "the ask: 'Could you make a new brnach release/4.1 off main?'" in r.explanation
    assert "read 'brnach' as 'branch'" in r.explanation
    assert "the ask:" not in reference.rank("show me the last 3 commits").explanation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("prove why converting times across a DST change can go wrong, then get the current time in UTC", True),
        ("stage them and then commit with 'Fix prod'", True),
        ("explain rebasing. After that, show me the log of ~/repo", True),
        ("what exactly is going into my next commit", False),  # "next" is not an order of asks
        ("my course videos keep saying 'stage then commit' and I'm lost", False),  # no command after
        ("what time is it then in Tokyo", False),
    ],
)
def test_a_message_that_asks_for_a_command_after_something_else_is_sequenced(text: str, expected: bool) -> None:
    assert sequenced(text) is expected
