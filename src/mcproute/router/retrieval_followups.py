"""The words of a follow-up: steps that say what they want only through the conversation.

"now the same for ~/Downloads" (`repeats`), "open the second one" / "open the lasagna one"
(`picks`), "make it 12.5" (`amends`, and `refers_back` for the "it"). Each reads the ask alone and
knows no tool; `retrieval_history.follow_up` decides, from the last step's tool and the pool,
which tool such a step is for, and `ToolIndex.rank` widens the pool for a pick or a change.
General English; pure functions of the text.
"""

from __future__ import annotations

import re

from mcproute.router.retrieval_commands import is_command_verb
from mcproute.router.retrieval_compose import composes
from mcproute.router.retrieval_gates import KEEPING, keeps_fact
from mcproute.router.retrieval_intent import changes, opening_word
from mcproute.router.retrieval_slots import query_slots

__all__ = ["amends", "picks", "refers_back", "repeats"]


# "now the same for ~/Downloads", "same with the shop repo", "and in lisbon?": the last step's
# request again, with another value.
_AGAIN = re.compile(
    r"(?:(?:ok|okay|now|and|also|great|thanks|cool|good)[,!.]?\s+)*"
    r"(?:(?:do |now )?the same(?: thing)? (?:for|with|in|on|at)\b|same (?:for|with|in|on|at)\b"
    r"|again (?:for|with|in|on|at)\b|(?P<short>and (?:in|for|to|at|on|with)\b))"
)
_SHORT_AGAIN = 6  # words at most in an "and in X?" follow-up


def repeats(ask: str) -> bool:
    """The ask asks for what the last step did, for something else: "now the same for
    ~/Downloads", "and in lisbon?" (short: at most `_SHORT_AGAIN` words)."""
    low = ask.lower().strip()
    m = _AGAIN.match(low)
    return m is not None and (m.group("short") is None or len(low.split()) <= _SHORT_AGAIN)


# "open the second one", "show me the top one", "and the 2nd one in that list?", "get the rest": an
# item of the last result, by its place, or what it left out. (Not "the rest of the week", nor "more
# of that rfc from where you stopped", which names what it continues: after a time step it is not
# for a time tool.)
_PICK = re.compile(
    r"\b(?:first|second|third|fourth|fifth|1st|2nd|3rd|4th|5th|top|next|last) (?:one|ones|item|result|link|entry)\b"
    r"|\b(?:first|second|third|1st|2nd|3rd|top|last) (?:of|in) (?:those|them|these|that list|the list)\b"
    r"|\bthe rest\b(?! of (?!it\b|that\b|them\b|those\b))"
)
_SHORT_PICK = 10  # words at most
# "open the lasagna one", "read the one from march", "show me the longest one": an item of the last
# result by what it is, in a command (a question "which one is the best one?" asks the model).
_DESCRIBED = re.compile(
    r"\bthe (?!other\b|same\b|right\b|wrong\b|only\b)(?:[\w'-]+ ){1,3}one\b"
    r"|\bthe one (?:from|about|with|that|which|called|named|for|in|on|at|where|by)\b"
)


# "tell me the funniest one", "pick the best one": the model answers from the result it has.
_TELLS = frozenset({"tell", "give", "say", "describe", "explain", "pick", "choose", "recommend", "suggest", "rank"})


def picks(ask: str) -> bool:
    """The ask picks out an item of the last step's result by its place or, in a command, by what
    it is, or asks for the rest of it, in at most `_SHORT_PICK` words ("open the second one", "it
    cut off, get the rest", "open the lasagna one")."""
    low = ask.lower()
    if len(low.split()) > _SHORT_PICK:
        return False
    if _PICK.search(low) is not None:
        return True
    m = opening_word(low)
    return (
        m is not None and is_command_verb(m.group()) and m.group() not in _TELLS and _DESCRIBED.search(low) is not None
    )


# "make it two cups of sugar", "add a row for march rent, 1200", "bump the font size to 13": a short
# command to change something that names nothing of its own to change (no file, folder or URL).
_SHORT_AMEND = 16  # words at most
_NAMES_THING = frozenset({"path", "paths", "url"})


def amends(ask: str) -> str | None:
    """The action class (create, write or delete) of a short command to change something it does
    not name ("make it two cups of sugar", "add a row for march rent"): after a step that showed one
    thing, that thing. None for any other step, and for a fact to keep or text to write."""
    low = ask.lower()
    if len(low.split()) > _SHORT_AMEND or query_slots(ask) & _NAMES_THING or keeps_fact(ask):
        return None
    m = opening_word(low)
    if m is None or m.group() in KEEPING or composes(ask):
        return None
    change = changes(ask)
    return change if change in ("create", "write", "delete") else None


# Words that point back at what the conversation just showed ("make it two cups of sugar", "update
# that", "change that to 5"); "that" only where it cannot open a clause ("ensure that the car ...").
_BACK = re.compile(r"\b(?:it|its|them|in there)\b|\bthat\b(?=\s*(?:$|[,.!?;]|(?:to|in|into|on|for|from|with|as|so)\b))")


def refers_back(ask: str) -> bool:
    """The ask points back at something the conversation showed ("make it two cups of sugar")."""
    return _BACK.search(ask.lower()) is not None
