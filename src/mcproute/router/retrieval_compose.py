"""Requests to compose content, and tools that store it: "write a haiku" is not "write a file".

A request such as "write a haiku about autumn" or "write a python function that reverses a string"
shares its verb with `write_file`, so the lexical and intent channels put a file-writing tool first.
But the user asked for text in the reply: nothing names a file, a path, a URL or a place to keep
it. This module recognises such requests, and tools whose job is to create or overwrite something
in storage (a file, a directory, a path), from general English and nothing about any catalogue.

- `composes(text)`: the request asks to compose content (a poem, story, email, joke, function,
  summary, ...) and names no storage target. Quoted text is content given to work on, so a file
  mentioned inside quotes ("rewrite this: 'can u send the file'") is not a target.
- `stores(name, description, action)`: the tool creates or writes (its action class from
  `retrieval_intent`) and its name or description speaks of files, directories or paths.

- `crafts(text)` / `speaks_of(name, description, kinds)`: the kinds of made-up text asked for
  (poem, story, joke, ...) and whether a tool speaks of them; `instruction(text)`: the instruction
  before material given after a pointing colon ("make this sound more polite: ...").

Questions for the model itself (explaining, knowledge, small talk) are `retrieval_questions.py`.

`ToolIndex.rank()` does not trust a storing leader for a composing request (P(fit) = 0, the
ranking itself is unchanged), the same way it does not trust a pool found by meaning alone.
"""

from __future__ import annotations

import re
from functools import lru_cache

from mcproute.router.retrieval_text import split_identifier

