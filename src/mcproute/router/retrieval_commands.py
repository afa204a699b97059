"""Commands read by their opening verb: named operations, a program's subcommands, requests only
to see, everyday errands, bringing in something new, and the words that say when.

The no-tool gates and leader moves (`retrieval_gates.py`) read these; like `retrieval_intent.py`,
nothing here names a tool, a server or a catalogue.

- `operation(text)`: "git push ~/code/shop to origin" -> push, and the words a tool that pushes
  speaks of; `subcommand(text)`: "git cherry-pick 4f2a9c1" -> ("git", "cherry-pick").
- `looks(text)`: the command only asks to see something ("list every entity", "show me the log").
- `errand(text)` / `when_aside(text)`: an everyday service ("book me a haircut for Saturday") or a
  request that says when without asking about time, without the words that say when.
- `introduces(text)` / `only_existing(description)` / `links(description)`: a request that brings in
  something new, a tool limited to things that already exist, and one that connects things.
- `is_command_verb(word)`: a word a command opens with (read by `retrieval_focus.py`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from mcproute.router.retrieval_intent import is_base_verb, opening_end, opening_word, verb_of
from mcproute.router.retrieval_slots import CLOCK, ZONE_ABBREVIATIONS, ZONE_REGIONS
from mcproute.router.retrieval_text import stem

# Named operations: a command that opens with one of these asks for that operation and nothing
# else ("git push to origin", "stash my changes", "clone this repo", "zip the folder"), and only a
# tool that speaks of it (one of the words after it) can do it. Kept to verbs that descriptions
# name the same way: not "delete" or "download" (a tool that removes or fetches may say either),
# not "tag" ("tag my reminder as important" asks a notes tool to label it), not "post" ("Post-engine
# start, verify tire pressure", "Post review, organize the lines": BFCL's "after").
_OPERATIONS = {
    "push": "push upload publish",
    "pull": "pull",  # only as "git pull": "pull up Tom's entry", "pull the README from <url>"
    "clone": "clone",
    "merge": "merge",
    "rebase": "rebase",
    "stash": "stash",
    "zip": "zip compress archive",
    "unzip": "unzip extract decompress",
    "install": "install",
    "deploy": "deploy",
    "copy": "copy duplicate",
    "revert": "revert undo",  # "revert a1b2c3d and push": not a tool that shows or resets
}
_TOOL_PREFIX = re.compile(r"(?:git|npm|pip|docker|kubectl)\s+")
_PREFIXED_ONLY = frozenset({"pull"})


@lru_cache(maxsize=8192)
def operation(text: str) -> tuple[str, frozenset[str]] | None:
    """The named operation a command opens with ("git push ~/code/shop to origin" -> push) and
    the stems of the words a tool that does it speaks of; None for anything else."""
    low = text.lower()
    at = opening_end(low)
    prefix = _TOOL_PREFIX.match(low, at)
    m = opening_word(low, prefix.end() if prefix else at)
    if m is None or m.group() not in _OPERATIONS or (m.group() in _PREFIXED_ONLY and prefix is None):
        return None
    return m.group(), frozenset(stem(w) for w in _OPERATIONS[m.group()].split())


_SUBCOMMAND = re.compile(r"[a-z][a-z-]*")  # "cherry-pick", "ps", "compose"


@lru_cache(maxsize=8192)
def subcommand(text: str) -> tuple[str, str] | None:
    """(program, subcommand) for a command that opens with a program's name and one of its
    subcommands other than the named operations above ("git cherry-pick 4f2a9c1" -> ("git",
    "cherry-pick"), "docker ps", "kubectl get pods"): only a tool that speaks of both does it."""
    low = text.lower()
    prefix = _TOOL_PREFIX.match(low, opening_end(low))
    if prefix is None:
        return None
    m = _SUBCOMMAND.match(low, prefix.end())
    if m is None or m.group() in _OPERATIONS:
        return None
    return prefix.group().strip(), m.group()


# Opening verbs that only ask to see something ("list every entity ...", "show me the log").
_LOOKING = frozenset({"list", "show", "display", "print", "view", "read", "enumerate"})


@lru_cache(maxsize=8192)
def looks(text: str) -> bool:
    """True when `text` is a command that opens with a verb that only asks to see something
    ("list every entity and relation", "show me the staged diff"). Not "find" or "search": a request
    to find something is often served by a tool that makes it ("find me a playlist")."""
    m = opening_word(text.lower())
    hit = verb_of(m.group()) if m else None
    return hit is not None and hit[0] in _LOOKING


# Command verbs that ask for an everyday service ("book me a haircut", "remind me at 5pm", "order
# two lattes", "set an alarm"). Not "find", "get", "check", "add" or "start": MetaTool's tools
# answer "find homes for sale in LA" by meaning alone, in words of their own.
_ERRANDS = frozenset(
    {
        "book",
        "reserve",
        "order",
        "remind",
        "schedule",
        "reschedule",
        "rebook",
        "buy",
        "pay",
        "play",
        "turn",
        "wake",
        "snooze",
        "rsvp",
        "ring",
        "lock",
        "unlock",
        "split",
        "upgrade",
        "text",
        "set",
        "call",
        "cancel",
        "send",
        "email",
        "log",
        "transfer",
        "alert",
        "notify",
        "mute",
        "dim",
    }
)
# Verbs a command opens with beyond the action classes and errands ("explain ...", "suggest a name
# ...", "link Tomás and Atlas", "empty the index"); and words of the classes that open a sentence
# without commanding ("new thing to track: ...").
_COMMANDS = frozenset(
    """explain suggest recommend describe help name link connect relate summarise summarize compare
    empty tidy pick choose translate draft compose rephrase reword proofread brainstorm outline plan
    review walk figure try use bring fill turn stop tell give show""".split()
)
_NOT_COMMANDS = frozenset({"new", "tree", "text", "message", "post", "match", "format", "return", "call"})


def is_command_verb(word: str) -> bool:
    """`word` (lower case, as written) is the base form of a verb a command opens with."""
    return word not in _NOT_COMMANDS and (is_base_verb(word) or word in _ERRANDS or word in _COMMANDS)


# A request that brings in a thing not kept before ("add Northwind as a company", "a project
# called 'Atlas'", "new thing to keep track of: ..."), and tools limited to things that exist.
_INTRODUCES = re.compile(
    r"\bas an? (?:new )?(?:company|person|project|client|customer|team|service|vendor|supplier|contact|colleague"
    r"|friend|entity|organi[sz]ation)\b"
    r"|\b(?:an?|one) (?:new )?(?:project|company|person|client|customer|team|service|vendor|supplier|contact"
    r"|colleague|friend|entity|thing) (?:called|named)\b"
    # "my supplier is called Greenleaf" (not "what is my supplier called")
    r"|\b(?:my|our) (?:new )?(?:project|company|client|customer|team|service|vendor|supplier|contact|colleague"
    r"|friend|dentist|doctor|landlord|accountant|manager|boss)(?: is|'s) (?:called|named)\b"
    # "new thing to keep track of: ...", "add a new client": the new thing is what the request is
    # about ("a database for our new project" is not)
    r"|(?:^\s*|[:;]\s*|\b(?:add|track|remember|create|make|record|store|keep|log|note) (?:an? )?)new (?:thing|person|project"
    r"|entity|entry|record|contact|company|client|customer)\b|\bstart tracking\b",
    re.IGNORECASE,
)
_EXISTING = re.compile(r"\bexisting\b|\balready exist", re.IGNORECASE)


def introduces(text: str) -> bool:
    """The request brings in something new to keep, by a phrase that says so."""
    return bool(_INTRODUCES.search(text))


_LINKS = re.compile(r"\bbetween\b", re.IGNORECASE)


def links(description: str) -> bool:
    """The tool connects things ("Create multiple new relations between entities ...")."""
    return bool(_LINKS.search(description))


def only_existing(description: str) -> bool:
    """The tool works only on things that already exist ("Add new observations to existing entities")."""
    return bool(_EXISTING.search(description))


# When something should happen: clock times, days, dates and parts of the day.
_WEEKDAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*"
_WHEN = re.compile(
    rf"(?:\b(?:until|by|at|for|from|before|after) )?(?:{CLOCK})"
    r"|\b(?:right )?now\b|\bcurrently\b|\btoday\b|\btonight\b|\btomorrow\b|\byesterday\b"
    rf"|\b(?:this|next|last|every|on) (?:morning|afternoon|evening|night|week|weekend|month|year|{_WEEKDAY})\b"
    rf"|\b{_WEEKDAY}s?\b|\b(?:morning|afternoon|evening|noon|midnight|weekend)\b"
    rf"|\b{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?\b|\bthe \d{{1,2}}(?:st|nd|rd|th)\b"
    r"|\b(?:until|by|at|for|in) \d{1,2}\b|\bin \d+ (?:minutes?|hours?|days?|weeks?)\b",
    re.IGNORECASE,
)


def errand(text: str) -> str | None:  # not cached: it returns a copy of a text of up to 20,000 characters
    """For a command that opens with a verb ("set an alarm for 6:45am tomorrow", "please book me a
    haircut for Saturday"), the command without the words that say when; else None."""
    m = opening_word(text.lower())
    if m is None:
        return None
    hit = verb_of(m.group())
    if m.group() not in _ERRANDS and (hit is None or hit[0] not in _ERRANDS):
        return None
    return without_when(text)


def without_when(text: str) -> str:
    """`text` without the words that say when ("at 7pm", "tomorrow", "next Friday")."""
    return _WHEN.sub(" ", text)


_DAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|the weekend|tomorrow|new year)"
# Words that make time itself the subject ("what time", "is it still morning", "would she be
# asleep", "past midnight", "what day is it"): a question with one asks about time.
_TIME_SUBJECT = re.compile(
    r"\b(?:time|times|date|dates|clock|hours?|o'clock|timezones?|zones?|dst|daylight|asleep|awake"
    rf"|sunrise|sunset|what day|which day|past midnight|{ZONE_ABBREVIATIONS}"
    r"|is it (?:still |already |now |too )?(?:morning|afternoon|evening|night|late|early|dark)"
    r"|ahead|behind|offset|yet|difference|when it'?s|if it'?s|how (?:late|early)"
    r"|what(?:'s| is) that (?:for|in|at|over|back)|when(?:'s| is) that"
    # "has Friday already started over there?", "is it the weekend in Sydney yet": the day itself
    rf"|is it (?:still |already |now )?{_DAY}|{_DAY}(?:'s)? (?:already |yet |just )?(?:started|begun|arrived|come|ended|over))\b"
    rf"|\b{ZONE_REGIONS}/\w",
    re.IGNORECASE,
)


def when_aside(text: str) -> str | None:  # not cached, as errand()
    """For a request that says when ("what's on TV tonight at 9", "the forecast for this weekend")
    but does not ask about time itself, the request without the words that say when; else None."""
    if _TIME_SUBJECT.search(text) or not _WHEN.search(text):
        return None
    return without_when(text)
