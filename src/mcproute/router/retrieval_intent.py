"""Intent words: what a request asks to *do*, and what a tool does, as general English knowledge.

A request and a tool can share every content word and still disagree on the action ("forget
Bob" vs `create_entities`), or share none and agree ("remember that Alice works at Acme" vs
`create_entities`). This module gives both sides an **action class** from a small lexicon of
verbs, and the query a few **thesaurus terms** (everyday word -> the word tool authors use).

Nothing here names a tool, a server or a catalogue: the lexicon is about English verbs and
applies to any catalogue. The reranker learns one weight for the agreement feature, validated
across sources (scripts/build_retrieval_params.py), so a catalogue where the classes say nothing
simply gets little from it.

- `query_actions(text)`: the classes of the verbs in a request, first verb first. A question
  ("what time is it in Tokyo?", "which files changed?") asks to *read*.
- `tool_action(name, description)`: the class of the first word of the tool's description when
  it is a verb ("Shows the commit logs" -> read; "Unstages all staged changes" -> delete), else
  of the first action word of its name (`read_graph` -> read).
- `agreement(query, tool)`: 1.0 same class, 0.5 same family (read/list/search/monitor/convert
  change nothing; create/write/move change something; delete, send, run, and switching off
  (disable: freeze, lock, pause) or on (enable: unfreeze, activate) stand alone),
  -1.0 different families, 0.0 when either side has no class.
- `query_many(text)` / `tool_many(name, description)`: one vs many ("read a.json and b.json" fits a
  tool made for several files).

The thesaurus (everyday word -> the word tool authors use) is `retrieval_thesaurus.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from mcproute.router.retrieval_slots import names_file
from mcproute.router.retrieval_text import split_identifier

# class -> verbs (base forms; inflections are handled by `_lookup`)
_CLASSES: dict[str, tuple[str, ...]] = {
    "read": (
        "read",
        "show",
        "display",
        "view",
        "open",
        "see",
        "print",
        "cat",
        "get",
        "retrieve",
        "look",
        "check",
        "inspect",
        "tell",
        "give",
        "describe",
        "return",
        "load",
        "peek",
        "examine",
        "preview",
    ),
    "list": ("list", "enumerate", "ls", "browse", "tree"),
    "monitor": ("track", "monitor"),
    "search": ("search", "find", "locate", "lookup", "grep", "query", "seek", "filter", "match", "discover", "scan"),
    "fetch": ("fetch", "download", "grab", "scrape", "crawl", "visit", "pull"),
    "create": (
        "create",
        "add",
        "make",
        "new",
        "insert",
        "remember",
        "note",
        "record",
        "register",
        "store",
        "memorize",
        "memorise",
        "init",
        "initialize",
        "generate",
        "build",
        "append",
        "mkdir",
        "stage",
        "commit",
        "keep",
        "log",
        "start",
        "begin",
        "open_new",
        "establish",
        "set_up",
        "setup",
    ),
    "write": (
        "write",
        "save",
        "edit",
        "update",
        "modify",
        "change",
        "set",
        "replace",
        "patch",
        "overwrite",
        "put",
        "fix",
        "amend",
        "rewrite",
        "correct",
        "adjust",
        "tweak",
        "swap",
        "upload",
        "bump",
        "increase",
        "decrease",
        "tick",
        "uncomment",
    ),
    "move": ("move", "rename", "mv", "relocate", "switch", "checkout", "transfer", "go"),
    "delete": (
        "delete",
        "remove",
        "forget",
        "erase",
        "drop",
        "clear",
        "discard",
        "unstage",
        "reset",
        "rm",
        "destroy",
        "purge",
        "wipe",
        "undo",
        "revert",
        "cancel",
        "unset",
        "uninstall",
        "clean",
        "empty",
    ),
    "convert": ("convert", "translate", "transform", "format"),
    "compute": ("calculate", "compute", "count", "measure", "estimate", "evaluate", "solve", "sum"),
    "send": ("send", "email", "post", "notify", "message", "share", "publish", "reply", "forward", "text"),
    "run": ("run", "execute", "launch", "invoke", "call", "trigger"),
    # switching something off and on again: a card, a subscription, an account, a feature
    "disable": ("disable", "freeze", "lock", "block", "pause", "suspend", "deactivate"),
    "enable": ("enable", "unfreeze", "unblock", "reactivate", "activate", "unpause"),
}
# Families by side effect: reading (nothing changes), writing, deleting, sending, running, switching
# off and on (a card frozen and unfrozen shares every noun with itself: the verb is all that differs).
_FAMILY = {
    "read": "read",
    "list": "read",
    "search": "read",
    "fetch": "read",
    "convert": "read",
    "compute": "read",
    "create": "write",
    "write": "write",
    "move": "write",
    "delete": "delete",
    "send": "send",
    "run": "run",
    "monitor": "read",
    "disable": "disable",
    "enable": "enable",
}
_VERB: dict[str, str] = {v: c for c, vs in _CLASSES.items() for v in vs}
# Words that are verbs in a tool's name but, in a request, are mostly nouns or fillers: they give
# a tool its class but never a query its class ("the commit log", "the git log", "a new file").
_TOOL_ONLY = frozenset(
    {
        "commit",
        "log",
        "new",
        "track",
        "keep",
        "start",
        "note",
        "record",
        "tree",
        "text",
        "message",
        "post",
        "call",
        "match",
        "check",
        "pull",
        "return",
        "format",
        "go",
        "open",
        "set",
        "put",
        "change",
        "clean",
    }
)
# A request with no action verb but one of these openings is a question: it asks to read.
_QUESTION = frozenset(
    {
        "what",
        "what's",
        "whats",
        "which",
        "who",
        "who's",
        "where",
        "where's",
        "when",
        "how",
        "is",
        "are",
        "was",
        "were",
        "does",
        "do",
        "did",
        "has",
        "have",
        "any",
        "whose",
    }
)
_WORDS = re.compile(r"[a-z][a-z']*")


@lru_cache(maxsize=4096)
def _lookup(word: str) -> tuple[str, str] | None:
    """(base verb, class) of `word` or of its inflection ("shows", "creating", "deleted", "copies")."""
    w = word.lower().strip("'")
    if w in _VERB:
        return w, _VERB[w]
    for cut, add in (
        ("ies", "y"),
        ("es", ""),
        ("s", ""),
        ("ing", ""),
        ("ing", "e"),
        ("ed", ""),
        ("ed", "e"),
        ("d", ""),
    ):
        if w.endswith(cut) and len(w) - len(cut) >= 2:
            base = w[: len(w) - len(cut)] + add
            if base in _VERB:
                return base, _VERB[base]
            if cut in ("ing", "ed") and len(base) >= 3 and base[-1] == base[-2] and base[:-1] in _VERB:
                return base[:-1], _VERB[base[:-1]]  # "stopped" -> "stop"
    return None


# Phrasal verbs of removing, read as the one verb they mean ("get rid of notes.txt", "throw
# draft.md away"), so the commands that open with them are read as commands to remove.
_PHRASAL = (
    (re.compile(r"\bget rid of\b"), "remove"),
    (re.compile(r"\bthrow (?:away|out)\b"), "remove"),
    (re.compile(r"\bthrow ([\w.\-/~]+) (?:away|out)\b"), r"remove \1"),
)


def _plain(low: str) -> str:
    """`low` (lower case) with its phrasal verbs of removing replaced by "remove"."""
    if "rid of" not in low and "throw" not in low:
        return low
    for pattern, verb in _PHRASAL:
        low = pattern.sub(verb, low)
    return low


@lru_cache(maxsize=8192)
def query_actions(text: str) -> tuple[str, ...]:
    """Action classes of the request's verbs, first verb first.

    A question ("what ...", "which files have I modified?") asks to read; its past participles
    describe a state ("modified", "committed"), not the action asked for, so they are skipped.
    """
    words = _WORDS.findall(_plain(text.lower()))
    question = bool(words) and (words[0] in _QUESTION or text.rstrip().endswith("?"))
    out: list[str] = ["read"] if question else []
    for w in words:
        hit = _lookup(w)
        # "did I forget to stage anything?": a question about what was forgotten asks about a state
        if hit is None or hit[0] in _TOOL_ONLY or (question and (w.endswith("ed") or hit[0] == "forget")):
            continue
        if hit[1] not in out:
            out.append(hit[1])
    return tuple(out)


@lru_cache(maxsize=65536)
def tool_action(name: str, description: str) -> str | None:
    """The class of a tool: its description's first word when that is a verb ("Shows the commit
    logs"), else the first action word of its name (`read_graph`); adjectives such as `unstaged`
    in `git_diff_unstaged` are not actions."""
    words = _WORDS.findall(description[:80].lower())
    hit = _lookup(words[0]) if words else None
    if hit is not None and hit[0] in _LIGHT:
        # "Make line-based edits to a text file": the action is the noun's ("edits"), not "make"
        named = next((h for w in words[1:4] if (h := _lookup(w)) is not None), None)
        hit = named or hit
    if hit is not None:
        return hit[1]
    for w in split_identifier(name):
        hit = _lookup(w)
        if hit is not None and not w.endswith("ed"):
            return hit[1]
    return None


# The verbs a description opens with when it lists several: "Add, edit, delete or set as default
# one of the addresses ...", "Set or replace the drop-off notes ...".
_VERB_LIST = re.compile(r"\s*([a-z]+)((?:\s*,\s*[a-z]+)*)(?:\s*,?\s+(?:or|and)\s+([a-z]+))?\b")


@lru_cache(maxsize=65536)
def tool_actions(name: str, description: str) -> frozenset[str]:
    """Every action class a tool does by its description's opening verbs: one for most tools
    (`tool_action`), several for one that lists them ("Add, edit, delete or set as default ..." ->
    create, write, delete), so a request to delete is not kept from a tool that also adds."""
    action = tool_action(name, description)
    first = frozenset() if action is None else frozenset({action})
    m = _VERB_LIST.match(description[:120].lower())
    if m is None or not (m.group(2) or m.group(3)):
        return first
    words = [m.group(1), *re.findall(r"[a-z]+", m.group(2)), m.group(3) or ""]
    hits = [verb_of(w) for w in words]
    if not all(hits[:-1]) or (m.group(3) and hits[-1] is None):
        return first  # "Search posted and pending ...": not a list of verbs
    return frozenset(h[1] for h in hits if h is not None) | first


_LIGHT = frozenset({"make", "do", "perform"})  # verbs whose object says what is done
_CHANGING = frozenset({"write", "delete", "send"})  # families that change something ("run X" invokes X: any tool)
_POLITE = re.compile(
    r"^\s*(?:(?:please|pls|ok|okay|hey|now|then|and|also|so|actually|oh|oops|ugh|yeah|yes|alright"
    r"|good|great|fine|cool|nice|perfect|thanks|thx|ty)[,!.]?\s+"
    r"|(?:can|could|would|will) (?:you|u)\s+)*"
)


def opening_end(low: str) -> int:
    """Where a command's first word starts in `low` (lower case), after polite openings
    ("please", "ok so", "can you")."""
    m = _POLITE.match(low)  # always matches (every part is optional)
    return m.end() if m else 0


def opening_word(low: str, at: int | None = None) -> re.Match[str] | None:
    """The word at `at` in `low` (default: the command's first word, after polite openings)."""
    return _WORDS.match(low, opening_end(low) if at is None else at)


def verb_of(word: str) -> tuple[str, str] | None:
    """(base verb, action class) of `word` or of its inflection; None for a word that is no verb here."""
    return _lookup(word)


def is_base_verb(word: str) -> bool:
    """`word` (lower case) is the base form of a verb of the action classes."""
    return word in _VERB


# After a word that is mostly a noun in a request ("commit", "log", "record", "set"), what makes it
# the opening verb: its object or particle ("commit what I have staged", "log a 5k run", "set an
# alarm", "note down that ...").
_OBJECT_START = re.compile(
    r"\s+(?:['\"‘“](?=\w)|(?:the|a|an|my|our|your|his|her|their|this|that|these|those|what|what's|whatever"
    r"|everything|all|it|them|me|us|him|some|every|both|up|down|in|with)\b)"
)

# ... except in idioms whose object is not what is made: "keep that on file", "keep everything
# else about her", "put the docs/ folder in the staging area" (it is staged, not made).
_IDIOMS = frozenset({"keep", "put"})


@lru_cache(maxsize=8192)
def changes(text: str) -> str | None:
    """The action class when `text` is a command that opens with a verb that changes something
    ("make a folder named reports", "please delete old.txt", "forget Bob"), else None. Only the
    opening verb counts: in a longer request ("Imagine you are a teacher. You want to create a
    worksheet ...") the first verb found is seldom what is asked of a tool."""
    low = _plain(text.lower())
    m = opening_word(low)
    hit = _lookup(m.group()) if m else None
    if hit is None or _FAMILY[hit[1]] not in _CHANGING:
        return None
    if m is not None and low[m.end() : m.end() + 1] == "-":
        return None  # "double-check that ...", "re-run": the word opens a compound, not a command
    if m is not None and m.group() != hit[0] and m.group().endswith(("ed", "ing")):
        return None  # "unstaged diff with 10 lines of context", "deleted files in src?": a participle, not a command
    if hit[0] in _TOOL_ONLY and (hit[0] in _IDIOMS or not (m is not None and _OBJECT_START.match(low, m.end()))):
        return None  # "commit history pls", "log of the last 10 commits": a noun, not a command
    if m is not None and re.match(r"\s+[\d(+-]", low[m.end() :]):
        return None  # "add 1 and 2": arithmetic, not a change
    return hit[1]


# Kinds of thing a changing request names as its object: folders, files and branches (words that
# mean one kind only). A tool's kinds are those its name and description speak of.
_KIND_WORDS = {
    **dict.fromkeys(
        ("folder", "folders", "directory", "directories", "dir", "dirs", "subfolder", "subfolders"), "folder"
    ),
    **dict.fromkeys(("file", "files"), "file"),
    **dict.fromkeys(("branch", "branches"), "branch"),
}


def _kinds(words: Iterable[str]) -> frozenset[str]:
    seq = list(words)
    # "commit the staged files": files in a state of the repository are its changes, not a kind of
    # thing made or moved
    return frozenset(
        _KIND_WORDS[w] for i, w in enumerate(seq) if w in _KIND_WORDS and (i == 0 or seq[i - 1] not in _TRACKED)
    )


_TRACKED = frozenset({"staged", "unstaged", "modified", "changed", "edited", "untracked", "tracked", "committed"})


@lru_cache(maxsize=8192)
def changed_kinds(text: str) -> frozenset[str]:
    """For a command that changes something (`changes`), the kinds of thing its object names: the
    words after the opening verb, up to the end of its clause and at most `_OBJECT_WINDOW` of them
    ("make a folder named reports" -> {"folder"}; "unstage everything, I added the wrong files" ->
    none); empty otherwise."""
    if changes(text) is None:
        return frozenset()
    return _kinds(_WORDS.findall(_command_clause(text))[1 : 1 + _OBJECT_WINDOW])


_OBJECT_WINDOW = 6
_CLAUSE_END = re.compile(r"[,;:!?]|\.(?:\s|$)|\s(?:and|but|because|so|then)\s")


def _command_clause(text: str) -> str:
    """The command's first clause, from its opening verb on (lower case, phrasal verbs plain)."""
    low = _plain(text.lower())
    return _CLAUSE_END.split(low[opening_end(low) :], maxsplit=1)[0]


@lru_cache(maxsize=8192)
def asks_about(text: str) -> bool:
    """A question about how things are ("what did I change in app.py?", "did I add insurance to
    8MPL2D?"): it opens with a question word, does not open with a verb that asks for a change,
    and does not ask what can be done (`_CAPABILITY`)."""
    low = text.lower()
    words = _WORDS.findall(low)
    return bool(words) and words[0] in _QUESTION and changes(text) is None and not _CAPABILITY.search(low)


# A question about what can be done, not about how things are ("how can I make my copy more
# engaging", "how do I visualize my data", "is it possible to ...", "... and can you find news"):
# a tool that does it answers it.
_CAPABILITY = re.compile(
    r"\b(?:can|could|should|may|might) (?:i|we|you|u)\b|\bhow (?:do|does|to)\b|\bis it possible\b"
    r"|\bis there (?:a|any) way\b|\bbest way\b|\bwhere (?:can|could|do|should)\b"
)


_ADDING = frozenset({"append", "prepend", "insert", "add"})


@lru_cache(maxsize=8192)
def adds_to_file(text: str) -> bool:
    """A command to add something to a file it names ("append buy milk to todo.txt", "add a line
    to notes.md: call mom"): what the file holds stays."""
    low = text.lower()
    m = opening_word(low)
    return m is not None and m.group() in _ADDING and names_file(low[m.end() :])


@lru_cache(maxsize=8192)
def changed_file_verb(text: str) -> str | None:
    """For a command that changes something whose object names a file by its name rather than by
    the word ("delete old.log", "remove ~/tmp/build.zip"), its opening verb; None otherwise."""
    if changes(text) is None:
        return None
    words = _command_clause(text).split()
    return words[0] if words and names_file(" ".join(words[1 : 1 + _OBJECT_WINDOW])) else None


def tool_kinds(name: str, description: str) -> frozenset[str]:
    """The kinds a tool's name and description speak of (`create_directory` -> {"folder"})."""
    return _kinds([*split_identifier(name), *_WORDS.findall(description.lower())])


def reads(action: str | None) -> bool:
    """True for a tool class that changes nothing (read, list, search, fetch, convert, compute)."""
    return action is not None and _FAMILY[action] == "read"


def family(action: str | None) -> str | None:
    """The side-effect family of an action class: read, write, delete, send or run."""
    return None if action is None else _FAMILY[action]


def only_reads(actions: Iterable[str | None]) -> bool:
    """True when every one of these tool classes reads (read, list, search, fetch, convert,
    compute) and none is missing: a catalogue (or pool) in which nothing changes anything."""
    seen = list(actions)
    return bool(seen) and all(a is not None and _FAMILY[a] == "read" for a in seen)


def agreement(query: tuple[str, ...], tool: str | None) -> float:
    if not query or tool is None:
        return 0.0
    if tool in query:
        return 1.0
    fam = _FAMILY[tool]
    if any(_FAMILY[q] == fam for q in query):
        return 0.5
    return -1.0


# One vs many: a request about several things ("read a.json and b.json", "all the .csv files",
# "the last 3 commits") fits a tool made for several ("read_multiple_files", "list_...") better.
_MANY_WORDS = frozenset(
    {
        "all",
        "both",
        "every",
        "each",
        "multiple",
        "several",
        "many",
        "these",
        "those",
        "two",
        "three",
        "four",
        "five",
        "few",
        "various",
        "everything",
    }
)
_TOOL_MANY = frozenset({"multiple", "many", "several", "batch", "bulk", "all", "list", "entire", "whole"})
_NUMBER = re.compile(r"\b(?:[2-9]|[1-9]\d+)\s+[a-z]+s\b")  # "the last 3 commits", not "5 pm"
_FILELIKE = re.compile(r"[\w\-/]+\.[A-Za-z0-9]{1,5}\b")


@lru_cache(maxsize=8192)
def query_many(text: str) -> bool:
    low = text.lower()
    if any(w in _MANY_WORDS for w in _WORDS.findall(low)) or _NUMBER.search(low):
        return True
    return len({m.group() for m in _FILELIKE.finditer(text) if not m.group()[0].isdigit()}) >= 2


@lru_cache(maxsize=65536)
def tool_many(name: str, description: str) -> bool:
    words = set(split_identifier(name)) | set(_WORDS.findall(description[:100].lower()))
    return bool(words & _TOOL_MANY)