# Verbs that ask for new text by themselves ("rephrase this", "draft a reply").
_COMPOSE_VERBS = frozenset(
    {
        "compose",
        "draft",
        "rewrite",
        "rephrase",
        "paraphrase",
        "reword",
        "summarise",
        "summarize",
        "proofread",
        "brainstorm",
    }
)
# Verbs that ask for text when their object is a kind of text ("write a poem", "tell me a joke").
_MAKE_VERBS = frozenset(
    {
        "write",
        "create",
        "make",
        "generate",
        "give",
        "tell",
        "come",
        "produce",
        "suggest",
        "propose",
        "invent",
        "think",
        "craft",
        "pen",
        "turn",
        "need",
        "want",
        "draw",
        "word",
    }
)
# Kinds of text a model writes in its reply: literary, correspondence, prose, code.
_CONTENT = frozenset(
    {
        "poem",
        "haiku",
        "limerick",
        "sonnet",
        "verse",
        "rhyme",
        "song",
        "lyrics",
        "rap",
        "story",
        "tale",
        "fable",
        "joke",
        "pun",
        "riddle",
        "quote",
        "essay",
        "paragraph",
        "sentence",
        "summary",
        "outline",
        "speech",
        "toast",
        "eulogy",
        "slogan",
        "tagline",
        "caption",
        "headline",
        "bio",
        "biography",
        "tweet",
        "email",
        "letter",
        "note",
        "reply",
        "apology",
        "invitation",
        "wish",
        "wishes",
        "function",
        "regex",
        "snippet",
        "algorithm",
        "program",
        "one-liner",
        "ideas",
        "idea",
        "dialogue",
        "monologue",
        "script",
        "scene",
        "plot",
        "recipe",
        "intro",
        "introduction",
        "conclusion",
        "abstract",
        "pitch",
        "ad",
        "advert",
        "jingle",
        "motto",
        "acrostic",
        "ode",
        "ascii",
        "metaphor",
        "name",
        "names",
        "analogy",
        "mnemonic",
        "title",
        "nickname",
    }
)
# Lists people ask a model to write ("give me a packing list"), not a listing of what exists.
_LISTS = frozenset({"packing", "shopping", "grocery", "reading", "bucket", "guest", "wish", "check"})
# Kinds that are always made up, whatever the verb ("give me a metaphor", "suggest a slogan").
_INVENTED = frozenset(
    {
        "poem",
        "haiku",
        "limerick",
        "sonnet",
        "acrostic",
        "ode",
        "metaphor",
        "analogy",
        "mnemonic",
        "pun",
        "slogan",
        "tagline",
        "motto",
        "jingle",
        "eulogy",
        "toast",
    }
)
# Kinds of text a writer makes up, never records a tool keeps (those above, and these when a
# verb that makes things asks for them): a request to compose one is for a tool only when the
# tool speaks of that kind ("tell me a joke" to a jokes API; "compose a short song about time
# zones" is not `convert_time`, "write a haiku about fetching water" not `fetch`).
_CRAFT = _INVENTED | frozenset(
    {
        "verse",
        "song",
        "lyrics",
        "rap",
        "story",
        "tale",
        "fable",
        "joke",
        "riddle",
        "essay",
        "speech",
        "dialogue",
        "monologue",
    }
)
# Words that name where something is kept: a request that mentions one may want a tool.
_STORAGE = frozenset(
    {
        "file",
        "files",
        "folder",
        "folders",
        "directory",
        "directories",
        "dir",
        "path",
        "disk",
        "save",
        "saved",
        "store",
        "stored",
        "repo",
        "repository",
        "database",
        "db",
        "drive",
        "bucket",
        "upload",
        "document",
        "doc",
        "notes",
        "memory",
        "commit",
        "branch",
        "sheet",
        "spreadsheet",
        "calendar",
        "wiki",
        "page",
        "ticket",
        "issue",
        "gist",
    }
)
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|‘[^’]*’|(?<!\w)'[^']*'(?!\w)|`[^`]*`")
_URL = re.compile(r"\b(?:https?|ftp|file)://|\bwww\.", re.IGNORECASE)
_PATHLIKE = re.compile(r"[\w.~-]*[/\\][\w.~-]+|(?<![\w.])\.?[\w-]+\.[A-Za-z][A-Za-z0-9]{0,4}\b")
_WORDS = re.compile(r"[a-z][a-z'-]*")
# "about <topic>" up to the end of its clause: the subject of the text asked for.
# A relative clause in it ("about a folder that wanted to be a file") is still the topic.
_TOPIC = re.compile(
    r"(?:\b(?:about|on the (?:topic|subject|theme) of)|(?<=\bname )for|(?<=\bnames )for|(?<=\btitle )for"
    r"|(?<=\bmessage )for|(?<=\bdescription )for)\b(?:(?:(?!\s(?:and|then|to|into|in)\s)[^,.;:!?])*?"
    r"\b(?:that|which|who)\b[^,.;:!?]*?(?=\s+(?:and|then)\s|[,.;:!?]|$)"
    r"|[^,.;:!?]*?(?=\s+(?:and|then|to|into|in)\s|[,.;:!?]|$))"
)
# A word mentioned as a word ("an acrostic for the word MEMORY") is material, as if quoted.
_MENTIONED = re.compile(r"\b(?:word|term|phrase|letters)\s+[^\s,.;:!?]+", re.IGNORECASE)
_OBJECT_WINDOW = 8  # words after a verb in which its object is looked for
# Storage words in a tool's name or description.
_TOOL_STORAGE = frozenset({"file", "files", "directory", "directories", "folder", "folders", "path", "paths", "disk"})


def _base(word: str) -> str:
    for cut in ("ies", "s"):
        if word.endswith(cut) and len(word) - len(cut) >= 3:
            return word[: -len(cut)] + ("y" if cut == "ies" else "")
    return word


# Texts named after what they go with: "a commit message for ...", "the PR description" are text
# to write ("write me a commit message for a change that fixes ..."), not a commit or a PR.
_NAMED_TEXT = re.compile(
    r"\b(?:commit|pr|pull request|merge request|release|changelog|ticket|issue) (?:message|description|title|notes?"
    r"|entry|summary)\b",
    re.IGNORECASE,
)
# "help me name my side project", "name our new cat": naming something is text to make up.
_NAMING = re.compile(r"^\s*(?:please |can you |could you )?(?:help me |help us )?name (?:my|our|a|an|the|this)\b", re.I)


@lru_cache(maxsize=8192)
def composes(text: str) -> bool:
    """True when `text` asks for content to be written in the reply and names no storage target."""
    own = _MENTIONED.sub(" ", _QUOTED.sub(" ", text))  # quoted text is material to work on, not a target
    own = _NAMED_TEXT.sub(" summary ", own)
    if _URL.search(own) or _PATHLIKE.search(own):
        return False
    words = _WORDS.findall(own.lower())
    # A storage word in the topic ("a story about a lost file") is what the text is about, not where it goes.
    targets = _WORDS.findall(_TOPIC.sub(" ", own.lower()))
    if not words or any(w in _STORAGE for w in targets):
        return False
    if any(w in _COMPOSE_VERBS for w in words) or _NAMING.match(own):
        return True
    # The kind of text must be the verb's object, close after it: "write a two sentence horror story",
    # not "generate a sound of 440Hz for 5 seconds. What is the function ...?".
    return any(
        w in _MAKE_VERBS
        and any(
            o in _CONTENT or _base(o) in _CONTENT or (_base(o) == "list" and words[j - 1] in _LISTS)
            for j, o in enumerate(words[i + 1 : i + 1 + _OBJECT_WINDOW], start=i + 1)
        )
        for i, w in enumerate(words)
    )


