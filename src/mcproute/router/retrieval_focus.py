"""The ask and its setting: which sentences of a request ask for something.

People who work with an agent write a sentence of context around what they ask: "We are freezing
features today. Could you make a new branch release/4.1 off main?", "What is the capital of
Australia? My daughter asked me and I am not sure anymore.", "I've got a call in five minutes: pull
up your entries for Northwind". The context names things too ("We'll move last year's files there
afterwards"), and a lexical ranker counts those words as much as the ask's, so the tool for the
setting wins over the tool for the ask.

`focus(text)` splits a request into sentences (and a statement before a colon from what follows),
keeps those that ask for something — a question, a polite request ("please", "could you"), a
command that opens with a verb — and returns them as the ask; the other sentences are the setting.
When every sentence asks, or none does, or the message has more than three pieces (a task
description whose statements carry requests of their own), the whole text is the ask. The ranker
scores the setting's words at half the weight of the ask's (`retrieval_features.SETTING_WEIGHT`), so
"I edited the retry logic but haven't run git add yet. Could you show me what I changed?" can still
tell the unstaged diff from the others; the rules about the command itself read the ask only.

General English only: nothing here names a tool, server or catalogue.
"""

from __future__ import annotations

import re

from mcproute.router.retrieval_commands import is_command_verb
from mcproute.router.retrieval_compose import _QUOTED

# A sentence ends at . ! or ? followed by white space (so "robots.txt", "v2.3.0" and "e.g. x" within
# a word do not end one); a statement before a colon is split from what follows it.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
_COLON = re.compile(r":\s+(?=\S)")
# "Mr. Ito", "Dr. Patel", "e.g. this": a period after these does not end a sentence.
_ABBREVIATION = re.compile(
    r"(?:^|\W)(?:mr|mrs|ms|dr|prof|st|sr|jr|vs|etc|e\.g|i\.e|approx|inc|ltd|no)\.$", re.IGNORECASE
)
_WORD = re.compile(r"[a-z][a-z']*")
# A longer message is a task description whose statements carry requests of their own.
_MAX_PIECES = 3
_FILLER = frozenset(
    {"ok", "okay", "so", "and", "but", "also", "now", "then", "hey", "hi", "right", "alright", "oh", "well"}
)
_QUESTION_OPEN = frozenset(
    """what what's whats which who who's whose where where's when how how's why is are was were does do
    did has have any anything can could would will should shall may might""".split()
)
_POLITE = re.compile(
    r"^(?:please|pls|plz|kindly|(?:can|could|would|will) (?:you|u)\b|i(?:'d| would) like you to|i (?:need|want) you to"
    r"|i (?:need|want|would like|'d like) to (?:know|see|check|find|understand|look)|help me|let'?s|tell me|show me"
    r"|give me|remind me|i(?:'d| would) (?:like|love) (?:a|an|the|to)\b)"
)


# A statement that says what is wanted asks too ("I need to find the GCD of 56 and 98", "First, ...").
_WANTS = re.compile(
    r"\b(?:i|we)(?:'d| would)? (?:really |just |only |still |also )?(?:need|want|like|wish|hope|must)\b"
    r"|\binterested in\b|\bha(?:ve|s) to\b"
    r"|\b(?:first|firstly|second|secondly|then|also|after that|next|finally|lastly)\b"
)


def _is_ask(sentence: str) -> bool:
    low = sentence.strip().lower()
    if low.endswith("?") or _WANTS.search(low):
        return True
    words = _WORD.findall(low)
    while words and words[0] in _FILLER:
        words = words[1:]
    if not words:
        return False
    rest = low[low.find(words[0]) :]
    if _POLITE.match(rest):
        return True
    return words[0] in _QUESTION_OPEN or is_command_verb(words[0])


def _sentences(text: str) -> list[str]:
    """`text` split at sentence ends outside quotes ("make a file that says 'Open Mondays. Call
    us.'" is one sentence)."""
    # (a message wrapped whole in quotes is not a quotation: its sentences are still its own)
    quoted = [m.span() for m in _QUOTED.finditer(text) if m.span() != (0, len(text))]
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        if not any(a < m.start() < b for a, b in quoted):
            out.append(text[start : m.start()])
            start = m.end()
    return [*out, text[start:]]


