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

- `explains(text)`: the request asks the model to explain, define or compare something from
  what it knows ("explain big O notation", "what is a monad", "the difference between TCP and
  UDP") and carries nothing a tool could act on: no URL, path or typed value, and no storage word
  that points at something ("the file", "my commits", "which folders"; "how do file permissions
  work" names none).

- `asks_knowledge(text)`: broader and soft: the request reads as a question for the model's own
  knowledge or advice ("tell me about the history of jazz", "how can I remember names better",
  "what's the best time of year to visit Japan", "pros and cons of ...") or explains or composes,
  and names no storage word, URL, path or typed value. It is not a veto: P(fit) takes it as one
  feature (`plain`, its negation), so a strong match still wins ("how can I interpret the tarot
  card" against a tarot tool); it stops one shared word ("history", "time", "branches") from
  making a tool fit.

- `small_talk(text)`: the whole message is social — a greeting, "how are you", thanks, praise of
  the last answer, a farewell — and asks for nothing ("thank you so much, that helped", "hi there!
  how's it going?"). One request anywhere in it ("thanks! now show me the log") and it is not.
  Bare acknowledgements ("ok", "yes", "sure") are left out on purpose: in a tool loop they often
  mean "go ahead".

`ToolIndex.rank()` does not trust a storing leader for a composing request, nor any leader for an
explaining one or small talk (P(fit) = 0, the ranking itself is unchanged), the same way it does not trust a pool
found by meaning alone.
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


# Openings of a request for an explanation from knowledge.
_EXPLAIN = re.compile(
    r"^\s*(?:can you |could you |please |pls )?(?:explain|define|describe|summari[sz]e what|eli5)\b"
    r"|^\s*what(?:'s| is| are) (?:a|an|the (?:difference|meaning|point|purpose)|the differences)\b"
    r"|^\s*what does (?:'[^']*'|\"[^\"]*\"|\S+(?: \S+){0,3}) (?:mean|stand for)\b|(?<!time )\bdifference between\b"
    r"|^\s*how (?:does|do) (?!i |we |you |u |my |our )(?:\S+ ){1,6}(?:work|interact|relate)\b"
    r"|^\s*what(?:'s| is) the (?:time|space|big[- ]o|runtime|computational) complexity\b"
    r"|^\s*what(?:'s| is) (?:the |a |an )?(?:[a-z]+ )?word for\b"  # "what's the French word for folder"
    r"|\bwhere (?:does|did) (?:that|this|the) (?:phrase|word|saying|expression|idiom|name) come from\b"
    r"|^\s*why (?:is|are|do|does|did)\b|\bin plain english\b|\bin simple terms\b",
    re.IGNORECASE,
)


@lru_cache(maxsize=8192)
def explains(text: str) -> bool:
    """True when `text` asks for an explanation from knowledge and names nothing a tool acts on.
    The term a definition asks about is not a value to act on ("what does UTC stand for")."""
    if not _EXPLAIN.search(text):
        return False
    from mcproute.router.retrieval_slots import query_slots  # a sibling rule set; imported late to stay acyclic

    defined = _DEFINITION.match(text)
    word = defined.group(1) if defined is not None else ""
    # one word defined ("UTC", "HEAD~2"): its slot is the subject; "what does 5pm PST mean" converts
    term = query_slots(word) - {"path", "paths", "url", "email"} if len(word.split()) == 1 else frozenset()
    return _reaches_nothing(text, ignore=term)


_DEFINITION = re.compile(
    r"^\s*what does ((?:'[^']*'|\"[^\"]*\"|[^\s/:]+)(?: [^\s/:]+){0,3}) (?:mean|stand for)\b", re.I
)


def _reaches_nothing(text: str, *, strict: bool = False, ignore: frozenset[str] = frozenset()) -> bool:
    """Outside quoted text, `text` names nothing a tool acts on: no URL, path, typed value (a bare
    number aside) or storage word; `strict` also counts plurals ("commits") and the user's own
    things ("my", "our")."""
    from mcproute.router.retrieval_slots import query_slots  # a sibling rule set; imported late to stay acyclic

    own = _QUOTED.sub(" ", text)
    if _URL.search(own) or _PATHLIKE.search(own) or query_slots(own) - {"number"} - ignore:
        return False
    words = _WORDS.findall(own.lower())
    if strict and any(w in _OWN for w in words):
        return False
    return not any(
        (w in _STORAGE or (strict and _base(w) in _STORAGE)) and _anchored(words, i) for i, w in enumerate(words)
    )


# A storage word names things a tool could act on only when something points at them: "the file",
# "this repo", "my last commit", "how many files", "which files", "files I can delete". Bare or
# generic ("how do file permissions work", "good habits for commit messages", "a directory tree")
# it is a topic.
_POINTING = frozenset(
    {
        "the",
        "this",
        "that",
        "these",
        "those",
        "my",
        "our",
        "your",
        "its",
        "their",
        "which",
        "many",
        "much",
        "any",
        "some",
        "all",
        "every",
    }
)
_SOMEONE = frozenset({"i", "we", "i've", "we've", "i'd", "i'm"})
_WHICH_ONE = frozenset(
    {
        "last",
        "latest",
        "current",
        "new",
        "first",
        "previous",
        "recent",
        "main",
        "same",
        "other",
        "whole",
        "entire",
        "next",
        "old",
        "open",
    }
)


def _anchored(words: list[str], i: int) -> bool:
    before = words[i - 1] if i >= 1 else ""
    if before in _POINTING or (i + 1 < len(words) and words[i + 1] in _SOMEONE):
        return True
    return i >= 2 and before in _WHICH_ONE and words[i - 2] in _POINTING


@lru_cache(maxsize=65536)
def stores(name: str, description: str, action: str | None) -> bool:
    """True for a tool that creates or writes something in storage (a file, a directory, a path)."""
    if action not in ("create", "write"):
        return False
    words = set(split_identifier(name)) | set(_WORDS.findall(description[:200].lower()))
    return bool(words & _TOOL_STORAGE)


_UNIT = (
    r"(?:miles?|km|kilomet(?:er|re)s?|met(?:er|re)s?|feet|foot|inch(?:es)?|cm|mm|yards?|kg|kilos?|kilograms?|grams?"
    r"|lbs?|pounds?|ounces?|oz|stones?|lit(?:er|re)s?|ml|gallons?|pints?|cups?|tablespoons?|teaspoons?|°[cf]|celsius"
    r"|fahrenheit|mph|kph|km/h|calories|kcal)"
)
# Openings of a question for the model's knowledge or advice (broader than _EXPLAIN). "how do I
# ..." is advice unless its verb looks something up or acts ("how do I see the diff" wants a tool).
_KNOWLEDGE = re.compile(
    r"^\s*(?:can you |could you |please )?(?:tell|teach) me (?:something |a (?:fun |little )?(?:fact|bit) )?(?:more )?about\b"
    r"|^\s*tell me (?:something|a fun fact)\b"
    r"|^\s*what(?:'s| is| was| are| were) (?:the|some) (?:history|origins?|etymology|plural|meaning|point|purpose"
    r"|best (?:way|time|practices?)|pros and cons|benefits|advantages|disadvantages)\b"
    r"|^\s*what(?:'s| is) (?:the |a )?(?:opposite|synonym|antonym|past tense|plural) (?:of|for)\b"
    r"|^\s*how (?:many|much) [a-z]+ (?:are|is) (?:there )?in (?:a|an|one)\b"  # "how many minutes are in a day"
    r"|^\s*how (?:do|can|should|would|could) (?:i|we|you|one) (?!see|check|find|get|list|show|know|look|view|open"
    r"|read|tell|pull|fetch|grab|download|make|create|add|delete|remove|rename|move|copy|save|write|store|undo"
    r"|switch|go|stage|commit|push|set|start|run|search|update|edit|change|convert|retrieve|calculate|compute|track"
    r"|book|order|buy|send|schedule|play|translate|generate)[a-z]+"
    r"|\bpros and cons\b|\barguments for and against\b|\bany (?:tips|advice|tricks)\b"
    r"|^\s*(?:give me |any )?(?:some |a few |three |five )?tips (?:for|on|to)\b"
    r"|^\s*why (?:was|were|should|would|can't|don't|doesn't)\b|^\s*how (?:long|many|much) (?:should|does|do|is|are)\b"
    # how things work ("how do trees grow"), quantities people ask the model ("how many hours of
    # sleep do adults need"), etiquette and judgement ("is it rude to ..."), open lists of advice
    r"|^\s*how do(?:es)? (?!i\b|we\b|you\b|u\b|one\b|my\b|our\b|this\b|that\b|these\b|those\b)[a-z]+ [a-z]+"
    r"|^\s*how (?:many|much) [a-z]+(?: [a-z]+){0,3} (?:do|does|should) (?!i\b|we\b|my\b|our\b)"
    r"|^\s*is it (?:rude|ok|okay|normal|safe|bad|good|better|wise|polite|healthy|weird|legal|worth it|a good idea)\b"
    r"|^\s*what are (?:some|the best|good) (?:good |common |classic |great |healthy |useful )?"
    r"(?:habits|ways|ideas|examples|tips|books|novels|films|movies|songs|places|things|reasons|rules|signs|mistakes)\b"
    # history: who made or found something, and when (not a place's facts: a catalogue may have a
    # tool for capitals or populations, and this is only one feature of P(fit))
    r"|^\s*who (?:first )?(?:invented|founded|coined|pioneered|came up with)\b"
    r"|\b(?:what|which) year (?:did|was|were)\b|\bin (?:what|which) year\b"
    r"|^\s*when (?:was|were|did) (?:[a-z]+ ){1,4}(?:invented|discovered|founded|born|first)\b"
    r"|\b(?:short|brief|quick|little) history of\b"
    r"|\b(?:conceptual|fundamental) differences? between\b|^\s*(?:in general|generally|as a rule),? "
    r"|^\s*what(?:'s|s| is| are) (?:a |some )?(?:good|decent|nice) [a-z\-]+(?: [a-z\-]+){0,2} (?:for|to)\b"
    # a quantity converted from one everyday unit to another: arithmetic the model does ("5 miles to km")
    rf"|\b\d+(?:[.,]\d+)? ?{_UNIT} (?:to|into|in) {_UNIT}\b",
    re.IGNORECASE,
)


@lru_cache(maxsize=8192)
def asks_knowledge(text: str) -> bool:
    """True when `text` reads as a question for the model's knowledge or advice, or explains or
    composes, and names nothing a tool acts on (no storage word, URL, path or typed value)."""
    if explains(text) or composes(text):
        return True
    # "my calls", "our budget": the user's own things are something a tool may hold (strict).
    return bool(_KNOWLEDGE.search(text)) and _reaches_nothing(text, strict=True)


_OWN = frozenset({"my", "our", "mine", "ours"})


# Social units a message may consist of entirely (after an optional "oh"/"well"/"ok" opener).
_SOCIAL = re.compile(
    r"(?:(?:oh|well|ok|okay|hey|and|so)\s+)?(?:"
    r"(?:hi|hello|hey|hiya|howdy|greetings|good (?:morning|afternoon|evening|day))"
    r"(?: there| again| everyone| all| mate| buddy| friend)?"
    r"|how (?:are|r) (?:you|u|ya)(?: doing| going)?(?: today| tonight| this (?:morning|afternoon|evening|week))?"
    r"|how(?:'s|s| is) (?:it going|your day(?: going)?|everything|life)|what(?:'s|s) up|how have you been"
    r"|(?:nice|good|great) to (?:meet|see|talk to|hear from) you(?: again)?|long time no (?:see|talk)"
    r"|(?:thanks|thank you|thank u|thx|ty|cheers|much appreciated|appreciate it|i appreciate (?:it|that|your help))"
    r"(?: (?:so|very) much| a lot| a ton| again| heaps)?(?: for (?:your|the|all the|all your) help| for that| for everything)?"
    r"|(?:that|this|it|you)(?: really)? (?:helped|helps|was (?:very |really |super )?helpful|were (?:very |really )?helpful"
    r"|worked|works now|was (?:great|perfect|exactly what i needed)|is perfect|rock|are (?:great|awesome|the best))"
    r"(?: a lot| so much)?"
    r"|(?:bye|goodbye|good night|goodnight|see (?:you|ya)(?: later| soon| tomorrow)?|talk (?:to you )?(?:later|soon)"
    r"|take care|have a (?:good|great|nice) (?:day|one|night|evening|weekend))"
    r")",
    re.IGNORECASE,
)
_SEGMENTS = re.compile(r"[.!?,;:]+|\s+-\s+|\s+and\s+")
_EMOJI = re.compile(r"[^\w\s'.!?,;:-]+")


@lru_cache(maxsize=8192)
def small_talk(text: str) -> bool:
    """True when every part of `text` is a greeting, thanks, praise of the last answer or a farewell."""
    parts = [" ".join(p.split()) for p in _SEGMENTS.split(_EMOJI.sub(" ", text.lower()))]
    parts = [p for p in parts if p]
    return bool(parts) and all(_SOCIAL.fullmatch(p) for p in parts)
