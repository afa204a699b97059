"""Intent words and the thesaurus: general English, applied to any catalogue.

The quality figures come from `mcproute eval tools` runs (docs/routing-tools.md); these tests pin
what the lexicon *means*, and a few everyday requests against the real reference servers' tools.
"""

from __future__ import annotations

import json

import pytest

from mcproute.encoding.texts import tool_text
from mcproute.router.retrieval_commands import (
    errand,
    introduces,
    looks,
    only_existing,
    operation,
    subcommand,
    when_aside,
)
from mcproute.router.retrieval_gates import keeps_fact, one_file, points_at, recalls, several_files
from mcproute.router.retrieval_intent import (
    adds_to_file,
    agreement,
    asks_about,
    changed_file_verb,
    changed_kinds,
    changes,
    only_reads,
    query_actions,
    query_many,
    reads,
    tool_action,
    tool_actions,
    tool_kinds,
    tool_many,
)
from mcproute.router.retrieval_text import stem
from mcproute.router.retrieval_thesaurus import PHRASES, terms_of, thesaurus_terms
from mcproute.router.tools import ToolIndex, specs_from_dicts
from reference_support import REFERENCE, ReferenceIndex


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("forget everything about Bob", "delete"),
        ("empty the index", "delete"),
        ("remember that Alice works at Acme", "create"),
        ("make a folder named reports", "create"),
        ("list all branches", "list"),
        ("find the biggest file", "search"),
        ("rename notes.txt to todo.txt", "move"),
        ("what time is it in Tokyo?", "read"),  # a question reads
        ("which files have I modified?", "read"),  # "modified" states, it does not ask to modify
    ],
)
def test_a_request_gets_the_class_of_its_first_action(text: str, first: str) -> None:
    assert query_actions(text)[0] == first


def test_a_question_about_what_was_forgotten_does_not_ask_to_forget() -> None:
    assert query_actions("did i forget to stage anything?") == ("read", "create")
    assert "delete" in query_actions("forget Globex, drop them from the graph")


def test_words_that_are_mostly_nouns_in_requests_give_no_class() -> None:
    assert query_actions("the commit log of the project") == ()
    assert query_actions("commit history") == ()


def test_a_tool_gets_its_class_from_the_description_verb_then_from_its_name() -> None:
    assert tool_action("git_reset", "Unstages all staged changes") == "delete"
    assert tool_action("git_log", "Shows the commit logs") == "read"
    assert tool_action("read_graph", "The entire knowledge graph") == "read"
    assert tool_action("git_diff_unstaged", "") is None  # "unstaged" is an adjective here
    assert tool_action("weather", "Weather for a city") is None


def test_agreement_is_by_class_then_by_side_effect_family() -> None:
    assert agreement(("delete",), "delete") == 1.0
    assert agreement(("read",), "list") == 0.5  # both change nothing
    assert agreement(("delete",), "create") == -1.0
    assert agreement((), "create") == 0.0 and agreement(("read",), None) == 0.0