# Verbs that make up new text ("suggest some songs" and "give me a story" may be about existing
# ones), and the words that end a verb's object ("create a playlist | with my favourite songs").
_CRAFT_VERBS = frozenset({"write", "compose", "make", "create", "generate", "tell", "pen", "craft", "invent", "draft"})
_OBJECT_END = frozenset(
    {
        "for",
        "with",
        "about",
        "of",
        "in",
        "on",
        "to",
        "from",
        "by",
        "at",
        "into",
        "over",
        "this",
        "that",
        "these",
        "those",
        "which",
        "who",
        "how",
        "what",
        "where",
        "when",
        "why",
        "and",
        "or",
        "is",
        "are",
    }
)


@lru_cache(maxsize=8192)
def crafts(text: str) -> frozenset[str]:
    """The kinds of made-up text (`_CRAFT`: poem, story, joke, ...) that `text` asks to be
    composed: the head of a making verb's object ("write me a short poem", "tell a joke"; not
    "create a word cloud for this poem"), when the request composes (`composes`); or, with
    material given after a colon (`instruction`), the composing verbs of the instruction
    ("rewrite", "summarise")."""
    told = instruction(text)
    if told is not None:  # "rewrite this commit message to be clearer: fixed stuff": the rewriting is asked
        done = {w for w in _WORDS.findall(told.lower()) if w in _COMPOSE_VERBS}
        if done:
            return frozenset(done)
    if not composes(text):
        return frozenset()
    words = _WORDS.findall(_QUOTED.sub(" ", text).lower())
    found: set[str] = set()
    for i, w in enumerate(words):
        if w in _MAKE_VERBS or w in _COMPOSE_VERBS:
            for o in words[i + 1 : i + 1 + _OBJECT_WINDOW]:
                if o in _OBJECT_END:
                    break
                if (b := _base(o)) in _INVENTED or (b in _CRAFT and w in _CRAFT_VERBS):
                    found.add(b)
    return frozenset(found)


@lru_cache(maxsize=65536)
def speaks_of(name: str, description: str, kinds: frozenset[str]) -> bool:
    """True when a tool's name or description names one of `kinds`: the word, its plural, or a
    word that shares its first six letters ("summarise" - "summary", "rewrite" - "rewriting")."""
    words = [*split_identifier(name), *_WORDS.findall(description.lower())]
    stems = {k[:6] for k in kinds if len(k) >= 6}
    return any(_base(w) in kinds or w[:6] in stems for w in words)


# "fix the grammar in this sentence: me and him goes ...": text after a colon that closes a phrase
# pointing at it ("this sentence:", "make this sound more polite:", "these notes:") is material
# given to work on; the instruction is what comes before. ("the following command: ..." is left
# out: what follows may be the request itself; "https:" is no colon of this kind.)
_GIVEN = re.compile(r"\b(?:this|these)\b[^:\n.!?]{0,60}:(?!//)\s*\S", re.IGNORECASE)


def instruction(text: str) -> str | None:
    """The part of `text` before material given after a pointing colon (None: none is given).
    A URL or path after the colon is no material but what to act on ("read this: https://...")."""
    m = _GIVEN.search(text)
    if m is None or _URL.search(text, m.end() - 1) or _PATHLIKE.search(text, m.end() - 1):
        return None
    return text[: m.end() - 1].rstrip(": \t")


@lru_cache(maxsize=65536)
def stores(name: str, description: str, action: str | None) -> bool:
    """True for a tool that creates or writes something in storage (a file, a directory, a path)."""
    if action not in ("create", "write"):
        return False
    words = set(split_identifier(name)) | set(_WORDS.findall(description[:200].lower()))
    return bool(words & _TOOL_STORAGE)
