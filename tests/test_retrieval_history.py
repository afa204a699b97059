"""What a conversation's history may do to the next step's tools, over the five reference servers
(measured on `tests/data/everyday_convs_dev.jsonl` with `mcproute eval multiturn`):

- history counts as much as the step is related to it: a new subject is ranked on its own words
  ("what do you know about Alice" after "show git status" went to `git_status` and fitted nothing);
- a short follow-up led by a tool of the server the conversation last used continues that work,
  and fits more readily ("and to india?" after a conversion fitted no tool on its own words);
- neither makes a request that needs no tool call one;
- history reorders, it does not hide: the two tools the step ranks best on its own stay among the
  five `run_step` offers ("it cut off, get the rest" after a fetch had lost `fetch` from them);
- the same request again is led by the last tool ("and in lisbon?"), an item of the last result
  picked by its place or, in a command, by what it is ("open the lasagna one") by a tool of the
  server that gave it ("open the second one"), and a change
  to what the last step showed by that server's tool that changes a thing in place ("double the
  sugar in it" after a file was read: `edit_file`)."""

from __future__ import annotations

import pytest

from mcproute.router.retrieval_followups import amends, picks, repeats
from mcproute.router.retrieval_history import offer
from mcproute.router.retrieval_types import RetrievalContext
from reference_support import ReferenceIndex


@pytest.fixture(scope="module")
def ref(encoder) -> ReferenceIndex:  # noqa: ANN001 - mcproute.encoding.Encoder
    return ReferenceIndex(encoder, examples=True)


def after(text: str, tool: str) -> RetrievalContext:
    """The context of a step that follows `text`, which called `tool`."""
    return RetrievalContext(tools_used=(tool,), servers_used=(tool.split("__")[0],), recent_texts=(text,))


def test_a_new_subject_is_ranked_on_its_own_words(ref: ReferenceIndex) -> None:
    ask = "what do you know about Alice"
    alone = ref.rank(ask)
    switched = ref.rank(ask, context=after("show git status of ~/code/api", "git__git_status"))
    assert not alone.no_tool and alone.candidates[0].name == "memory__search_nodes"
    assert not switched.no_tool and switched.candidates[0].name == "memory__search_nodes"


def test_a_follow_up_on_the_last_server_fits(ref: ReferenceIndex) -> None:
    alone = ref.rank("and in lisbon?")
    follow = ref.rank("and in lisbon?", context=after("what time is it in tokyo", "time__get_current_time"))
    assert alone.no_tool
    assert not follow.no_tool and follow.candidates[0].name.startswith("time__")
    assert "it continues the conversation's work on time (raises P(fit))" in follow.explanation


@pytest.mark.parametrize(
    ("before", "tool", "ask"),
    [
        ("show me what's staged in ~/code/bot", "git__git_diff_staged", "commit it as 'add retry logic'"),
        (
            "fetch https://www.rfc-editor.org/rfc/rfc2324",
            "fetch__fetch",
            "get me more of that rfc from where you stopped",
        ),
    ],
)
def test_only_a_leader_on_the_last_server_gains(ref: ReferenceIndex, before: str, tool: str, ask: str) -> None:
    """The raise moves P(fit), not the ranking, and only for a leader of that server."""
    alone, follow = ref.rank(ask), ref.rank(ask, context=after(before, tool))
    assert follow.candidates[0].name.split("__")[0] == tool.split("__")[0]
    assert follow.no_tool_score < alone.no_tool_score
    elsewhere = ref.rank(ask, context=after("what time is it in tokyo", "time__get_current_time"))
    assert "continues the conversation's work" not in elsewhere.explanation


@pytest.mark.parametrize(
    ("before", "tool", "ask"),
    [
        ("show git status of ~/code/api", "git__git_status", "thanks, that's all for today"),
        ("what time is it in tokyo", "time__get_current_time", "write me a haiku about autumn"),
    ],
)
def test_chat_after_a_tool_step_still_needs_no_tool(ref: ReferenceIndex, before: str, tool: str, ask: str) -> None:
    assert ref.rank(ask, context=after(before, tool)).no_tool


@pytest.mark.parametrize(
    ("before", "tool", "ask"),
    [
        ("fetch https://www.rfc-editor.org/rfc/rfc2324", "fetch__fetch", "it cut off, get the rest"),
        (
            "remember that Bo and Kim married in 2019",
            "memory__create_entities",
            "remember that their anniversary is june 2",
        ),
        ("write my garden list to garden.txt: 1. soil 2. seeds", "filesystem__write_file", "add 3. compost bin"),
        ("what time is it in tokyo", "time__get_current_time", "ok then just remember that i need to call the bank"),
    ],
)
def test_history_keeps_the_steps_own_best_two_in_the_top_five(
    ref: ReferenceIndex, before: str, tool: str, ask: str
) -> None:
    own = [c.name for c in ref.rank(ask).candidates[:2]]
    offered = [c.name for c in ref.rank(ask, context=after(before, tool)).candidates[:5]]
    assert set(own) <= set(offered), (own, offered)