def test_thesaurus_maps_everyday_words_to_tool_vocabulary() -> None:
    assert stem("log") in thesaurus_terms("show me the commit history")
    assert stem("directory") in thesaurus_terms("make a folder named reports")
    assert stem("current") in thesaurus_terms("what time is it in Tokyo?")
    assert stem("current") in thesaurus_terms("whats the time rn in london")
    # "now" is the time of day only where the request speaks of time, else when a state holds
    assert stem("current") not in thesaurus_terms("how far away is my food rn, order 90233")
    assert stem("current") not in thesaurus_terms("I need to be on develop now")
    assert stem("convert") in thesaurus_terms("what is 5pm PST in Berlin?")
    assert stem("human") in thesaurus_terms("i want to talk to a real person. now.")
    assert stem("human") in thesaurus_terms("can I speak with someone please")
    # what the assistant has kept is in a memory, not in the model's knowledge of the world
    for asked in ("what do you have on Hugo?", "have I ever told you my insurance policy number?"):
        assert stem("knowledge") in thesaurus_terms(asked)
    assert stem("knowledge") not in thesaurus_terms("do you know any good restaurants nearby")
    # one more fact for something kept; not a note put anywhere else ("put it in the invite")
    assert stem("observation") in thesaurus_terms("another detail about Orion: it launches in June")
    assert stem("observation") in thesaurus_terms("jonas bday is 14 march, stick that on his info")
    assert stem("observation") not in thesaurus_terms("17:45 in New York, then I'll put it in the invite myself")
    assert stem("convert") in thesaurus_terms("the webinar starts 14:00 CET, when is that in New York")
    assert stem("convert") not in thesaurus_terms("book a table for two at 7pm tomorrow")  # a time, not time talk
    assert {stem("url"), stem("fetch")} <= set(thesaurus_terms("summarize https://example.org/post"))
    assert thesaurus_terms("write a haiku about autumn") == ()
    assert stem("staged") in thesaurus_terms("show the cached diff")  # git's own word for the index
    for moving in ("check out release-3", "switch over to feature/search-v2", "hop over to the bugfix branch"):
        assert stem("checkout") in thesaurus_terms(moving), moving
    for looking in ("check out this article", "go to the store", "move notes/a.md to docs/b.md"):
        assert stem("checkout") not in thesaurus_terms(looking), looking
    assert stem("search") in thesaurus_terms("where did I put budget.xlsx")
    assert stem("metadata") in thesaurus_terms("when was main.py created")
    assert thesaurus_terms("when did the war end") == ()
    assert stem("current") in thesaurus_terms("what time is it now")
    assert stem("relation") in thesaurus_terms("note down that payments-service depends on ledger-db")
    assert stem("entity") in thesaurus_terms("add Northwind Traders as a company in the knowledge graph")
    assert stem("show") in thesaurus_terms("what did my very last commit change")
    assert stem("show") not in thesaurus_terms("commit the staged changes")
    assert stem("status") in thesaurus_terms("did i forget to stage anything?")
    assert stem("diff") in thesaurus_terms("compare the repo against tag v2.3.0")
    assert stem("diff") not in thesaurus_terms("compare these two recipes for me")
    assert stem("overwrite") in thesaurus_terms("replace the whole content of robots.txt with two lines")
    assert stem("search") in thesaurus_terms("anything in memory about kubernetes?")
    assert stem("search") in thesaurus_terms("look through the graph for anything mentioning the q3 budget")
    assert stem("search") in thesaurus_terms("what exactly do you have stored under the entity 'Priya'?")
    assert stem("staged") in thesaurus_terms("empty the index for me but keep my working files")
    assert stem("directory") in thesaurus_terms("what's in ./webapp")
    assert stem("directory") not in thesaurus_terms("peek at package.json in ./webapp")  # where the file is
    assert thesaurus_terms("now do the same for the third one") == ()  # "now" opening a request: no time
    assert thesaurus_terms("thanks. ok now list them") == ()
    assert stem("current") in thesaurus_terms("and right now?")  # "right now" is the time
    for keeping in ("save this summary to summary.md", "dump the results into out.csv"):
        assert {stem("write"), stem("file")} <= set(thesaurus_terms(keeping)), keeping
    assert stem("write") not in thesaurus_terms("save my staged work as a commit")  # no file named
    # what people call the things a knowledge store keeps: records and entries, notes, who belongs where
    assert stem("entity") in thesaurus_terms("keep a record of my landlord, Mr. Ito")
    assert stem("entity") in thesaurus_terms("new thing to track: the garden project")
    assert stem("observation") in thesaurus_terms("note it on his entry")
    assert stem("relation") in thesaurus_terms("the garden project belongs to the residents' association")
    assert stem("staged") in thesaurus_terms("diff of the stuff I already added")
    for folder in ("show the contents of ./build", "ls ~/projects/app", "what's in src/"):  # no extension
        assert stem("directory") in thesaurus_terms(folder), folder
    for other in ("open ./notes.md", "fetch https://x.org/a/", "this and/or that"):
        assert stem("directory") not in thesaurus_terms(other), other
    assert {stem("reset"), stem("staged")} <= set(thesaurus_terms("take config.json back out of the index"))


def test_a_light_verb_takes_its_action_from_the_noun_after_it() -> None:
    assert tool_action("edit_file", "Make line-based edits to a text file.") == "write"
    assert tool_action("create_directory", "Make a new directory") == "create"


def test_the_kind_of_thing_a_command_changes_is_its_objects() -> None:
    assert changed_kinds("make a folder named reports") == {"folder"}
    assert changed_kinds("please delete the old files in tmp") == {"file"}
    assert changed_kinds("move report.pdf into the archive folder") == {"folder"}
    assert changed_kinds("unstage everything, I added the wrong files") == frozenset()  # another clause
    assert changed_kinds("which folders are there") == frozenset()  # not a command that changes
    assert tool_kinds("create_directory", "Create a new directory or ensure it exists") == {"folder"}
    assert tool_kinds("git_add", "Adds file contents to the staging area") == {"file"}


def test_a_command_is_not_given_to_a_tool_for_another_kind_or_the_opposite_change(encoder) -> None:  # noqa: ANN001
    """With the time and git servers only (writes allowed), "make a folder" has no tool, though
    git_add creates something; "remove the branch" has none, though git_branch lists branches."""
    specs = [s for s in specs_from_dicts(json.loads(REFERENCE.read_text())) if s.name.startswith(("time__", "git__"))]
    index = ToolIndex(specs)
    index.attach_vectors(dict(zip((s.name for s in specs), encoder.encode([tool_text(s) for s in specs]), strict=True)))

    def rank(text: str):  # noqa: ANN202
        return index.rank(text, vector=encoder.encode_one(text))

    folder = rank("make a folder named reports")
    # led by git_show here (it only reads); with the shipped examples by git_add (works on no folder)
    assert folder.no_tool and "the step asks to create a folder and the leader" in folder.explanation
    branch = rank("remove the branch feature-x")  # led by git_branch, which lists them
    assert branch.no_tool and "asks to delete a branch and the leader only reads" in branch.explanation
    made = rank("create a new branch called hotfix")
    assert not made.no_tool and made.candidates[0].name == "git__git_create_branch"


def test_a_command_to_delete_is_not_given_to_a_tool_that_creates() -> None:
    index = ToolIndex(
        specs_from_dicts(
            [
                {"name": "notes__create_note", "description": "Create a new note with a title and a body"},
                {"name": "notes__list_notes", "description": "List the titles of all notes"},
            ]
        )
    )
    deleted = index.rank("delete the note called groceries")
    assert deleted.candidates[0].name == "notes__create_note"
    assert deleted.no_tool and "asks to delete something and the leader would create instead" in deleted.explanation
    assert not index.rank("create a note called groceries").no_tool