def _pieces(text: str) -> list[str]:
    sentences: list[str] = []
    for piece in _sentences(text.strip()):
        if sentences and _ABBREVIATION.search(sentences[-1]):
            sentences[-1] += " " + piece
        else:
            sentences.append(piece)
    out: list[str] = []
    for sentence in sentences:
        parts = _COLON.split(sentence, maxsplit=1)
        # "I've got a call in five minutes: pull up your entries": a statement, then the ask
        if len(parts) == 2 and not _is_ask(parts[0]) and _is_ask(parts[1]):
            out.extend(parts)
        else:
            out.extend(_clauses(sentence) if len(sentences) == 1 else [sentence])
    return [p for p in out if p.strip()]


_COMMA = re.compile(r",\s+(?=\S)")
_MIN_STATEMENT = 3  # words


# A question that opens with one of these words asks what is so; one that opens with a modal or an
# auxiliary ("can the courier get that", "is it ...") leans on what came before the comma.
_WH = frozenset(
    {"what", "what's", "whats", "which", "who", "who's", "whose", "where", "where's", "when", "how", "how's", "why"}
)


def _opens_ask(clause: str) -> bool:
    """The clause opens, after fillers, with a command verb or a question word."""
    low = clause.strip().lower()
    while True:
        m = _WORD.match(low)
        if m is None:
            return False
        if m.group() not in _FILLER:
            return m.group() in _WH or is_command_verb(m.group())
        low = low[m.end() :].lstrip(" ,")


# A statement says how things are: it has a verb ("everything's staged", "i messed around with
# config.py"); "In game Battle Reign, change the armor level" opens with a phrase, not a statement.
_STATES = re.compile(
    r"\b(?:is|are|was|were|am|be|been|have|has|had|do|does|did|got|\w+n't|\w+ed|\w+ing)\b|\w['’](?:s|m|re|ve|d)\b",
    re.IGNORECASE,
)


def _clauses(sentence: str) -> list[str]:
    """ "everything's staged in ~/notes-app, commit it as 'fix toggle'": a statement, then a clause
    that opens with a command verb or a question word after its last comma, are two pieces;
    anything else is one. Not a comma within quotes, nor a clause that opens with "then" (asks in
    order: `sequenced`); only for a message of one sentence (`_pieces`)."""
    cut = [
        m for m in _COMMA.finditer(sentence) if _QUOTED.sub(lambda q: "x" * len(q.group()), sentence)[m.start()] == ","
    ]
    if not cut:
        return [sentence]
    head, tail = sentence[: cut[-1].start()], sentence[cut[-1].end() :]
    if (
        len(_WORD.findall(head.lower())) >= _MIN_STATEMENT
        and _STATES.search(head)
        and not _is_ask(head)
        and _opens_ask(tail)
        and not _THEN.match(tail.strip())  # "..., then get the current time": asks in order (`sequenced`)
    ):
        return [head, tail]
    return [sentence]


# "..., then get the current time in UTC": a later ask, in order, opening with a command verb.
_THEN = re.compile(r"\b(?:then|after that|afterwards)\s*,?\s+(?:please\s+|pls\s+)?([a-z]+)", re.IGNORECASE)


def sequenced(text: str) -> bool:
    """True when the message asks for things in order and a later one is a command ("prove why
    converting times across a DST change can go wrong, then get the current time in UTC"): what
    the whole message is like says little about that later step. Quoted text is not asked for
    ("my course keeps saying 'stage then commit'")."""
    return any(is_command_verb(m.group(1).lower()) for m in _THEN.finditer(_QUOTED.sub(" ", text[:4000])))


def focus(text: str) -> tuple[str, str]:
    """(the ask, the setting) of a request; ("the whole text", "") when it has no setting to set
    apart. Not cached: it is one pass of a few regular expressions, and a cache would hold step
    texts of up to 20,000 characters."""
    if len(text) > 4000 or not any(c in text for c in ".!?:,"):
        return text, ""
    pieces = _pieces(text)
    if not 2 <= len(pieces) <= _MAX_PIECES:
        return text, ""
    asks = [_is_ask(p) for p in pieces]
    if all(asks) or not any(asks):
        return text, ""
    return (
        " ".join(p for p, a in zip(pieces, asks, strict=True) if a),
        " ".join(p for p, a in zip(pieces, asks, strict=True) if not a),
    )