@pytest.mark.parametrize(
    ("text", "again"),
    [
        ("now the same for ~/Downloads", True),
        ("ok, same with the shop repo", True),
        ("and in lisbon?", True),
        ("and to india?", True),
        ("do the same thing for the staging server", True),
        ("and in the meantime, could you write me a haiku about autumn rain falling?", False),  # too long
        ("the same as before, please explain it", False),
        ("what about her colleague Ruth?", False),  # another question, not the same request
    ],
)
def test_a_request_for_the_same_again_names_what_changes(text: str, again: bool) -> None:
    assert repeats(text) is again


@pytest.mark.parametrize(
    ("before", "tool", "ask"),
    [
        ("list ~/music with sizes", "filesystem__list_directory_with_sizes", "now the same for ~/videos"),
        ("what time is it in tokyo", "time__get_current_time", "and in lisbon?"),
    ],
)
def test_the_same_again_is_led_by_the_last_tool(ref: ReferenceIndex, before: str, tool: str, ask: str) -> None:
    follow = ref.rank(ask, context=after(before, tool))
    assert not follow.no_tool and follow.candidates[0].name == tool, follow.explanation
    assert "it asks for the last step's request again" in follow.explanation


def test_offer_moves_a_kept_row_into_the_five_without_touching_the_leader() -> None:
    order, scores = list(range(8)), [8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]
    moved, rescored = offer(order, scores, [0, 6])  # row 6 was seventh
    assert moved[:5] == [0, 1, 2, 3, 6] and moved[0] == 0
    assert [rescored[i] for i in moved] == sorted((rescored[i] for i in moved), reverse=True)
    assert offer(order, scores, [0, 3]) == (order, scores)  # both already offered: nothing moves
    two, rescored = offer(order, scores, [7, 6])  # both outside: both in, in the order kept
    assert two[:5] == [0, 1, 2, 7, 6]
    assert [rescored[i] for i in two] == sorted((rescored[i] for i in two), reverse=True)


@pytest.mark.parametrize(
    ("text", "picked"),
    [
        ("open the second one", True),
        ("show me the top one", True),
        ("and the 2nd one in that list?", True),
        ("it cut off, get the rest", True),
        ("get me more of that rfc from where you stopped", False),  # names what it continues
        ("ok show me the rest of it", True),
        ("what's the weather for the rest of the week", False),  # not a result's rest
        ("show me the latest commit", False),  # a request of its own, not an item of a result
        ("which one is ahead, the first or the other one?", False),
        ("open the second one and then write a summary of it to ~/notes/summary.md please", False),  # long
        ("open the lasagna one", True),  # by what it is, in a command
        ("read the one from march", True),
        ("tell me the funniest one", False),  # the model answers from the result it has
        ("which one is the best one?", False),  # a question
        ("use the other one", False),
    ],
)
def test_an_item_of_the_last_result_is_picked_by_its_place(text: str, picked: bool) -> None:
    assert picks(text) is picked


@pytest.mark.parametrize(
    ("before", "tool", "ask", "lead"),
    [
        ("fetch https://lobste.rs and list the headlines", "fetch__fetch", "open the third one", "fetch__fetch"),
        ("git log for ~/code/api, last 10", "git__git_log", "show me the first one", "git__git_show"),
        ("fetch https://example.com/changelog", "fetch__fetch", "it stopped halfway, get the rest", "fetch__fetch"),
        ("list ~/notes", "filesystem__list_directory", "read the one from march", "filesystem__read_file"),
        ("list ~/recipes", "filesystem__list_directory", "open the lasagna one", "filesystem__read_file"),
    ],
)
def test_an_item_of_the_last_result_goes_to_the_server_that_gave_it(
    ref: ReferenceIndex, before: str, tool: str, ask: str, lead: str
) -> None:
    """ "open the second one" after a fetch was led by memory's open_nodes and fitted no tool: said
    alone it names no tool. Picked from the last result, it is for that result's server."""
    follow = ref.rank(ask, context=after(before, tool))
    assert not follow.no_tool and follow.candidates[0].name == lead, follow.explanation
    assert "it picks out an item of the last step's result" in follow.explanation
    alone = ref.rank(ask)
    assert alone.no_tool or alone.candidates[0].name != lead  # the history, not the words, decides


