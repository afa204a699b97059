"""Questions for the model itself: explanations, knowledge and advice, and small talk.

A request can share every content word with a tool and still ask nothing of it: "explain the
difference between RAM and disk storage" (the filesystem tools), "tell me about the history of
jazz" (`git_log`), "thank you so much, that helped". General English only; nothing here names a
tool, server or catalogue.

- `explains(text)`: the request asks the model to explain, define or compare something from what
  it knows ("explain big O notation", "what is a monad", "the difference between TCP and UDP") and
  carries nothing a tool could act on: no URL, path or typed value, and no storage word that
  points at something ("the file", "my commits", "which folders"; "how do file permissions work"
  names none).
- `asks_knowledge(text)`: broader and soft: the request reads as a question for the model's own
  knowledge or advice ("tell me about the history of jazz", "how can I remember names better",
  "who invented the web", "what's a good note-taking app for linux") or explains or composes
  (`retrieval_compose`), and names no storage word, URL, path or typed value. It is not a veto:
  P(fit) takes it as one feature (`plain`, its negation), so a strong match still wins ("how can I
  interpret the tarot card" against a tarot tool); it stops one shared word ("history", "time",
  "branches") from making a tool fit.
- `small_talk(text)`: the whole message is social: a greeting, "how are you", thanks, praise of
  the last answer, a farewell ("thank you so much, that helped"). One request anywhere in it
  ("thanks! now show me the log") and it is not. Bare acknowledgements ("ok", "yes", "sure") are
  left out on purpose: in a tool loop they often mean "go ahead".

`ToolIndex.rank()` does not trust any leader for an explaining request or small talk (P(fit) = 0,
the ranking itself is unchanged).
"""

from __future__ import annotations

import re
from functools import lru_cache

# What a request names and how (shared with the composing rules, which ask the same of a target).
from mcproute.router.retrieval_compose import _PATHLIKE, _QUOTED, _STORAGE, _URL, _WORDS, _base, composes

# Openings of a request for an explanation from knowledge.
_EXPLAIN = re.compile(
    r"^\s*(?:can you |could you |please |pls )?(?:explain|define|describe|summari[sz]e what|eli5)\b"
    r"|^\s*what(?:'s| is| are) (?:a|an|the (?:difference|meaning|point|purpose)|the differences)\b"
    r"|^\s*what does (?:'[^']*'|\"[^\"]*\"|\S+(?: \S+){0,3}) (?:mean|stand for)\b|(?<!time )(?<!significant )\bdifference between\b"  # a significant one is a test to run
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

    own = _LATIN.sub(" ", _A_KIND_OF_FILE.sub(" ", _QUOTED.sub(" ", text)))
    if _URL.search(own) or _PATHLIKE.search(own) or query_slots(own) - {"number", "expression"} - ignore:
        return False
    words = _WORDS.findall(own.lower())
    if strict and any(w in _OWN for w in words):
        return False
    return not any(
        (w in _STORAGE or (strict and _base(w) in _STORAGE)) and _anchored(words, i) for i, w in enumerate(words)
    )


_LATIN = re.compile(r"\b(?:e\.g|i\.e)\.?", re.IGNORECASE)  # "e.g." is not a file name
# "a .gitignore file", "an .env file", "every package.json file": a kind of file, not one to act on
# ("what's a .gitignore file actually for?").
_A_KIND_OF_FILE = re.compile(r"\b(?:an?|any|every)\s+(?:\.[\w-]+|[\w-]+\.[A-Za-z]\w{0,4})\s+files?\b", re.IGNORECASE)


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
    r"|\bis (?:it|that|this) (?:rude|ok|okay|normal|safe|bad|good|better|wise|polite|healthy|weird|legal|worth it|a good idea)\b"
    # two terms compared ("is a routing number the same thing as an account number?")
    r"|^\s*(?:is|are) (?:an? |the )?[a-z\-]+(?: [a-z\-]+){0,3} (?:the same(?: thing)? as|different from)\b"
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
