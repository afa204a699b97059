"""Argument slots: the kinds of value a request carries, and the kinds a tool accepts.

"summarize https://en.wikipedia.org/wiki/Raft" names no tool word, but it carries a URL, and of
the tools in a catalogue only a few take one. "read package.json and tsconfig.json" carries two
file names and fits a tool whose parameter is an array of paths. "what did commit a1b2c3d
change" carries a revision. This is the oldest trick of slot-filling dialogue systems, and it
transfers across catalogues because it reads the tools' *schemas*, not their wording.

- `query_slots(text)`: the value kinds found in the request (URL, file path, several paths,
  revision, clock time, e-mail address, arithmetic written out, number), by regular expressions
  over the raw text.
- `tool_slots(schema)`: the kinds a tool's input schema accepts, from its property names,
  formats, types and descriptions (nested objects and array items included).
- `folded(text)`: the request with each path's folders, each URL's page and (for the words) each
  short quote dropped: values, not what is asked (a folder says where, not what).
- `slot_fit(query, tool)`: in [-1, 1]: +1 when the tool accepts every kind the request carries,
  -1 when it accepts none of them; 0 when the request carries nothing typed. `number_fit(query,
  tool)`: the same for a bare number, weak evidence kept apart. The reranker learns one weight
  for each (`slot`, `slot_number` in `retrieval_params.FEATURES`), checked across sources.

Nothing here names a tool, a server or a catalogue.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

# How much each kind counts: a bare number is weak evidence (most requests have one somewhere).
_WEIGHT: Mapping[str, float] = {
    "url": 1.0,
    "path": 1.0,
    "paths": 1.0,
    "revision": 1.0,
    "clock": 1.0,
    "zone": 1.0,
    "email": 1.0,
    "expression": 1.0,
}

_URL = re.compile(
    r"\bhttps?://\S+|\bwww\.[\w\-]+\.\w+\S*|(?<![@\w.])(?:[a-z0-9\-]+\.)+(?:com|org|net|io|dev|ai|app|co|edu|gov|info)\b(?:/\S*)?",
    re.I,
)
# A clock time ("5pm", "10:30"), the regions of IANA zone names ("America/Chicago") and the usual
# zone abbreviations: patterns the thesaurus and the intent rules reuse (case-insensitively there).
CLOCK = r"\b\d{1,2}(?::\d\d)?\s?(?:am|pm)\b|\b\d{1,2}:\d\d\b"
ZONE_REGIONS = r"(?:Africa|America|Antarctica|Asia|Atlantic|Australia|Europe|Indian|Pacific|Etc)"
ZONE_ABBREVIATIONS = r"(?:UTC|GMT|PST|PDT|MST|MDT|CST|CDT|EST|EDT|CET|CEST|BST|IST|JST|KST|AEST|AEDT|HKT|SGT)"
# IANA zone names and the usual abbreviations: a time zone, not a path.
_ZONE = re.compile(rf"\b{ZONE_REGIONS}/[A-Z][\w\-+]+|\b{ZONE_ABBREVIATIONS}\b")
_EMAIL = re.compile(r"\b[\w.+\-]+@[\w\-]+\.[\w.\-]+\b")
# A file name has a short extension of letters ("notes.md", "data.db", "app.tsx", ".gitignore"),
# or the path has a separator ("src/app", "~/Downloads"); "3.5" and "v2.0" are not files.
# Copies and variants keep a longer last suffix (".env.example", "config.sample", "app.template").
# A relative path counts ("./build/bundle.js", "../README.md"); "e.g." and "a.m." do not.
_FILE = re.compile(
    r"(?<![\w@/.])(?!(?:e\.g|i\.e|a\.m|p\.m)\b)(?:\.{1,2}/)*(?:~?/?[\w\-]+/)*\.?[\w\-]*[A-Za-z_][\w\-]*\.(?:[A-Za-z][A-Za-z0-9]{0,5}|example|sample|template|default"
    r"|backup|original|local)(?:\.(?:gz|bz2|xz|zst|zip|bak|old|orig|tmp|gpg|enc))?\b(?!\.\w)"
)
_DOTFILE = re.compile(r"(?<![\w.])\.[a-z][\w\-]{1,20}\b")
# Files named by convention, without an extension ("show Makefile and Dockerfile"; not "README",
# which also names a kind of document: "how should I structure a README").
_NAMED_FILE = re.compile(
    r"(?<![\w.])(?:Makefile|Dockerfile|Containerfile|Jenkinsfile|Vagrantfile|Procfile|Gemfile|Rakefile|Pipfile"
    r"|Brewfile|Justfile)(?![\w.])"
)
_DIRPATH = re.compile(r"(?<![\w:/])(?:~|\.{1,2})?/?(?:[\w\-.]+/)+[\w\-.]*")
_HEX = re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")
_TAG = re.compile(r"\bv\d+(?:\.\d+)+\b|\bHEAD(?:~\d+|\^+)?\b")
_CLOCK = re.compile(CLOCK, re.I)
# Arithmetic written out: "45.20 + 112.75 + 8.99", "(24.50 - 3) * 0.15", "2**10", "15% of 86.40".
# A slash or a minus counts only with spaces around it: "3/9" and "2024-06-12" are dates, "55-0098123"
# an account number.
_EXPRESSION = re.compile(
    r"\d\s*(?:[+*×÷^]|\*\*)\s*\(?\s*\d|\d\s+[/-]\s+\(?\s*\d|\d\s*%\s*of\s+\$?\d|\bpercent(?:age)? of\b", re.I
)
_NUMBER = re.compile(r"(?<![\w.:/\-])\d+(?:\.\d+)?(?![\w.:/]\w)")


# "package.json in ./webapp": a directory right after a named file and one of these words is where
# that file is ("report.pdf in ~/Downloads belongs in ~/Documents": the second is where it goes).
_WHERE = r"(?:in|under|inside|within|from|of)\s+"
_FEW_PATHS = 6


def _distinct_paths(text: str, found: set[str], dirs: set[str]) -> int:
    """How many paths the request names: a match inside a longer one ("~/a/.env.example" and its
    ".env") is that one, and a directory that says where a named file is ("package.json in
    ./webapp") is part of the file's path."""
    if len(found) > _FEW_PATHS:  # many paths are several however they overlap (and this stays cheap)
        return len(found)
    whole = [f for f in found if not any(f != g and f in g for g in found)]
    named = [f for f in whole if f not in dirs]
    located = {
        d
        for d in whole
        if d in dirs and any(re.search(re.escape(f) + r"\s+" + _WHERE + re.escape(d), text) for f in named)
    }
    return len(whole) - len(located)


def names_file(text: str) -> bool:
    """The text names a file by its name ("old.log", "~/notes/todo.md", ".env"), not as a URL or
    an e-mail address."""
    rest = _EMAIL.sub(" ", _URL.sub(" ", text))
    return bool(_FILE.search(rest) or _DOTFILE.search(rest))


def named_files(text: str) -> frozenset[str]:
    """The files the text names by their names (as `names_file`), less those whose extension mixes
    cases ("services.In Bangkok": a sentence run into the next one) or is one capital ("C.J. Rush")."""
    rest = _EMAIL.sub(" ", _URL.sub(" ", text))
    files = [m.span() for m in _FILE.finditer(rest)]
    # a dotfile inside a longer name (".env" of ".env.example", ".test" of ".test.ts") is not one more
    dots = [
        (a, b) for a, b in (m.span() for m in _DOTFILE.finditer(rest)) if not any(x <= a and b <= y for x, y in files)
    ]
    found = {rest[a:b] for a, b in (*files, *dots)}
    return frozenset(f for f in found if not _MIXED_EXTENSION.search(f))


_MIXED_EXTENSION = re.compile(r"\.(?:(?=[a-z0-9]*[A-Z])(?=[A-Z0-9]*[a-z])[A-Za-z0-9]+|[A-Z])$")  # or "C.J": initials


@lru_cache(maxsize=8192)
def query_slots(text: str) -> frozenset[str]:
    """The kinds of value the request carries (see the module docstring)."""
    out: set[str] = set()
    rest = text
    if _URL.search(rest):
        out.add("url")
        rest = _URL.sub(" ", rest)
    if _ZONE.search(rest):
        out.add("zone")
        rest = _ZONE.sub(" ", rest)
    if _EMAIL.search(rest):
        out.add("email")
        rest = _EMAIL.sub(" ", rest)
    files = {m.group() for m in _FILE.finditer(rest)} | {m.group() for m in _DOTFILE.finditer(rest)}
    files |= {m.group() for m in _NAMED_FILE.finditer(rest)}
    dirs = {m.group() for m in _DIRPATH.finditer(rest) if len(m.group()) > 2}
    files |= dirs
    if files:
        out.add("path")
        if _distinct_paths(rest, files, dirs) >= 2:
            out.add("paths")
        for f in files:
            rest = rest.replace(f, " ")
    if _HEX.search(rest) or _TAG.search(rest):
        out.add("revision")
        rest = _TAG.sub(" ", _HEX.sub(" ", rest))
    if _EXPRESSION.search(rest):
        out.add("expression")
    if _CLOCK.search(rest):
        out.add("clock")
        rest = _CLOCK.sub(" ", rest)
    if _NUMBER.search(rest):
        out.add("number")
    return frozenset(out)


# Kinds that count for a tool that takes them and never against one that does not: arithmetic in a
# request is for a calculator when there is one, but a tool taking two numbers ("compute 443 * 349"
# for `CalcProduct(a, b)`) or a function ("the derivative of '3x^2 + 2x - 1'") does it too.
_ONLY_FOR = frozenset({"expression"})

# Property-name words per kind (split from camelCase / snake_case names, lower case).
_NAME_WORDS: Mapping[str, frozenset[str]] = {
    "url": frozenset({"url", "urls", "uri", "uris", "link", "links", "href", "endpoint", "website", "webpage"}),
    "path": frozenset(
        {
            "path",
            "paths",
            "file",
            "files",
            "filename",
            "filenames",
            "filepath",
            "dir",
            "directory",
            "folder",
            "document",
        }
    ),
    "revision": frozenset({"revision", "commit", "sha", "hash", "ref", "tag", "rev", "version", "contains"}),
    "clock": frozenset({"time", "hour", "hours", "clock", "timestamp", "datetime", "when"}),
    "zone": frozenset({"timezone", "tz", "zone", "timezones"}),
    "email": frozenset({"email", "emails", "mail", "recipient", "recipients", "sender", "cc", "bcc"}),
    "expression": frozenset({"expression", "expr", "formula", "equation"}),
}
_DESC: Mapping[str, re.Pattern[str]] = {
    "url": re.compile(r"\burls?\b|\buris?\b|\bweb ?page\b|\bwebsite\b", re.I),
    "path": re.compile(
        r"\b(?:file|directory|folder) ?paths?\b|\bpaths? (?:of|to) (?:the )?(?:a )?(?:file|directory|folder)", re.I
    ),
    "revision": re.compile(r"\bcommit (?:sha|hash|id)\b|\brevision\b", re.I),
    "clock": re.compile(r"\bHH:MM\b|\btime of day\b|\b24-hour\b", re.I),
    "zone": re.compile(r"\btime ?zone\b|\bIANA\b", re.I),
    "email": re.compile(r"\be-?mail address", re.I),
    "expression": re.compile(r"\barithmetic\b|\bmath(?:ematical)? expression", re.I),
}
# "source" and "destination" are paths when they are the whole property name (`move_file`), not
# in `source_timezone`.
_BARE_PATH = frozenset({"source", "destination", "dest", "src", "target_path", "from", "to"})
_SPLIT = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def _walk(schema: Any, depth: int, out: set[str], paths: list[str]) -> None:
    if depth > 4 or not isinstance(schema, Mapping):
        return
    props = schema.get("properties")
    if isinstance(props, Mapping):
        for name, sub in props.items():
            if not isinstance(sub, Mapping):
                continue
            words = {w.lower() for w in _SPLIT.findall(str(name))}
            desc = str(sub.get("description") or "")
            typ = sub.get("type")
            types = set(typ) if isinstance(typ, list) else {typ}
            fmt = str(sub.get("format") or "")
            for kind, vocab in _NAME_WORDS.items():
                if words & vocab or _DESC[kind].search(desc) or (kind == "path" and str(name).lower() in _BARE_PATH):
                    out.add(kind)
                    if kind == "path":
                        paths.append(str(name))
                        if "array" in types:
                            out.add("paths")
            if fmt in ("uri", "url", "iri"):
                out.add("url")
            if fmt in ("email", "idn-email"):
                out.add("email")
            if fmt in ("time", "date-time"):
                out.add("clock")
            if types & {"integer", "number"}:
                out.add("number")
            for key in ("items", "anyOf", "oneOf"):
                val = sub.get(key)
                for branch in val if isinstance(val, list) else [val]:
                    if isinstance(branch, Mapping):
                        if branch.get("type") in ("integer", "number"):
                            out.add("number")
                        _walk(branch, depth + 1, out, paths)
            _walk(sub, depth + 1, out, paths)


@lru_cache(maxsize=65536)
def _tool_slots(schema_json: str) -> frozenset[str]:
    out: set[str] = set()
    paths: list[str] = []
    _walk(json.loads(schema_json), 0, out, paths)
    if len(set(paths)) >= 2:  # `move_file(source, destination)` takes two paths
        out.add("paths")
    return frozenset(out)


def tool_slots(schema: Mapping[str, Any]) -> frozenset[str]:
    """The kinds of value the tool's input schema accepts."""
    try:
        key = json.dumps(schema, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return frozenset()
    return _tool_slots(key)


def slot_fit(query: frozenset[str], tool: frozenset[str]) -> float:
    """+1 when the tool takes every kind of value the request carries, -1 when it takes none.

    Numbers are left to `number_fit`: most requests carry one somewhere, so they are weak
    evidence and get a weight of their own."""
    query = query - {"number"}
    if not query:
        return 0.0
    total = sum(_WEIGHT[k] for k in query)
    return sum(_WEIGHT[k] * (1.0 if k in tool else 0.0 if k in _ONLY_FOR else -1.0) for k in query) / total


def number_fit(query: frozenset[str], tool: frozenset[str]) -> float:
    """+1 / -1: the request carries a number and the tool does / does not take one; else 0."""
    if "number" not in query:
        return 0.0
    return 1.0 if "number" in tool else -1.0


# A path's folders say where something is, never what is asked. Read as words, the checkout at
# "/check/work/main" asked `git_status` ("check", "work": "Shows the working tree status") in place
# of the `git log` the request named, and "list the files in /home/me/git/status-page" asked it too.
# A URL's words likewise name a page, not what to do with it.
# `folded` takes them out of what the ranking reads as the request (its words and its sentence
# vector); the slots above read the request as it is.
_WINPATH = re.compile(r"\b[A-Za-z]:\\(?:[\w\-. ]+\\)*[\w\-.]*")
# Rooted ("/srv/app", "~/code/x", "./webapp", "../lib") or three parts and more ("src/app/main");
# not "and/or", "TCP/IP" or "src/app", and not a date ("2024/03/01": no letter).
_FOLDABLE = re.compile(r"(?<![\w:/.\-])(?:(?:~|\.{1,2})?/[\w\-.]+(?:/[\w\-.]*)*|[\w\-.]+(?:/[\w\-.]+){2,}/?)")
_LETTER = re.compile(r"[A-Za-z]")


# A short quote is material: the file's content, the commit's message, the term to look for
# ("create notes.txt containing 'git status is clean'" is not git_status); its words are not the
# request's (`folded(..., words=True)`). Kept as they are: a quote that is the request itself
# (BFCL wraps whole requests in quotes; "the user wrote: '...'"; "run 'git log'"), one longer than
# a message or a name, and back-quoted code.
_QUOTE = re.compile(r"\"[^\"]*\"|“[^”]*”|‘[^’]*’|(?<!\w)'[^']*'(?!\w)")
_SAID_BEFORE = re.compile(
    r"\b(?:run|execute|exec|says?|said|asks?|asked|writes?|wrote|typed|types|tells?|told|requests?|requested"
    r"|pasted|messaged)\b\W*$",
    re.I,
)
_QUOTE_WORDS = 12  # longer quotes are read as they are


def _unquoted(m: re.Match[str]) -> str:
    inner = m.group()[1:-1]
    if len(inner.split()) > _QUOTE_WORDS or _SAID_BEFORE.search(m.string, max(0, m.start() - 40), m.start()):
        return m.group()
    return '""'


def _quotes_folded(text: str) -> str:
    out = _QUOTE.sub(_unquoted, text)
    # Nothing asked outside the quotes: the quotes are the request.
    return out if len(re.findall(r"[^\W\d_]{3,}", _QUOTE.sub(" ", out))) >= 2 else text


def _last(path: str, sep: str, keep_last: bool) -> str:
    parts = [p for p in path.split(sep) if p and p not in ("~", ".", "..")]
    if not parts:
        return path
    last = parts[-1]
    if _FILE.fullmatch(last) or _DOTFILE.fullmatch(last):
        return last  # a file's name says what it holds ("notes.md", "error.log")
    return f"{last}/" if keep_last else "/"


@lru_cache(maxsize=8192)
def folded(text: str, words: bool = False) -> str:
    """`text` with each path's folders dropped: "show the git log of /check/work/main" -> "show the
    git log of /"; "read ~/code/app/src/main.py" -> "read main.py". A URL is read as "https://":
    the page it names is the argument ("summarise https://example.com/blog/git-log-tips" is not a
    git log). Zone names ("Asia/Tokyo"), one-slash words ("and/or", "src/app") and dates stay.

    `words`: the reading for the request's words, where a folder path keeps its last folder ("...
    of main/": "what's in /var/log/nginx" would otherwise have no word left to look tools up by)
    and a short quote is read as "" (above). The sentence vector reads quotes whole: what is quoted
    can tell siblings apart ("an image of 'a man in a red dress'" is for the tool that draws people)."""
    if words and _QUOTE.search(text):
        text = _quotes_folded(text)
    if "/" not in text and "\\" not in text and "." not in text:
        return text
    text = _URL.sub("https://", text)
    spans = [m.span() for m in _ZONE.finditer(text)]

    def fold(m: re.Match[str], sep: str) -> str:
        s = m.group()
        if any(a <= m.start() < b for a, b in spans) or not _LETTER.search(s):
            return s
        return _last(s, sep, words)

    text = _WINPATH.sub(lambda m: fold(m, "\\"), text)
    return _FOLDABLE.sub(lambda m: fold(m, "/"), text)
