"""What makes two model requests the same, for the reply cache (pure: no I/O, no clock).

    keys = request_keys(request, client="team-a", tier="fast", model="quick", catalog="9f2c…")
    keys.exact    # sha256 of the whole normalised request: a repeat of it may reuse the reply
    keys.scope    # sha256 of everything but the last user message: the similarity tier's bucket
    keys.similar  # True when the request ends with one user question (only then may a reworded one match)
    anchors(text) # the values a request names (numbers, paths, names...): a similar hit needs the same

Normalising is deliberately narrow: the JSON of tools and arguments is canonical (key order),
line endings and surrounding whitespace are ignored, and tool-call ids are replaced by their
position (a client's random `call_…` ids would otherwise make every continued conversation
unique). Everything the model reads stays in the key: the system prompt, the whole history,
the tools offered with their schemas, the sampling parameters and the logical model.

The similarity tier compares step vectors only inside one `scope`: same client, model, system
prompt, tools, catalogue version and the same history before the last user message, so a
reworded question can only reuse the reply to its own context. `similar_hit` adds one guard
the vectors cannot give: the two questions must name the same values (`anchors`), because a
sentence encoder puts "the last 5 commits" and "the last 10 commits" very close together.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mcproute.providers import ChatRequest, Message, ToolDef

# Headers a client sends to control caching (RFC 9111 request directives we honour).
NO_CACHE = "no-cache"  # do not answer from the cache (a fresh reply still replaces the entry)
NO_STORE = "no-store"  # neither read nor write the cache for this request
# The similarity tier's threshold when `cache.similarity: true`: chosen on the calibration half of
# evals/cache_pairs.jsonl and checked on the other half (`mcproute eval cache`, docs/cache.md).
SHIPPED_SIMILARITY = 0.87  # `mcproute eval cache` chose 0.8633 on its calibration half; rounded up


@dataclass(frozen=True, slots=True)
class CacheKeys:
    exact: str
    scope: str
    similar: bool  # the request ends with one user message: the similarity tier may apply


def _text(s: str) -> str:
    # NFC so the same characters typed differently compare equal; CRLF and edge whitespace do not
    # change what the model reads. Inner whitespace is kept: it can be code.
    return unicodedata.normalize("NFC", s.replace("\r\n", "\n")).strip()


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _messages(messages: Sequence[Message]) -> list[list[Any]]:
    ids: dict[str, str] = {}

    def cid(raw: str | None) -> str:
        if raw is None:
            return ""
        return ids.setdefault(raw, f"#{len(ids)}")

    out: list[list[Any]] = []
    for m in messages:
        calls = [[cid(c.id), c.name, _canon(dict(c.arguments))] for c in m.tool_calls]
        out.append([m.role, _text(m.content), calls, cid(m.tool_call_id), m.is_error])
    return out


def _tools(tools: Sequence[ToolDef]) -> list[list[str]]:
    # Order-free: retrieval may offer the same tools in another order for a reworded question.
    return sorted([t.name, _text(t.description), _canon(dict(t.input_schema))] for t in tools)


def _digest(*parts: Any) -> str:
    return hashlib.sha256(_canon(parts).encode()).hexdigest()


def request_keys(request: ChatRequest, *, client: str | None, tier: str, model: str | None, catalog: str) -> CacheKeys:
    """The exact key and the similarity scope of one model request, for one client."""
    msgs = _messages(request.messages)
    last_user = max((i for i, m in enumerate(request.messages) if m.role == "user"), default=-1)
    similar = last_user == len(request.messages) - 1 and last_user >= 0
    head = msgs[:last_user] if similar else msgs
    params = [
        request.tool_choice,
        request.max_tokens,
        request.temperature,
        request.reasoning_effort,
        request.thinking_budget,
    ]
    scope = _digest("v1", client or "", tier, model or "", catalog, params, _tools(request.tools), head)
    exact = _digest(scope, msgs[last_user] if similar else None)
    return CacheKeys(exact, scope, similar)


def tools_version(tools: Mapping[str, Any]) -> str:
    """A catalogue version from `{name: ToolSpec}`: changes when any tool's definition does."""
    rows = sorted(
        [name, getattr(s, "server", ""), _text(getattr(s, "description", "")), _canon(dict(s.input_schema))]
        for name, s in tools.items()
    )
    return _digest(rows)[:16]


