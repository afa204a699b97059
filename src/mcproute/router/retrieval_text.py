"""Text analysis for tool retrieval: one tokeniser shared by tools, queries and the build script.

Tool names carry most of the signal in real catalogues (`math.factorial`, `getCurrentWeather`,
`uber_ride`), so identifiers are split on dots, underscores, dashes and camelCase before the usual
lower-casing, stop-word removal and a light suffix stemmer. The stemmer is deliberately crude
(a dozen suffix rules): it only has to make "calculating" and "calculate" meet, and a full Porter
stemmer costs more per query than the whole BM25 pass. Scripts without spaces (CJK, Thai) become
character bigrams, so a Chinese query still matches a Chinese description.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_NOSPACE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u0e00-\u0e7f]+")

# Function words and request boilerplate ("can you please help me find ...") that appear in most
# queries and in no tool's purpose. Kept short on purpose: IDF handles the rest.
STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does doing for from had has have having
    he her here hers him his how i if in into is it its itself just me my myself no nor not of off
    on once only or other our ours out over own same she should so some such than that the their
    theirs them then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself please
    also any each let lets like want need help tell give provide know get""".split()
)

# Order matters: the first rule whose suffix matches wins.
_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("ational", "ate"),
    ("ization", "ize"),
    ("ations", "ate"),
    ("ation", "ate"),
    ("ities", "ity"),
    ("iness", "y"),
    ("ness", ""),
    ("ments", ""),
    ("ment", ""),
    ("ings", ""),
    ("ing", ""),
    ("ies", "y"),
    ("ied", "y"),
    ("ers", ""),
    ("er", ""),
    ("ed", ""),
    ("ly", ""),
    ("es", ""),
    ("s", ""),
)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light suffix stripper; words of four letters or fewer are left alone."""
    if len(word) <= 4 or not word.isascii():
        return word
    for suf, rep in _SUFFIXES:
        if word.endswith(suf) and len(word) - len(suf) >= 3:
            base = word[: len(word) - len(suf)] + rep
            if suf in ("ing", "ed", "ings") and len(base) >= 2 and base[-1] == base[-2] and base[-1] not in "lsz":
                base = base[:-1]  # "running" -> "run"
            if suf in ("ing", "ed", "er", "ers", "es") and base.endswith(("at", "iz", "bl")):
                base += "e"  # "calculating" / "calculated" -> "calculate"
            return base.rstrip("e") or base
    return word.rstrip("e") or word


def split_identifier(name: str) -> list[str]:
    """`getCurrentWeather` / `math.factorial` / `uber_ride-v2` -> lower-case word pieces."""
    out: list[str] = []
    for part in _WORD.findall(name.replace("_", " ")):
        out.extend(p.lower() for p in _CAMEL.split(part) if p)
    return out


def tokens(text: str, *, identifiers: bool = True) -> list[str]:
    """Content-word stems of `text` (stop words dropped); CJK runs become character bigrams."""
    if not text:
        return []
    out: list[str] = []
    for raw in _WORD.findall(text.replace("_", " ")):
        if _NOSPACE.search(raw):
            out.extend(_cjk_terms(raw))
            continue
        pieces = _CAMEL.split(raw) if identifiers else [raw]
        for p in pieces:
            w = p.lower()
            if len(w) < 2 or w in STOPWORDS or w.isdigit():
                continue
            out.append(stem(w))
    return out


def _cjk_terms(raw: str) -> list[str]:
    out: list[str] = []
    pos = 0
    for m in _NOSPACE.finditer(raw):
        if m.start() > pos:
            out.extend(tokens(raw[pos : m.start()]))
        run = m.group()
        out.extend(run[i : i + 2] for i in range(max(1, len(run) - 1)))
        pos = m.end()
    if pos < len(raw):
        out.extend(tokens(raw[pos:]))
    return out


def name_terms(name: str) -> list[str]:
    return [stem(w) for w in split_identifier(name) if len(w) >= 2 and not w.isdigit()]


def schema_text(schema: Mapping[str, Any] | None, depth: int = 0) -> tuple[list[str], list[str]]:
    """(parameter names, parameter descriptions/enum values) of a JSON schema, tolerant of junk."""
    names: list[str] = []
    descs: list[str] = []
    if not isinstance(schema, Mapping) or depth > 3:
        return names, descs
    props = schema.get("properties")
    if isinstance(props, Mapping):
        for pname, pschema in props.items():
            names.append(str(pname))
            if isinstance(pschema, Mapping):
                d = pschema.get("description")
                if isinstance(d, str):
                    descs.append(d)
                enum = pschema.get("enum")
                if isinstance(enum, list):
                    descs.extend(str(e) for e in enum[:20])
                sub_n, sub_d = schema_text(pschema, depth + 1)
                names.extend(sub_n)
                descs.extend(sub_d)
    items = schema.get("items")
    if isinstance(items, Mapping):
        sub_n, sub_d = schema_text(items, depth + 1)
        names.extend(sub_n)
        descs.extend(sub_d)
    return names, descs


def tool_fields(name: str, description: str, schema: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """The three BM25F fields of a tool: its name, its description, its parameters."""
    pnames, pdescs = schema_text(schema)
    params: list[str] = []
    for pn in pnames:
        params.extend(name_terms(pn))
    for d in pdescs:
        params.extend(tokens(d))
    return {"name": name_terms(name), "desc": tokens(description or ""), "params": params}


def unique(seq: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(seq))