def test_a_command_to_delete_led_by_a_tool_that_creates_goes_to_one_that_deletes() -> None:
    """ "Remove the link between Priya and Atlas" went to create_relations (it shares "link"
    and "between"), then the veto said no tool fits: a tool of the first three that does what is
    asked leads instead, and the veto holds only when there is none (above)."""
    index = _tools(
        ("kg__create_relation", "Create a relation (a link) between two entities"),
        ("kg__list_entities", "List the entities"),
        ("kg__delete_relation", "Delete a relation"),
    )
    removed = index.rank("remove the link between Priya and Atlas")
    assert removed.candidates[0].name == "kg__delete_relation", removed.explanation
    assert not removed.no_tool
    assert "asks to delete something and kg__create_relation would create instead" in removed.explanation
    assert index.rank("create a link between Priya and Atlas").candidates[0].name == "kg__create_relation"


def test_a_tool_that_lists_several_changes_may_do_any_of_them() -> None:
    """ "delete my old work address" led by a tool that "Add, edit, delete or set as default" saved
    addresses: its first verb adds, but it also deletes, so the opposite-change veto does not hold."""
    assert tool_actions("update_saved_address", "Add, edit, delete or set as default a saved address") == {
        "create",
        "write",
        "delete",
    }
    assert tool_actions("get_transactions", "Search posted and pending transactions") == {"search"}  # not verbs
    assert tool_actions("create_note", "Create a new note") == {"create"}
    index = _tools(
        ("shop__update_saved_address", "Add, edit, delete or set as default one of the saved addresses"),
        ("shop__get_order", "Get one order's details and status"),
    )
    dropped = index.rank("delete my old work address from my account please")
    assert dropped.candidates[0].name == "shop__update_saved_address"
    assert not dropped.no_tool, dropped.explanation


def test_switching_something_off_and_on_are_actions_of_their_own() -> None:
    """A card's freeze and unfreeze share every noun; "lock my card" went to `unfreeze_card`
    ("Remove a temporary lock from a card"). Off and on are classes of their own, opposed."""
    assert query_actions("can you lock my card 4471 till I know for sure") == ("disable",)
    assert query_actions("please unfreeze card 5590") == ("enable",)
    assert tool_action("freeze_card", "Temporarily lock a card so new purchases are declined") == "disable"
    assert agreement(("disable",), "enable") == -1.0
    assert agreement(("disable",), "delete") == -1.0
    # "Track an outgoing transfer by its confirmation number" follows it: it reads
    assert reads(tool_action("get_transfer_status", "Track an outgoing transfer by its confirmation number"))
    index = _tools(
        ("bank__freeze_card", "Temporarily lock a card so new purchases are declined. Reversible with unfreeze_card."),
        ("bank__unfreeze_card", "Remove a temporary lock from a card that was frozen, restoring purchases."),
    )
    assert index.rank("can you lock my card 4471 till I know for sure").candidates[0].name == "bank__freeze_card"


def _tools(*tools: tuple[str, str]) -> ToolIndex:
    """An index of (name, description) tools."""
    return ToolIndex(specs_from_dicts([{"name": n, "description": d} for n, d in tools]))


def test_a_command_only_to_see_something_is_led_by_a_tool_that_reads() -> None:
    """BFCL's "List all PostgreSQL servers" went to add_postgres_server (it shares more words);
    a command that opens with list/show/display/... is not led by a tool that changes things
    while one that reads is among the first three."""
    assert looks("List all PostgreSQL servers from our environment?")
    assert looks("could you show me all of my servers, please?")
    assert not looks("find me a playlist of upbeat songs")  # finding is often making
    assert not looks("add a server") and not looks("what servers do I have")
    index = _tools(
        ("db__add_postgres_server", "Add a PostgreSQL server to the environment"),
        ("db__list_servers", "Lists the servers of a given type"),
    )
    shown = index.rank("list all PostgreSQL servers in the environment")
    assert shown.candidates[0].name == "db__list_servers", shown.explanation
    assert "only asks to see something and db__add_postgres_server would change things" in shown.explanation
    added = index.rank("add a PostgreSQL server to the environment")
    assert added.candidates[0].name == "db__add_postgres_server"


def test_a_command_to_alter_something_is_led_by_a_tool_that_changes() -> None:
    """ "save my staged work as a commit" and "commit what I have staged" went to git_diff_staged
    (it shares "staged", and "commit"): a command that creates, writes, moves or deletes is not led
    by a tool that only reads while one that changes is among the first three."""
    index = _tools(
        ("git__git_diff_staged", "Shows changes that are staged for commit"),
        ("git__git_commit", "Records changes to the repository"),
    )
    saved = index.rank("save the staged changes as a commit")
    assert saved.candidates[0].name == "git__git_commit", saved.explanation
    assert "asks to write something and git__git_diff_staged only reads" in saved.explanation
    committed = index.rank("commit what I have staged")
    assert committed.candidates[0].name == "git__git_commit", committed.explanation
    assert "asks to create something and git__git_diff_staged only reads" in committed.explanation
    assert index.rank("show my staged changes").candidates[0].name == "git__git_diff_staged"
    assert index.rank("commit history of the staged files").candidates[0].name != "git__git_commit"


def test_a_command_no_candidate_can_do_needs_no_tool() -> None:
    """The bundled servers.yaml withholds git_commit: "commit what I have staged" went to
    git_diff_staged at P(fit) 0.98 (its description says "staged for commit")."""
    index = _tools(
        ("git__git_diff_staged", "Shows changes that are staged for commit"),
        ("git__git_log", "Shows the commit logs"),
    )
    r = index.rank("commit what I have staged")
    assert r.no_tool and "asks to create something and no candidate does that" in r.explanation, r.explanation
    assert not index.rank("show what I have staged for commit").no_tool