@pytest.mark.parametrize(
    ("text", "change"),
    [
        ("make it two cups of sugar", "create"),
        ("bump the font size to 13", "write"),
        ("add a row for march rent, 1200", "create"),
        ("actually make it 12.5", "create"),
        ("change 'Priya' to 'Pria' everywhere, i misspelled it", "write"),
        ("oh, delete the last line", "delete"),
        ("remember that this is my go-to recipe", None),  # a fact to keep
        ("write me a summary of it", None),  # text to write in the reply
        ("add .env to the .gitignore", None),  # names what it changes
        ("how would you make it sound less stiff?", None),  # a question
        ("show it to me", None),  # changes nothing
    ],
)
def test_a_change_to_what_the_last_step_showed(text: str, change: str | None) -> None:
    assert amends(text) == change


@pytest.mark.parametrize(
    ("before", "tool", "ask", "lead"),
    [
        (
            "read ~/recipes/banana-bread.md",
            "filesystem__read_text_file",
            "make it two cups of sugar",
            "filesystem__edit_file",
        ),
        (
            "show ~/finance/budget.csv",
            "filesystem__read_text_file",
            "add a row for march rent, 1200",
            "filesystem__edit_file",
        ),
        # edit_file shares no word with it and is not among its nearest tools: the server's tools join the pool
        (
            "what's in ~/dev/api/.python-version",
            "filesystem__read_text_file",
            "update it to the latest",
            "filesystem__edit_file",
        ),
        (
            "what do you have on Marta?",
            "memory__open_nodes",
            "update that, she lives in Porto now",
            "memory__add_observations",
        ),
    ],
)
def test_a_change_to_what_the_last_step_showed_is_made_in_place_by_its_server(
    ref: ReferenceIndex, before: str, tool: str, ask: str, lead: str
) -> None:
    """ "make it two cups of sugar" after a recipe was read names nothing of its own to change, and
    such steps went to memory's add_observations or fitted no tool. After the read, the file is what it
    changes, and the server's tool that edits in place (not write_file, which overwrites) leads."""
    follow = ref.rank(ask, context=after(before, tool))
    assert not follow.no_tool and follow.candidates[0].name == lead, follow.explanation
    assert "it changes what the last step showed" in follow.explanation


@pytest.mark.parametrize(
    ("before", "tool", "ask"),
    [
        ("read ~/drafts/cover-letter.md", "filesystem__read_text_file", "write me a summary of it"),
        ("list ~/projects", "filesystem__list_directory", "add a short description of each"),  # a listing
    ],
)
def test_other_steps_after_a_read_are_not_changes_to_it(ref: ReferenceIndex, before: str, tool: str, ask: str) -> None:
    follow = ref.rank(ask, context=after(before, tool))
    assert "it changes what the last step showed" not in follow.explanation


@pytest.mark.parametrize(
    ("before", "tool", "ask", "lead"),
    [
        ("show me what's staged in ~/code/bot", "git__git_diff_staged", "good, ok commit that", "git__git_commit"),
        (
            "show me what's staged in ~/code/bot",
            "git__git_diff_staged",
            "commit it as 'add retry logic'",
            "git__git_commit",
        ),
        ("what's the status of ~/code/garden", "git__git_status", "add everything", "git__git_add"),
    ],
)
def test_a_command_whose_verb_names_a_tool_of_the_last_server_is_for_it(
    ref: ReferenceIndex, before: str, tool: str, ask: str, lead: str
) -> None:
    """ "good, ok commit that" after the staged diff was led by git_diff_staged (the history's
    tool) and "commit it as 'add retry logic'" fitted no tool (its nearest taught requests ask for
    a commit message to be written). In a conversation on git, "commit" names git_commit."""
    follow = ref.rank(ask, context=after(before, tool))
    assert not follow.no_tool and follow.candidates[0].name == lead, follow.explanation
    assert f"its verb names {lead}" in follow.explanation


def test_a_verb_names_no_tool_whose_other_words_a_rival_says() -> None:
    """ "could you adjust the cruise control to 65 mph" after a vehicle step: the verb names
    adjustClimateControl, but setCruiseControl's name says "cruise control"; the ranking decides."""
    from mcproute.router.step import ToolSpec
    from mcproute.router.tools import ToolIndex

    car = [
        ToolSpec("car__adjustClimateControl", "Adjusts the climate control of the vehicle.", server="car"),
        ToolSpec("car__setCruiseControl", "Sets the cruise control speed of the vehicle.", server="car"),
        ToolSpec("car__startEngine", "Starts the engine of the vehicle.", server="car"),
    ]
    index = ToolIndex(car)
    ctx = RetrievalContext(tools_used=("car__startEngine",), servers_used=("car",), recent_texts=("start the engine",))
    r = index.rank("could you adjust the cruise control to 65 mph", context=ctx)
    assert "its verb names" not in r.explanation
    assert r.candidates[0].name == "car__setCruiseControl", r.explanation