# ---------------------------------------------------------------- the similarity guard

_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}
_NEGATIONS = frozenset({"not", "no", "never", "without", "dont", "don't", "doesn't", "isn't", "won't", "can't"})
_QUOTED = re.compile(r"\"([^\"]+)\"|'([^']+)'|`([^`]+)`")
_TOKEN = re.compile(r"[\w$@#~%+./:\\-]+", re.UNICODE)


def anchors(text: str) -> frozenset[str]:
    """The values a request names, which a reworded request must repeat to be the same request:
    quoted strings, tokens with a digit or a path/URL/identifier character, numbers (spelled-out
    ones as digits), capitalised words inside a sentence (names), and negations."""
    found: set[str] = set()
    for m in _QUOTED.finditer(text):
        found.add("q:" + next(g for g in m.groups() if g is not None).strip().lower())
    sentence_start = True
    for tok in _TOKEN.findall(text):
        word = tok.strip(".,:;!?-")
        low = word.lower()
        if not word:
            continue
        if low in _NUMBER_WORDS:
            found.add(_NUMBER_WORDS[low])
        elif any(ch.isdigit() for ch in word) or any(ch in word for ch in "/\\_@$#~%+") or "." in word[1:-1]:
            found.add(low)
        elif low in _NEGATIONS or low.endswith("n't"):
            found.add("not")
        elif word[0].isupper() and not sentence_start and not word.isupper() or (len(word) > 1 and word.isupper()):
            found.add(low)  # a name mid-sentence, or an acronym
        sentence_start = tok.endswith((".", "?", "!", ":"))
    return frozenset(found)


# Words that frame a request rather than say what it asks for: a reworded request changes them freely.
_FRAMING = frozenset(
    """a an the me my i you your we us our it its this that these those there here please kindly can could would
    will should shall do does did done is are was were be been being am what what's whats which who whom whose how
    tell show give list display print get let just now right some any all of for with at by about as and or but
    if so then than also again want need like know find see look check is it's""".split()
)
_WORD = re.compile(r"[a-z0-9]+(?:['.][a-z0-9]+)*")


def content_words(text: str) -> tuple[str, ...]:
    """The words of a request that say what it asks for, in order (framing words dropped, a
    plural's final s cut so "commit"/"commits" compare equal)."""
    out = []
    for w in _WORD.findall(text.lower()):
        if w in _FRAMING:
            continue
        out.append(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w)
    return tuple(out)


def minimal_pair(wa: tuple[str, ...], wb: tuple[str, ...]) -> bool:
    """Two requests (as `content_words`) that are one sentence with a word or two swapped, added
    or moved ("turn on"/"turn off", "to Madrid"/"from Madrid", "miles to km"/"km to miles"). A
    sentence encoder rates such pairs the most similar of all, yet the swapped word is usually
    the point of the request: they are never one request for the cache."""
    if wa == wb:
        return False  # the same words in the same order: only framing differs
    sa, sb = set(wa), set(wb)
    if sa == sb:
        return True  # the same words in another order: their roles differ
    return len(sa - sb) + len(sb - sa) <= 2


@dataclass(frozen=True, slots=True)
class Question:
    """What the similarity guard compares of a request's last user message."""

    anchors: frozenset[str]
    words: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> Question:
        return cls(anchors(text), content_words(text))


def similar_hit(cosine: float, threshold: float, a: Question, b: Question) -> bool:
    """Whether a stored question `a` may answer a new one `b`: close enough by the step vectors,
    naming the same values, and not a minimal pair."""
    return cosine >= threshold and a.anchors == b.anchors and not minimal_pair(a.words, b.words)