@pytest.mark.parametrize(
    ("text", "rest"),
    [
        ("set an alarm for 6:45am tomorrow", "set an alarm"),
        ("please book me a haircut for Saturday morning", "please book me a haircut for"),
        ("remind me at 5pm to pick up the dry cleaning", "remind me to pick up the dry cleaning"),
        ("what time is it in Tokyo?", None),  # a question, not an errand
        ("find homes for sale in Los Angeles", None),  # finding is what many tools do, by meaning
        ("show me the last 3 commits", None),
    ],
)
def test_an_errand_is_a_service_command_and_what_it_asks_without_when(text: str, rest: str | None) -> None:
    got = errand(text)
    assert (None if got is None else " ".join(got.split())) == rest


def test_an_errand_is_not_given_to_a_tool_that_matches_only_when_it_should_happen() -> None:
    """On the reference servers, "set an alarm for 6:45am tomorrow" went to convert_time and "book
    me a haircut for Saturday morning" to get_current_time: the time tools share only the words
    that say when. A time question still gets them; an errand a tool does still gets it."""
    every = specs_from_dicts(json.loads(REFERENCE.read_text()))
    index = ToolIndex(every)
    for text in ("set an alarm for 6:45am tomorrow", "remind me at 5pm to pick up the dry cleaning"):
        r = index.rank(text)
        assert r.no_tool and "only the words that say when" in r.explanation, (text, r.explanation)
    assert index.rank("convert 5pm PST to Berlin time").candidates[0].name == "time__convert_time"


def test_what_a_time_given_earlier_is_elsewhere_asks_about_time(reference: ReferenceIndex) -> None:
    """ "Standup is at 9:30 in Chicago. What's that for my colleague in Lisbon?" read as an errand
    that only says when ("that" is the time given before), so convert_time was vetoed."""
    assert when_aside("Standup is at 9:30 in Chicago. What's that for my colleague in Lisbon?") is None
    for text in (
        "Standup is at 9:30 in Chicago. What's that for my colleague in Lisbon?",
        "my tutor in Singapore wrote 'see you at 8pm'. I'm in Vancouver, when is that for me?",
    ):
        r = reference.rank(text)
        assert not r.no_tool and r.candidates[0].name == "time__convert_time", (text, r.explanation)


def test_a_possessive_keeps_its_word() -> None:
    """ "what's today's date?" shared no word with the bundled config's tools: the thesaurus read
    "today's", not "today" (with every reference tool, another tool's "date" had hidden it)."""
    assert {"current", "date"} <= set(terms_of("what's today's date?"))
    index = _tools(
        ("time__get_current_time", "Get current time in a specific timezones"),
        ("time__convert_time", "Convert time between timezones"),
        ("git__git_log", "Shows the commit logs"),
    )
    r = index.rank("what's today's date?")
    assert not r.no_tool and r.candidates[0].name == "time__get_current_time", r.explanation
    assert not index.rank("convert 5pm PST to Berlin time").no_tool
    sent = ToolIndex(specs_from_dicts([{"name": "mail__send_email", "description": "Send an email to someone"}]))
    assert not sent.rank("send an email to Maria at 5pm").no_tool


@pytest.mark.parametrize(
    ("text", "aside"),
    [
        ("what's on TV tonight at 9", True),
        ("how much is Apple stock trading at right now", True),
        ("what's the forecast for Denver this weekend", True),
        ("what time is it in Tokyo right now", False),  # time is the subject
        ("is it already evening in Manila?", False),
        ("has Friday already started over there in Auckland?", False),  # the day itself is asked about
        ("is it already tomorrow in auckland??", False),
        ("Is it too late over there right now?", False),
        ("5pm PST in IST?", False),  # zones: a conversion
        ("how many hours ahead is Tokyo", False),
        ("show me the log", False),  # says no when
    ],
)
def test_a_request_that_only_says_when_sets_the_when_aside(text: str, aside: bool) -> None:
    assert (when_aside(text) is not None) == aside


def test_a_time_tool_does_not_answer_a_question_that_only_says_when() -> None:
    every = specs_from_dicts(json.loads(REFERENCE.read_text()))
    index = ToolIndex(every)
    r = index.rank("what's the exchange rate from euros to yen today")
    assert r.no_tool and "only the words that say when" in r.explanation, r.explanation
    asked = index.rank("what time is it in Tokyo right now")
    assert not asked.no_tool and asked.candidates[0].name == "time__get_current_time"


def test_no_thesaurus_phrase_scans_without_bound() -> None:
    """A phrase with an unbounded wildcard between two words scans the rest of the text from every
    occurrence of the first: a 20,000-character step full of "word," took 0.33 s (200,000: 35 s)."""
    import re

    unbounded = re.compile(r"\.[*+]|\[\^[^\]]*\][*+]")
    assert [p.pattern for p, _ in PHRASES if unbounded.search(p.pattern)] == []


def test_one_versus_many() -> None:
    assert query_many("read package.json and tsconfig.json")
    assert query_many("show me the last 3 commits")
    assert not query_many("open config.yaml") and not query_many("what time is it at 5 pm")
    assert tool_many("read_multiple_files", "Read the contents of multiple files")
    assert not tool_many("read_text_file", "Read the contents of a file")


