"""Composing content is not storing it: "write a haiku" asks for text in the reply, not a file.

These pin what the cue means (general English, no catalogue), and how the ranking uses it on the
real reference servers' tools: the file-writing tool may still be listed, but it is not trusted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcproute.encoding.texts import tool_text
from mcproute.router.retrieval_compose import composes, crafts, instruction, speaks_of, stores
from mcproute.router.retrieval_questions import asks_knowledge, explains, small_talk
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
        "suggest a catchy title for my podcast episode on bread",
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
        "write a thank-you note to my teacher",  # a note is text to write, not a fact to keep
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
    ("text", "kinds"),
    [
        ("compose a short song about time zones", {"song"}),
        ("tell me a joke about databases", {"joke"}),
        ("give me a metaphor for git branches", {"metaphor"}),  # always made up, whatever the verb
        ("write an acrostic poem for the word MEMORY", {"acrostic", "poem"}),  # the word is material
        ("make up a bedtime story about a folder that wanted to be a file", {"story"}),  # all topic
        ("rewrite this commit message to be clearer: fixed stuff", {"rewrite"}),  # material given
    ],
)
def test_a_request_for_made_up_text_names_the_kind_it_wants(text: str, kinds: set[str]) -> None:
    assert crafts(text) == kinds


@pytest.mark.parametrize(
    "text",
    [
        "create a playlist with my favorite rock songs",  # the object is the playlist
        "suggest some songs for this picture",  # existing songs: a recommendation, not writing
        "create a word cloud image for this poem I wrote",
        "tell me how many words are in this essay",
        "write a story about a cat and save it to my notes",  # a target: not composing at all
    ],
)
def test_a_kind_of_text_that_is_not_the_thing_to_write_is_no_craft(text: str) -> None:
    assert crafts(text) == frozenset()


def test_a_tool_speaks_of_a_kind_in_any_of_its_forms() -> None:
    assert speaks_of("get_jokes", "Returns random jokes by category.", frozenset({"joke"}))
    assert speaks_of("paraphraser", "Rewrites text in a different tone.", frozenset({"rewrite"}))
    assert speaks_of("digest", "Produces a summary of a long article.", frozenset({"summarise"}))
    assert not speaks_of("convert_time", "Convert time between timezones.", frozenset({"song"}))


@pytest.mark.parametrize(
    ("text", "told"),
    [
        ("fix the grammar in this sentence: me and him goes to the store", "fix the grammar in this sentence"),
        ("make this sound more polite: send me the report now", "make this sound more polite"),
        ("turn these notes into a paragraph: moved, laptops, lunch", "turn these notes into a paragraph"),
        ("load this doc and tell me the main points: https://peps.python.org/pep-0008/", None),  # a URL acts
        ("read this file: notes/todo.md", None),  # so does a path
        ("fulfil the following command: change the point to 2,3,4", None),  # may be the request itself
        ("what time is it in Tokyo?", None),
    ],
)
def test_material_given_after_a_pointing_colon_is_set_apart_from_the_instruction(text: str, told: str | None) -> None:
    assert instruction(text) == told


@pytest.mark.parametrize(
    "text",
    [
        "compose a short song about time zones",
        "write an acrostic poem for the word MEMORY",
        "make up a bedtime story about a folder that wanted to be a file",
        "make this sound more polite: send me the report now",
        "shorten this to one line: we are pleased to announce that the office will be closed on monday",
        "rewrite this commit message to be clearer: fixed stuff",
    ],
)
def test_made_up_text_and_work_on_given_material_need_no_tool_on_the_reference_servers(
    reference,  # noqa: ANN001
    text: str,
) -> None:
    r = reference(text)
    assert r.no_tool, r.explanation


def test_a_tool_that_speaks_of_the_kind_asked_for_still_fits() -> None:
    index = ToolIndex(
        [
            ToolSpec("get_joke", "Get a random joke, optionally about a topic.", {"type": "object"}, "jokes"),
            ToolSpec("convert_time", "Convert a time between time zones.", {"type": "object"}, "time"),
        ]
    )
    r = index.rank("tell me a joke about time zones")
    assert not r.no_tool and r.candidates[0].name == "get_joke", r.explanation
    r = index.rank("compose a short song about time zones")
    assert r.no_tool and "speaks of none" in r.explanation, r.explanation


def test_with_given_material_a_leader_that_answers_the_instruction_still_fits() -> None:
    index = ToolIndex(
        [
            ToolSpec("translate_text", "Translate text into another language.", {"type": "object"}, "lang"),
            ToolSpec("get_current_time", "Get the current time now.", {"type": "object"}, "time"),
        ]
    )
    r = index.rank("translate this into German: send me the report now")
    assert not r.no_tool and r.candidates[0].name == "translate_text", r.explanation
    r = index.rank("make this sound more polite: send me the report now")
    assert r.no_tool and "material given after the colon" in r.explanation, r.explanation


def test_material_given_to_keep_goes_to_a_tool_that_creates() -> None:
    """ "Please remember this: my new manager is Rachel ..." asks to keep the material: the
    instruction's words need not be the leader's when it creates or writes something."""
    index = ToolIndex(
        [
            ToolSpec("create_entities", "Create multiple new entities in the knowledge graph", {"type": "object"}, "m"),
            ToolSpec("get_current_time", "Get the current time now.", {"type": "object"}, "time"),
        ]
    )
    kept = index.rank("please remember this: my new manager is Rachel, based in the Lagos office")
    assert "material given after the colon" not in kept.explanation, kept.explanation
    timed = ToolIndex([ToolSpec("get_current_time", "Get the current time now.", {"type": "object"}, "time")])
    r = timed.rank("save this: the standup moves to 10am now")  # keeping, but the leader only reads
    assert r.no_tool and "material given after the colon" in r.explanation, r.explanation


@pytest.mark.parametrize(
    "text",
    [
        "explain how a hash map handles collisions",
        "what is an index in SQL, roughly",
        "what's the difference between a process and a thread",
        "why does ice float on water",
        "describe photosynthesis in two sentences",
        "what does 'eventual consistency' mean",
        # a storage word that points at nothing is the topic, not a target
        "explain the difference between RAM and disk storage",
        "how does a web crawler's frontier work",
        "how do time zones and daylight saving time interact",
        "what is the time complexity of binary search",
        "what does a 404 status code mean",
        "what does UTC stand for",  # the one word defined is the subject, not a zone to act in
        "what's the French word for folder",
        # a kind of file ("a .gitignore file") is a topic, and "e.g." is no file name
        "what's a .gitignore file actually for?",
        "Explain what a .gitattributes file is for, e.g. a line like `*.png binary`.",
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
        "what does 5pm PST mean in Berlin",  # a time to convert, not a word to define
        "explain what the .gitignore file in ~/code does",  # that file, in a folder a tool reaches
    ],
)
def test_an_explanation_about_something_a_tool_can_reach_is_not_from_knowledge(text: str) -> None:
    assert not explains(text)


def test_an_explaining_request_gets_no_tool_on_the_reference_servers() -> None:
    specs = specs_from_dicts(json.loads(REFERENCE.read_text()))
    ranking = ToolIndex(specs).rank("explain the difference between a mutex and a semaphore")
    assert ranking.no_tool
    assert "asks for an explanation" in ranking.explanation


@pytest.mark.parametrize(
    "text",
    [
        "tell me about the history of the printing press",
        "what's the best way to learn a language as an adult",
        "how should I prepare for a job interview",  # advice: no lookup or action verb
        "pros and cons of living near the sea",
        "any tips for a first marathon",
        "why should anyone learn Latin",
        "write a short story about a clock that runs backwards",  # composes
        "explain what a merge conflict is",  # explains
        "how do bees make honey",  # how things work
        "how many cups of coffee should an adult drink",
        "is it polite to text someone after midnight",
        "what are some good books about habits",
        "convert 12 miles to km",  # a unit conversion is arithmetic
        "what's the antonym of 'ancient'",
        "any tricks for falling asleep faster",
        "what does 'break a leg' mean",  # explains
        "the whole nine yards - where does that phrase come from",  # explains
        "draw an ascii cat",  # composes
        "what are some good habits for writing readable commit messages",  # commits in general
        "how do file permissions work on linux",
        "what's the history of the Gregorian calendar",
        "give me a metaphor for git branches",  # composes
        "is it better to store config in environment variables or files",
        "suggest a name for my new cat",  # composes: a name is text to write
        "propose three taglines for a file-sharing service",
        "how many minutes are in a day",  # a quantity the model knows
        "give me a packing list for a weekend hiking trip",  # a list to write, not a listing
        "who invented the world wide web",  # history
        "what year did git first come out",
        "give me a short history of unix",
        "in general, how long should a commit subject line be",  # advice
        "what's the conceptual difference between a process and a thread",
        "write me a commit message for a change that fixes a race condition",  # text named after a commit
        "help me name my side project, it's a habit tracker",  # naming is made up
        "whats a good note-taking app for linux",  # a recommendation
        "can you suggest a good name for a branch that adds two-factor login?",  # the branch is the topic
        "Is a routing number the same thing as an account number?",  # two terms compared
        "When is it better to use a branch versus a tag?",  # judgement, not only at the start
    ],
)
def test_a_question_for_the_models_own_knowledge_asks_knowledge(text: str) -> None:
    assert asks_knowledge(text)


@pytest.mark.parametrize(
    "text",
    [
        "how do I see what changed since yesterday",  # a lookup verb
        "tell me about my calendar tomorrow",  # the user's own things
        "what's the history of this repo",  # a storage word
        "commit with the message 'fix typo'",  # the message is given
        "name the file report.txt",  # a file to name is a file
        "tell me about https://example.org",  # a URL
        "how can I calculate the interest on 5000 at 3 percent",  # an action verb
        "remember that Alice works at Acme",  # no question at all
        "what time is it in Tokyo",
        "how does this function get called",  # this/that: something at hand
        "how many files does src hold",  # a storage word
        "how much revenue would we make at 10% more units",  # a calculation ("would"), not knowledge
        "what are some files I can delete",
        "a car that travels 12,000 miles per year at 20 mpg",  # a quantity, not a conversion
        "I'm in the mood for a thriller, any suggestions?",  # recommendations are what some tools do
        "what's the history of the calendar I shared with you",  # "the calendar": one in particular
        "is it safe to remove the folders under build",  # "the folders": those in particular
        "how do the files I changed get staged",  # files the user changed
        "give me a quick history of this repo",  # "this repo": one in particular
        "in which year was the file report.pdf made",  # a path
        "is my branch the same as the one on main?",  # the user's own branch
    ],
)
def test_a_request_about_something_a_tool_can_reach_does_not_ask_knowledge(text: str) -> None:
    assert not asks_knowledge(text)


def test_one_shared_word_no_longer_makes_a_tool_fit_a_knowledge_question() -> None:
    """'history' is git_log's word, 'time' the time server's: a question about jazz or about when
    to travel is for the model, and the reason says why P(fit) fell."""
    index = ToolIndex(specs_from_dicts(json.loads(REFERENCE.read_text())))
    for text in ("tell me about the history of jazz", "what's the best time of year to visit Japan"):
        ranking = index.rank(text)
        assert ranking.no_tool, ranking.explanation
        assert "question for the model's own knowledge" in ranking.explanation
    # ... while a request that acts on the same thing still gets its tool
    ranking = index.rank("show me the commit history of this repo")
    assert not ranking.no_tool and ranking.candidates[0].name == "git__git_log", ranking.explanation


@pytest.mark.parametrize(
    "text",
    [
        "hi there! how's it going?",
        "thanks for your help 🙏",
        "that was exactly what I needed, thanks",
        "bye, have a great weekend",
        "Good morning",
        "hey, long time no see!",
    ],
)
def test_a_message_that_is_only_greeting_thanks_or_farewell_is_small_talk(text: str) -> None:
    assert small_talk(text)


@pytest.mark.parametrize(
    "text",
    [
        "thanks! now show me the log",  # a request after the thanks
        "good morning, what's on my calendar",
        "hi, can you list my files",
        "ok",  # bare acknowledgements often mean "go ahead" in a tool loop
        "yes",
        "great, now commit it",
        "what time is it",
    ],
)
def test_a_message_that_asks_for_anything_is_not_small_talk(text: str) -> None:
    assert not small_talk(text)


def test_small_talk_gets_no_tool_and_says_why(reference) -> None:  # noqa: ANN001
    """'today' is the time server's word, 'helped' nobody's: neither makes a tool fit a greeting."""
    for text in ("hey, how are you doing today?", "thank you so much, that really helped"):
        ranking = reference(text)
        assert ranking.no_tool, ranking.explanation
        assert "small talk" in ranking.explanation
    ranking = reference("thanks! what time is it in Tokyo right now?")
    assert not ranking.no_tool and ranking.candidates[0].name == "time__get_current_time", ranking.explanation
