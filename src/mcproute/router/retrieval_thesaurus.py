"""A small thesaurus: the words people use in a request -> the words tool authors write.

"show me the commit history" and `git_log` ("Shows the commit logs") share only "commit"; "make a
folder" and `create_directory` share nothing. The sentence encoder bridges some of this, not all:
a general-purpose encoder does not know that "jot down" is about storing a fact or that a
screenshot is an image. These entries are general English -> general software vocabulary. None
names a tool, a server or a catalogue; they feed a query channel of their own (`thesaurus` in
`retrieval_params.FEATURES`), whose weight is learned and checked across sources.

Rules:
- `WORDS`: one word (lower case, as written) -> terms added to the query;
- `PHRASES`: a regular expression over the lower-cased request -> terms;
- a clock time ("5pm") adds "convert" when the request also speaks of time or zones;
- a URL in the request adds "url", "fetch", "web"; a file name ("notes.md") adds "file".
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import islice

from mcproute.router.retrieval_slots import CLOCK, ZONE_ABBREVIATIONS, ZONE_REGIONS
from mcproute.router.retrieval_text import stem

WORDS: dict[str, tuple[str, ...]] = {
    # time
    "now": ("current",),
    "currently": ("current",),
    "rn": ("current",),
    "today": ("current", "date"),
    "clock": ("time",),
    "tz": ("timezone",),
    "o'clock": ("time",),
    # storing and recalling facts
    "remember": ("memory", "observation", "entity"),
    "memorize": ("memory", "observation"),
    "memorise": ("memory", "observation"),
    "jot": ("observation", "add"),
    "fact": ("observation",),
    "facts": ("observation",),
    "recall": ("memory", "search"),
    "forget": ("delete", "memory"),
    "person": ("entity",),
    "people": ("entity",),
    "teammate": ("entity",),
    "teammates": ("entity",),
    "contact": ("entity",),
    "contacts": ("entity",),
    "stored": ("memory", "graph"),
    "saved": ("memory",),
    "record": ("entity",),
    "records": ("entity",),
    "entry": ("entity",),
    "entries": ("entity",),
    "note": ("observation",),
    "track": ("entity",),
    "belongs": ("relation",),
    "member": ("relation",),
    "link": ("relation",),
    "connect": ("relation",),
    "unlink": ("relation", "delete"),
    "relationship": ("relation",),
    "relationships": ("relation",),
    "related": ("relation",),
    # files and folders
    "folder": ("directory",),
    "folders": ("directory",),
    "subfolder": ("directory",),
    "subfolders": ("directory", "tree"),
    "dir": ("directory",),
    "mkdir": ("create", "directory"),
    "picture": ("image", "media"),
    "pictures": ("image", "media"),
    "photo": ("image", "media"),
    "photos": ("image", "media"),
    "screenshot": ("image", "media"),
    "image": ("media",),
    "audio": ("media",),
    "video": ("media",),
    "biggest": ("size",),
    "largest": ("size",),
    "big": ("size",),
    "bytes": ("size",),
    "structure": ("tree",),
    "layout": ("tree",),
    "hierarchy": ("tree",),
    "cat": ("read", "file"),
    "ls": ("list", "directory"),
    "mv": ("move", "file"),
    "rm": ("delete", "file"),
    "contents": ("read",),
    # version control
    "history": ("log",),
    "untracked": ("status",),
    "uncommitted": ("status", "unstaged"),
    "modified": ("status", "change"),
    "dirty": ("status",),
    "staging": ("staged", "stage"),
    "unstage": ("reset", "staged"),
    "cached": ("staged",),  # git's own word for the index ("git diff --cached")
    "index": ("staged",),  # git's staging area ("what's sitting in the index", "empty the index")
    "revision": ("show",),
    "tag": ("revision", "show"),
    # the web
    "webpage": ("url", "web"),
    "website": ("url", "web"),
    "site": ("url", "web"),
    "article": ("url", "web"),
    "page": ("url",),
    "download": ("fetch",),
}
# A question about what the assistant has kept ("what do you have on Hugo?", "do you remember
# anything about hiking", "have I ever told you my policy number?"), not about the world: the
# memory's terms here, and (retrieval_gates.recalls) no doubt from requests that needed no tool.
ASKS_KEPT = (
    r"\bwhat (?:do|did|have) you (?:have|got|remember|recall|keep|kept|saved?|stored?)\b"
    r"|\bwhat(?:'ve| have) you got\b|\bwhat you(?:'ve| have)? ?(?:got|kept|saved|stored|noted)\b"
    r"|\bdo you (?:still )?(?:remember|recall)\b|\bdo you have (?:anything|any\w*|something) (?:on|about|saved|stored|kept|for)\b"
    r"|\bhave i (?:ever )?(?:told|mentioned|given|shared with) you\b|\b(?:what|who|which|where|when) did i (?:tell you|say)\b"
    r"|\b(?:in|from|to) your (?:notes|memory|records?|knowledge)\b"
)
PHRASES: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (re.compile(p), terms)
    for p, terms in (
        (r"\bwhat(?:'s| is)? (?:the )?(?:current )?(?:time|date|day)\b|\btime is it\b", ("current",)),
        (r"\bkeep in mind\b|\bnote (?:that|for later|down)\b|\bfor later\b", ("observation", "memory")),
        (r"\bwho committed\b|\brecent commits\b|\blast \d+ commits\b", ("log",)),
        # what one commit did is that commit shown ("what did my last commit change")
        (
            r"\bwhat did (?:the |my |our |that |this |your )?(?:very )?(?:last |latest |previous |most recent )?commit"
            r"(?: [\w\-/.~]+){0,3} (?:change|include|touch|do|add|remove|contain)\b",
            ("show",),
        ),
        # a link between two things kept in memory ("A depends on B", "link Tomás and Atlas")
        (r"\b(?:depends|relies|reports) (?:up)?(?:on|to)\b|\bis (?:a )?part of\b", ("relation",)),
        # a new thing to keep ("add Northwind as a company", "new thing to keep track of: ...")
        (
            r"\bas an? (?:new )?(?:company|person|project|client|customer|team|service|vendor|supplier|contact"
            r"|colleague|entity|organi[sz]ation)\b"
            r"|\bnew (?:thing|person|project|entity|entry|record|contact|company|client|customer)\b",
            ("entity",),
        ),
        (r"\bhow big\b|\bhow large\b", ("size", "info")),
        # one more fact about something kept ("another detail about Orion: ...", "stick that on his node")
        (
            r"\b(?:one more|another|an? (?:new|extra|further)|new) (?:fact|detail|thing|note|bit|observation)s? "
            r"(?:about|for|on|regarding)\b"
            r"|\b(?:add|put|stick|note|jot) (?:that|this|it) (?:down )?(?:on|onto|to|under|in) (?:what you have|his|her|their|its"
            r"|the \w+ (?:entry|record|node|note|info))\b",
            ("observation", "memory"),
        ),
        (ASKS_KEPT, ("memory", "knowledge", "graph")),
        # a person to talk to, not a record of one ("talk to a real person", "get me a human")
        (
            r"\b(?:real|actual|live|human) (?:person|human|being|agent|rep|representative)\b"
            r"|\b(?:talk|speak|chat) (?:to|with) (?:a |an |some)?(?:one|body|human|person|agent|rep|representative|manager)\b",
            ("human", "agent"),
        ),
        (r"\bwhere is\b|\bwhere's\b|\bwhere did (?:i|we) (?:put|save|leave|keep|store)\b", ("search",)),
        # when a file was made or last touched is its metadata
        (
            r"\bwhen (?:was|were|did) [\w\-/.]+(?: \w+)? (?:created|made|modified|changed|edited|touched|last)\b",
            ("info", "metadata"),
        ),
        (r"\bline by line\b", ("diff",)),
        # what the user has changed (and not yet committed) is the working tree's diff ("what did I
        # change in app.py"); what a commit changed is that commit shown (above)
        (
            r"\bwhat (?:did|have|'ve) (?:i|we) (?:just |already |actually )?(?:change|changed|edit|edited|modif(?:y|ied)"
            r"|touch|touched)\b(?![^.?!]{0,40}\bcommit)",
            ("diff", "changes"),
        ),
        # state words: what is not yet committed or staged is the working tree's status
        (
            r"(?:\bnot|n't|\bnever) (?:yet )?(?:been )?committed\b|\buncommitted\b"
            r"|\bforg[eo]t(?:ten)? to (?:commit|stage|add|save|push|track)\b",
            ("status",),
        ),
        # comparing the work with a revision is a diff ("compare the repo against tag v2.3.0")
        (
            r"\bcompar(?:e|ing)\b[^.?!]{0,60}?\b(?:against|with|to) (?:the )?(?:tag|commit|branch|revision|main|master"
            r"|develop|head\b|v\d)",
            ("diff",),
        ),
        # the whole content of a file replaced is the file written anew, not an edit
        (
            r"\b(?:replace|overwrite|rewrite)s? (?:the )?(?:whole|entire|full|complete|all (?:of )?the) (?:content|contents"
            r"|file|text)\b",
            ("overwrite", "completely"),
        ),
        # looking through what is kept for something ("anything in memory about k8s", "look through
        # the graph for ...") is a search
        (
            r"\b(?:anything|something|everything) (?:in|from) (?:your |the )?(?:memory|graph|knowledge (?:graph|base))"
            r"|\blook (?:thru|through) (?:the |your |my )?(?:memory|graph|knowledge (?:graph|base)|notes) for\b"
            r"|\b(?:anything|everything) mentioning\b",
            ("search",),
        ),
        (r"(?:\bnot|n't) (?:yet )?(?:been )?staged\b", ("unstaged",)),
        # what was already added is staged; taking it back out of the index is a reset
        (r"\b(?:already|i've|i have|we've|we have) (?:git[- ])?added\b", ("staged",)),
        (r"\bout of the (?:index|staging area|stage)\b", ("reset", "staged")),
        # moving onto a branch is checking it out ("switch to develop", "check out release-3")
        (
            r"\bcheck(?:ing)? out (?:the )?(?:[\w\-/.]+ branch\b|branch\b|[\w.]*[/\-\d][\w\-/.]*)"
            r"|\b(?:switch|hop|go|get|move)(?: me)?(?: over| back)? (?:on)?to (?:the )?(?:[\w\-/.]+ branch\b|[\w.\-]*/[\w\-/.]+)"
            r"|\b(?:switch|change)(?: over)? branch(?:es)?\b",
            ("checkout",),
        ),
        # a change inside a file (a typo, a line, a variable) is an edit, not a new file
        (r"\b(?:typo|line|lines|variable|word|import|string)\b[^\n]{0,120}?\bin [\w\-/.]+\.\w{1,5}\b", ("edit",)),
        (
            r"\b(?:save|write|put) (?:this|that|it|these) (?:as|to|in|into)\b"
            # "save this summary to summary.md", "dump the results into out.csv": text kept in a named file
            r"|\b(?:save|write|dump|export|store)\b[^.?!,;]{0,40}?\b(?:as|to|into|in) (?:a |the |new )*(?:file )?[\w\-/]*\.[a-z]{1,5}\b"
            r"|\b(?:make|create) (?:an? )?(?:new |empty |blank )?(?:\.\w+|[\w\-]+\.\w{1,5})\b",
            ("write", "file"),
        ),
    )
)
# A question about what is already kept ("what do you remember about Alice?") asks to look it
# up: the storing words' terms (observation, entity) are then replaced by "search".
_RECALL = re.compile(
    r"\b(?:what|anything|something|who)(?: exactly| else| really)? (?:do |did |else do )?(?:you|i) (?:remember|know|recall"
    r"|have (?:saved|stored|kept|noted|on file))\b"
    r"|\bdo you (?:remember|recall|have anything)\b|\b(?:anything|something) (?:saved|stored)\b"
)
_STORING = frozenset({"remember", "memorize", "memorise", "saved", "stored", "fact", "facts"})
_OPENERS = frozenset({"now"})  # a time word that also opens a request ("now show me ...")
_FILLERS = frozenset({"ok", "okay", "and", "so", "then"})  # not "right": "right now" is the time
_BOUNDARY = frozenset(".!?;:,")
_TOKENS = re.compile(r"[a-z][a-z']*|[.!?;:,]")
_URL = re.compile(r"https?://|\bwww\.\w")
# A clock time in the request ("5pm", "10:00") is a given time: convert it, not "now" -- when the
# request also speaks of time or zones, or asks what a time is ("5pm PST in Berlin", "10am my
# time", "what is 9am London in Sydney"); not for "book a table for two at 7pm".
_CLOCK = re.compile(CLOCK, re.IGNORECASE)
_TIME_TALK = re.compile(
    rf"\btime\b|\bzones?\b|\btimezones?\b|\b{ZONE_REGIONS}/[a-z_]+|\b{ZONE_ABBREVIATIONS}\b"
    r"|^\s*(?:what(?:'s| is)|when(?:'s| is)|convert)\b",
    re.IGNORECASE,
)
# "now", "rn", "currently" ask for the current time only in a request that speaks of time
# ("whats the time rn in london", "is it morning in Tokyo now?") or that asks about nothing else
# ("and right now?"); else they say when a state holds
# ("what's staged right now", "how far away is my food rn").
_NOW = frozenset({"now", "currently", "rn"})
_NOW_TIME = re.compile(
    r"\b(?:time|times|date|day|clock|hours?|o'clock|zones?|timezones?|morning|afternoon|evening|night|midnight|noon"
    rf"|asleep|awake|late|early|dark|{ZONE_ABBREVIATIONS})\b|\b{ZONE_REGIONS}/",
    re.IGNORECASE,
)
_FILE = re.compile(r"\b[\w\-]+\.(?:[a-z]{1,4}|[a-z]+ml|example|sample|template|default|backup|original|local)\b")
_WHERE = r"(?:in|under|inside|within|from|of)\s+"  # "package.json in ./webapp": where the file is
_FEW_DIRS = 8  # directories looked at (one not located decides; a long step is not rescanned per path)
# A path that names a directory: "./build", "~/projects/app", "src/" (no extension at its end).
_DIR = re.compile(r"(?<![\w.:/])(?:\.{1,2}/|~/)[\w\-/]*[\w\-]/?(?![\w/]|\.\w)|(?<![\w.:/\-])[a-z][\w\-]*/(?![\w.])")


def terms_of(text: str) -> tuple[str, ...]:
    """Stemmed extra query terms for the request, in order of appearance, without repeats. Not
    cached: for texts derived per step (a step without its when-words); `thesaurus_terms` is the
    cached form for the step's own text."""
    low = text.lower()
    out: list[str] = []
    recall = bool(_RECALL.search(low))
    if recall:
        out.extend(("memory", "search"))
    opening = True  # at the start of a clause, after its fillers ("ok", "and", ...)
    # ... or where "now" is all it asks about ("and right now?" after a question about the time)
    timely = bool(_NOW_TIME.search(low)) or len(low.split()) <= 3
    for m in _TOKENS.finditer(low):
        w = m.group()
        if w in _BOUNDARY:
            opening = True
            continue
        if w in _OPENERS and opening:
            continue  # "now do the same for the third one": a discourse marker, not the time
        opening = opening and w in _FILLERS
        if w in _NOW and not timely:
            continue  # "how far away is my food rn": the state of a thing, not the time of day
        if not (recall and w in _STORING):
            out.extend(WORDS.get(w) or WORDS.get(w.removesuffix("'s").rstrip("'"), ()))  # "today's date"
    for pat, terms in PHRASES:
        if pat.search(low):
            out.extend(terms)
    if _CLOCK.search(low) and _TIME_TALK.search(low):
        out.append("convert")
    if _URL.search(low):
        out.extend(("url", "fetch", "web"))
    else:
        named = _FILE.search(low)
        if named:
            out.append("file")
        # "./build" is a directory to act on; "package.json in ./webapp" only says where the file is
        if any(
            not (named and re.search(r"\.[a-z]+\s+" + _WHERE + re.escape(d.group()), low))
            for d in islice(_DIR.finditer(low), _FEW_DIRS)
        ):
            out.append("directory")
    return tuple(dict.fromkeys(stem(t) for t in out))


thesaurus_terms = lru_cache(maxsize=8192)(terms_of)