def test_one_named_file_is_not_led_by_a_tool_made_for_many() -> None:
    """ "how big is /var/backups/db.sql.gz" went to list_directory_with_sizes (made for all the
    files of a folder); a step about one named file goes to the first of the top few that does the
    same kind of thing to one thing. (A name with a second extension is a file too.)"""
    assert one_file("how big is /var/backups/db-2024-06-01.sql.gz")
    assert not one_file("read notes.txt and todo.md") and not one_file("how big is my downloads folder")
    every = specs_from_dicts(json.loads(REFERENCE.read_text()))
    r = ToolIndex(every).rank("how big is /var/backups/db-2024-06-01.sql.gz")
    assert not r.no_tool and r.candidates[0].name == "filesystem__get_file_info", r.explanation


def test_files_in_a_state_of_the_repository_are_its_changes_not_a_kind_to_make() -> None:
    """ "commit the staged files in /home/ana/thesis-code, message: ..." was vetoed: its object
    ("files") was read as a kind of thing to make, which git_commit never speaks of."""
    assert changed_kinds("commit the staged files in ~/thesis") == frozenset()
    assert changed_kinds("stage the modified files") == frozenset()
    assert changed_kinds("delete the file notes.txt") == {"file"}
    every = specs_from_dicts(json.loads(REFERENCE.read_text()))
    r = ToolIndex(every).rank("commit the staged files in /home/ana/thesis-code, message: chapter 3 figures")
    assert not r.no_tool and r.candidates[0].name == "git__git_commit", r.explanation


def test_a_thing_asked_for_as_new_is_not_led_by_a_tool_that_edits_in_place() -> None:
    """ "make a new file ... that says '...'" was led by edit_file (the words "says" and the
    quoted text); a thing asked for as new goes to the tool of its kind that makes things."""
    every = specs_from_dicts(json.loads(REFERENCE.read_text()))
    index = ToolIndex(every)
    r = index.rank("make a new file /home/sam/shop/README.txt that says 'Prices updated weekly on Mondays.'")
    assert r.candidates[0].name == "filesystem__write_file" and "asks for a new thing" in r.explanation
    r = index.rank("edit /home/sam/shop/README.txt so that it says 'open Mondays'")
    assert r.candidates[0].name == "filesystem__edit_file", r.explanation


def test_my_new_thing_called_x_introduces_something_to_keep() -> None:
    assert introduces("remember that my supplier is called Greenleaf Packaging")
    assert introduces("our new client's called Brightwater")
    assert not introduces("what is my supplier called again?") and not introduces("call my supplier")


def test_several_named_files_are_not_led_by_a_tool_that_reads_one() -> None:
    """ "read docker-compose.yml, .env.example and Dockerfile together" went to read_text_file; a
    step that names several files goes to the first of the top few that reads many. A pattern
    ("*.test.ts") names no file."""
    assert several_files("read docker-compose.yml, .env.example and Dockerfile in /srv/app together")
    assert not several_files("find all *.test.ts under ./src") and not several_files("open config.yaml")
    assert not several_files("cat ~/projects/api/.env.example")  # one name, not also ".env"
    every = specs_from_dicts(json.loads(REFERENCE.read_text()))
    r = ToolIndex(every).rank("Read src/auth/login.py, src/auth/session.py and src/auth/tokens.py for me")
    assert not r.no_tool and r.candidates[0].name == "filesystem__read_multiple_files", r.explanation


@pytest.fixture(scope="module")
def reference(encoder) -> ReferenceIndex:  # noqa: ANN001
    """Vectors, no examples: what the lexicon and the encoder do on their own."""
    return ReferenceIndex(encoder)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what time is it in Tokyo?", "time__get_current_time"),
        ("convert 3pm London time to New York", "time__convert_time"),
        ("show me the commit history", "git__git_log"),
        ("switch to the develop branch", "git__git_checkout"),
        ("make a new branch called feature-x", "git__git_create_branch"),
        ("list all branches", "git__git_branch"),
        ("make a folder named reports", "filesystem__create_directory"),
    ],
)
def test_everyday_requests_on_the_reference_servers(reference: ReferenceIndex, text: str, expected: str) -> None:
    r = reference.rank(text, k=5)
    assert not r.no_tool and r.candidates[0].name == expected, r.explanation


@pytest.mark.parametrize("text", ["forget everything about Bob", "remove Carol from the knowledge graph"])
def test_forgetting_and_removing_pick_a_deleting_tool(reference: ReferenceIndex, text: str) -> None:
    best = reference.rank(text, k=3).candidates[0].name
    assert "delete" in best, best


def test_a_file_named_by_its_name_is_a_file() -> None:
    assert changed_file_verb("delete old.log") == "delete"
    assert changed_file_verb("remove ~/tmp/build.zip, it is stale") == "remove"
    assert changed_file_verb("unstage src/app.py") == "unstage"
    assert changed_file_verb("delete the entity Bob") is None  # no file named
    assert changed_file_verb("fetch https://example.org/old.html") is None  # a URL, and no change
    assert changed_file_verb("which files mention old.log?") is None  # a question, not a command


@pytest.mark.parametrize("text", ["delete old.log", "remove /tmp/old-build.log", "rm notes.txt"])
def test_deleting_a_named_file_fits_no_tool_of_the_reference_servers(reference: ReferenceIndex, text: str) -> None:
    """The reference servers cannot delete a file: without the rule, "delete old.log" went to
    memory's delete_relations (it shares "delete") and "remove ... .log" to git_log (the extension)."""
    r = reference.rank(text)
    assert r.no_tool, r.explanation


def test_a_tool_named_for_the_operation_keeps_a_named_file() -> None:
    index = _tools(
        ("git__git_reset", "Unstages all staged changes"),
        ("git__git_log", "Shows the commit logs"),
        ("kg__delete_relations", "Delete multiple relations from the knowledge graph"),
    )
    kept = index.rank("unstage src/app.py")  # no vectors here: P(fit) is the lexical one's
    assert kept.candidates[0].name == "git__git_reset" and "a file" not in kept.explanation, kept.explanation
    gone = index.rank("delete old.log")
    assert gone.no_tool and "asks to delete a file" in gone.explanation, gone.explanation


@pytest.mark.parametrize("text", ["append buy milk to todo.txt", "add a line to notes.md: call mom"])
def test_adding_to_a_file_is_not_given_to_a_tool_that_overwrites_it(reference: ReferenceIndex, text: str) -> None:
    """write_file "completely overwrite[s] an existing file": led by it, an agent would wipe the
    file it was asked to add a line to."""
    r = reference.rank(text)
    assert r.candidates[0].name == "filesystem__edit_file", r.explanation
    assert adds_to_file(text)


def test_adding_a_file_to_the_index_stays_with_git_add(reference: ReferenceIndex) -> None:
    assert adds_to_file("add notes.md to the staging area")  # it adds to no file's content, but
    assert (
        reference.rank("add notes.md to the staging area").candidates[0].name == "git__git_add"
    )  # git_add overwrites nothing


@pytest.mark.parametrize(
    ("text", "about"),
    [
        ("did I add travel insurance to reservation 8MPL2D?", True),
        ("how many checked bags are on reservation K3DD7Q right now", True),
        ("what did I change in app.py", True),
        ("how can I make my sales copy more engaging?", False),  # what can be done: a tool that does it
        ("how do I visualize my data", False),
        ("is it possible to run SQL in a notebook", False),
        ("delete the old branch", False),  # a command
        ("can you add a bag to K3DD7Q", False),
    ],
)
def test_a_question_about_how_things_are(text: str, about: bool) -> None:
    assert asks_about(text) is about


def test_a_question_about_how_things_are_is_led_by_a_tool_that_reads() -> None:
    """ "Did I add travel insurance to reservation 8MPL2D?" was led by book_reservation: a
    question about a state is answered by looking, not by changing anything."""
    index = _tools(
        ("airline__book_reservation", "Book a new reservation, with insurance and bags if asked"),
        ("airline__get_reservation_details", "Get the details of a reservation: flights, bags, insurance"),
        ("airline__cancel_reservation", "Cancel a reservation"),
    )
    r = index.rank("did I add travel insurance to reservation 8MPL2D?")
    assert r.candidates[0].name == "airline__get_reservation_details", r.explanation
    assert index.rank("add travel insurance to reservation 8MPL2D").candidates[0].name == "airline__book_reservation"


def test_what_the_user_changed_is_the_working_tree_diff() -> None:
    assert stem("diff") in thesaurus_terms("what did I change in app.py")
    assert stem("diff") in thesaurus_terms("what have I changed so far")
    assert stem("diff") not in thesaurus_terms("what did I change in the last commit")  # that commit, shown


@pytest.mark.parametrize("text", ["get rid of notes.txt", "throw away draft.md", "pls throw draft.md away"])
def test_phrasal_verbs_of_removing_are_commands_to_remove(text: str) -> None:
    assert changes(text) == "delete" and changed_file_verb(text) == "remove"


def test_getting_rid_of_a_file_is_not_given_to_a_tool_that_writes_one(reference: ReferenceIndex) -> None:
    """ "get rid of notes.txt" was led by write_file at P(fit) 0.998: no reference tool deletes a file."""
    assert reference.rank("get rid of notes.txt").no_tool


@pytest.fixture(scope="module")
def taught(encoder) -> ReferenceIndex:  # noqa: ANN001
    """As the gateway ranks the reference servers: with their shipped examples."""
    return ReferenceIndex(encoder, examples=True)


@pytest.mark.parametrize("text", ["delete ./build/old_bundle.js", "remove ../old/draft.md"])
def test_deleting_a_file_is_not_given_to_a_tool_that_moves_it(taught: ReferenceIndex, text: str) -> None:
    """ "remove ../old/draft.md" was led by move_file at P(fit) 1.00 (its examples move drafts to
    old/): moving a file is not deleting it."""
    r = taught.rank(text)
    assert r.no_tool and r.candidates[0].name == "filesystem__move_file", r.explanation


def test_removing_a_file_to_put_it_elsewhere_is_a_move(taught: ReferenceIndex) -> None:
    r = taught.rank("remove draft.md from the root and put it in archive/")
    assert not r.no_tool and r.candidates[0].name == "filesystem__move_file", r.explanation


# Pure writing ("write a haiku") is told apart from writing a file by retrieval_compose.py: see
# tests/test_retrieval_compose.py.
@pytest.mark.parametrize("text", ["hi, how are you?", "tell me a joke", "good night", "write a haiku about autumn"])
def test_chit_chat_and_pure_writing_need_no_tool(reference: ReferenceIndex, text: str) -> None:
    assert reference.rank(text).no_tool


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("make a folder named reports", "create"),
        ("please delete old.txt", "delete"),
        ("can you send the summary to Sam", "send"),
        ("forget Bob", "delete"),
        ("how do I delete a branch?", None),  # a question reads
        ("show me the log", None),
        ("run the test suite", None),  # running something is what any tool does
        ("Could you add 1 and 2 together", None),  # arithmetic
        ("Imagine you are a teacher. You want to create a worksheet", None),  # only the opening verb counts
        # words that are mostly nouns in a request are verbs when their object follows
        ("commit what I have staged", "create"),
        ("commit the staged changes", "create"),
        ("commit history pls", None),
        ("log of the last 10 commits", None),
        ("log a 5k run I did this morning", "create"),
        ("set an alarm for 6:45", "write"),
        ("clean the build folder", "delete"),
        ("text my wife that I'm late", "send"),
        ("unstaged diff with 10 lines of context", None),  # a participle opens a noun phrase
        ("deleted files in src?", None),
        ("keep that on file for later", None),  # idioms whose object is not what is made
        ("put the docs/ folder in the staging area", None),
        ("change 'Priya' to 'Pria' everywhere", "write"),  # a quoted object
        ("actually, delete the last line", "delete"),  # "actually" opens, as "ok" does
    ],
)
def test_a_command_that_opens_with_a_changing_verb_changes(text: str, action: str | None) -> None:
    assert changes(text) == action


def test_a_catalogue_that_only_reads_cannot_make_or_delete_anything() -> None:
    """The bundled config serves time and read-only git: a request to create or delete something
    gets no tool, and says why; what those tools can do still gets them."""
    assert only_reads(["read", "list", "search", "convert"]) and not only_reads(["read", "create"])
    assert not only_reads(["read", None]) and not only_reads([])
    every = specs_from_dicts(json.loads(REFERENCE.read_text()))
    read_only = [
        s for s in every if s.server == "time" or s.name in {"git__git_status", "git__git_log", "git__git_show"}
    ]
    index = ToolIndex(read_only)
    for text in ("make a folder named reports", "delete old.txt"):
        ranking = index.rank(text)
        assert ranking.no_tool, ranking.explanation
        assert "no candidate does that" in ranking.explanation
    assert index.rank("show me the last 3 commits").candidates[0].name == "git__git_log"
    full = ToolIndex(every).rank("make a folder named reports")  # with the filesystem server it can
    assert "no candidate does that" not in full.explanation
    assert "filesystem__create_directory" in [c.name for c in full.candidates]


def test_a_new_thing_is_not_given_to_a_tool_for_existing_ones() -> None:
    assert introduces("add Northwind Traders as a company in the knowledge graph")
    assert introduces("new thing to keep track of: Project Atlas, our data platform")
    assert introduces("remember a project called 'Atlas'")
    assert not introduces("one more detail for the Northwind record: their fiscal year ends in June")
    assert only_existing("Add new observations to existing entities in the knowledge graph")
    assert not only_existing("Create multiple new entities in the knowledge graph")


@pytest.mark.parametrize(
    "text", ["add Northwind Traders as a company in the knowledge graph", "new thing to keep track of: Project Atlas"]
)
def test_bringing_in_something_new_creates_it(reference: ReferenceIndex, text: str) -> None:
    r = reference.rank(text)
    assert not r.no_tool and r.candidates[0].name == "memory__create_entities", r.explanation


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("git push ~/code/shop-api to origin main pls", "push"),
        ("please stash my changes", "stash"),
        ("git pull latest changes from remote", "pull"),
        ("clone https://github.com/pallets/flask into ~/code", "clone"),
        ("merge feature/login into main", "merge"),
        ("could you zip the reports folder", "zip"),
        ("revert a1b2c3d and push the revert", "revert"),
        ("Post review, organize the lines in 'summary.txt' alphabetically.", None),  # "after", not a verb
        ("pull up the entries for Tom and Lena", None),  # "pull" only as "git pull"
        ("pull the README from https://github.com/psf/requests", None),
        ("tag my reminder for paying bills as important", None),  # labelling, not an operation
        ("show me what changed", None),
        ("why would I ever rebase?", None),  # a question, not a command
    ],
)
def test_a_command_that_opens_with_a_named_operation_names_it(text: str, named: str | None) -> None:
    got = operation(text)
    assert (got[0] if got else None) == named


def test_a_named_operation_no_candidate_speaks_of_fits_no_tool() -> None:
    """ "git push ... to origin" went to git_status at P(fit) 0.97 on the reference servers, which
    cannot push: a command naming an operation that no candidate speaks of (in its name or
    description, or one of the operation's other words: "upload" for push) fits no tool; where a
    candidate does speak of it, it is ranked as before."""
    without = _tools(
        ("git__git_status", "Shows the working tree status"),
        ("git__git_log", "Shows the commit logs"),
        ("git__git_checkout", "Switches branches"),
    )
    pushed = without.rank("git push my feature branch to origin")
    assert pushed.no_tool and "asks to push and no candidate speaks of that" in pushed.explanation
    assert not without.rank("show me the commit logs").no_tool
    able = _tools(
        ("git__git_status", "Shows the working tree status"),
        ("git__git_push", "Push the current branch to a remote"),
    )
    pushed = able.rank("git push my feature branch to origin")
    assert not pushed.no_tool and pushed.candidates[0].name == "git__git_push", pushed.explanation
    uploads = _tools(("drive__put", "Upload a file to the shared drive"), ("drive__list", "List the files"))
    assert not uploads.rank("push report.pdf to the shared drive").no_tool


@pytest.mark.parametrize(
    ("text", "sub"),
    [
        ("git cherry-pick 4f2a9c1", ("git", "cherry-pick")),
        ("please git fetch --all --prune", ("git", "fetch")),
        ("docker ps", ("docker", "ps")),
        ("kubectl get pods -n staging", ("kubectl", "get")),
        ("git status pls", ("git", "status")),
        ("git push origin main", None),  # a named operation (above)
        ("show me the git log", None),  # the program is not what the command opens with
    ],
)
def test_a_command_that_opens_with_a_program_names_its_subcommand(text: str, sub: tuple[str, str] | None) -> None:
    assert subcommand(text) == sub


def test_a_subcommand_no_candidate_of_that_program_speaks_of_fits_no_tool() -> None:
    """On the reference servers "git cherry-pick 4f2a9c1" went to git_branch, "git tag -a v1.3.0"
    to git_show and "git fetch --all --prune" to git_branch (the fetch server speaks of fetching,
    not of git). A subcommand a tool of that program speaks of, or nearly spells, still fits."""
    index = _tools(
        ("git__git_status", "Shows the working tree status"),
        ("git__git_log", "Shows the commit logs"),
        ("git__git_branch", "List Git branches"),
        ("fetch__fetch", "Fetches a URL from the internet"),
    )
    for text in ("git cherry-pick 4f2a9c1", "git fetch --all --prune", "git tag -a v1.3.0"):
        r = index.rank(text)
        assert r.no_tool and "no candidate speaks of that" in r.explanation, (text, r.explanation)
    for text, tool in (("git log -5", "git__git_log"), ("git stauts in /srv/app", "git__git_status")):
        r = index.rank(text)
        assert not r.no_tool and r.candidates[0].name == tool, (text, r.explanation)


@pytest.mark.parametrize(
    ("text", "fact"),
    [
        ("remember that i'm flying to oslo on the 12th", True),
        ("please note down: the wifi password is on the fridge", True),
        ("save this: standup moves to 9:45 on fridays", True),
        ("keep in mind that Dana prefers calls after 2pm", True),
        ("remember to call mom at 5", False),  # a reminder, not a fact
        ("remind me at 5pm to pick up the dry cleaning", False),
        ("do you remember that song from the 90s?", False),
    ],
)
def test_a_fact_to_keep_is_a_verb_of_keeping_and_what_to_keep(text: str, fact: bool) -> None:
    assert keeps_fact(text) is fact


@pytest.mark.parametrize(
    "text", ["remember that i'm flying to oslo on the 12th", "remember that the PyConf CFP closes june 30"]
)
def test_a_fact_to_keep_that_names_a_date_is_still_kept(taught: ReferenceIndex, text: str) -> None:
    """Near the taught reminders and alarms ("remind me at 5 to call the bank"), which need no
    tool, the examples' classifier gave these no tool 87 % and 95 %: a fact given to keep, led
    by a tool that creates, is not doubted by the requests that needed no tool."""
    r = taught.rank(text)
    assert not r.no_tool and r.candidates[0].name.startswith("memory__"), r.explanation
    assert "the step gives a fact to keep" in r.explanation
    assert taught.rank("remember to call mom at 5").no_tool  # a reminder: no reference tool sets one


@pytest.mark.parametrize(
    ("text", "asks_back"),
    [
        ("do you remember anything about hiking", True),
        ("who did i say works at Siemens?", True),
        ("have I ever told you my insurance policy number?", True),
        ("check what you've kept on Marta", True),
        ("remember that Marta moved to Lyon", False),  # a fact to keep, not one asked back
        ("cheers, you saved me an hour", False),
    ],
)
def test_a_question_about_what_was_kept_asks_back_what_the_user_told(text: str, asks_back: bool) -> None:
    assert recalls(text) is asks_back


def test_a_question_about_what_was_kept_is_not_doubted_by_the_knowledge_questions(taught: ReferenceIndex) -> None:
    """Near the taught questions for the model, which need no tool, "check what you've kept on
    Marta" read P(fit) 0.07: a question about what the assistant kept, led by a tool that
    searches or reads, is not doubted by the requests that needed no tool."""
    r = taught.rank("check what you've kept on Marta")
    assert not r.no_tool and r.candidates[0].name == "memory__search_nodes", r.explanation
    assert "asks back what it was told before" in r.explanation


def test_a_path_or_url_spares_only_a_leader_that_takes_one() -> None:
    """The examples' no-tool doubts spare a step that names something its leader reads. A file
    named by its name is for a tool that speaks of files: git_log takes a repository's path, so
    "the last 20 lines of server.log" does not spare it (it led there by the word "log")."""
    index = ToolIndex(specs_from_dicts(json.loads(REFERENCE.read_text(encoding="utf-8"))))

    def doc(name: str):  # noqa: ANN202 - a ToolDoc
        return index._docs[index._by_name[name]]

    tail = "show me the last 20 lines of server.log"
    assert points_at(tail, doc("filesystem__read_text_file"))
    assert not points_at(tail, doc("git__git_log"))
    assert points_at("git log of ~/code/shop", doc("git__git_log"))  # a folder: the repository
    assert points_at("summarise https://example.com/post", doc("fetch__fetch"))
    assert not points_at("summarise https://example.com/post", doc("time__get_current_time"))
    assert not points_at("what time is it in Tokyo", doc("time__get_current_time"))
