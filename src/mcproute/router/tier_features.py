"""Text features for the reasoning-vs-fast tier score (pure; shared by the scorer and its build script).

**Shape** features (sixteen dense numbers): does the step *look like* work that needs deliberate
reasoning — arithmetic, code, logic, multiple steps — or like a plain request for a tool? They
sit beside the step's encoder vector in the tier score (router/tiers.py): the vector says what the
step is about, the shape how it is built, and the shape is what the scorer falls back on when no
encoder runs.

Speed matters (a score sits in every step, budget < 1 ms): the text is tokenised once, cue
phrases are looked up in sets of words / word pairs, and character classes are counted with
`str.count` (C loops) rather than a dozen regex scans.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import pairwise

# Cap on the characters looked at: keeps a decision well under 1 ms even for a pasted document,
# and the opening of a step says most of what it asks.
MAX_CHARS = 4000

_WORD = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)
_SYMBOL = re.compile(r"[^\w\s]")

_LOGIC = frozenset("true false not and or if then else unless implies therefore".split())
_REASON_WORDS = frozenset(
    "calculate compute solve prove derive evaluate determine simplify suppose assume let deduce sort "
    "order count probability expected lies alphabetically sequence swap switch trade arranged step steps".split()
)
_REASON_PAIRS = frozenset(
    {
        "how many",
        "how much",
        "by step",
        "explain why",
        "given that",
        "which of",
        "the value",
        "the truth",
        "fixed order",
        "the start",
        "the end",
        "turn left",
        "turn right",
        "turn around",
    }
)
# Words of the analytical work agents are asked to do: debugging from evidence, design with
# trade-offs, review, planning, proof. General English of engineering and argument, not of any
# data set; "reason_cues" above is the vocabulary of arithmetic and logic puzzles.
_WORK_WORDS = frozenset(
    "design architect architecture justify justification tradeoff tradeoffs prove proof derive debug diagnose "
    "troubleshoot investigate analyse analyze analysis review audit critique refactor optimise optimize plan "
    "prioritise prioritize strategy rationale bottleneck deadlock invariant counterexample induction "
    "contradiction theorem lemma hypothesis hypotheses ambiguous ambiguity constraints migrate migration "
    "scalable scalability consistency concurrency rigorous rigorously weigh implications regression".split()
)
_WORK_PAIRS = frozenset(
    {
        "root cause",
        "trade offs",
        "pros and",
        "walk through",
        "figure out",
        "what went",
        "edge cases",
        "race condition",
        "race conditions",
        "why does",
        "why is",
        "why did",
        "should we",
        "best approach",
        "propose a",
        "come up",
        "step plan",
        "failure modes",
        "in what order",
        "what order",
        "so that",
    }
)
_TOOL_WORDS = frozenset("please search book send check weather schedule remind recommend list retrieve fetch".split())
_TOOL_PAIRS = frozenset(
    {
        "can you",
        "could you",
        "i need",
        "i want",
        "like to",
        "help me",
        "find me",
        "get me",
        "show me",
        "look up",
        "tell me",
    }
)
# A mechanical instruction about pasted material ("Reformat this JSON: {...}", "give me only the
# lines that contain ERROR: ..."): counted in the instruction alone (the text before the paste), so
# the paste's own words do not count. Long pastes of code or data otherwise look like work by shape.
_TRANSFORM_WORDS = frozenset(
    "format reformat sort extract rename convert uppercase lowercase capitalise capitalize indent dedupe "
    "deduplicate translate summarise summarize reword rephrase alphabetise alphabetize tabulate".split()
)
_TRANSFORM_PAIRS = frozenset(
    {
        "pull out",
        "give me only",
        "give me just",
        "only the",
        "just the",
        "list every",
        "list all",
        "remove duplicates",
        "remove the",
        "turn this",
        "into a",
        "to yaml",
        "to json",
        "to csv",
        "to html",
        "to markdown",
        "fix only",
        "fix the",
        "clean up",
        "one per",
        "per line",
    }
)
_PASTE = re.compile(r":\s*\n|\n\s*\n|:\s*[{\[<`]|```")
_MATH_CHARS = "+*/^=<>%"
_CODE_MARKS = ("def ", "return", ">>>", '"""', "import ", "class ", "{", "}", ";", "==", "!=", "()")
_BRACKETS = "()[]{}<>"
_OPTION_HEADS = ("A.", "B.", "C.", "D.", "E.", "(A)", "(B)", "(C)", "(D)", "(E)", "A)", "B)", "C)", "D)")

FORM_FEATURES: tuple[str, ...] = (
    "log_chars",
    "numbers",
    "math_ops",
    "code",
    "logic",
    "options",
    "reason_cues",
    "tool_cues",
    "lines",
    "question_marks",
    "digit_share",
    "symbol_share",
    "booleans",
    "brackets",
    "commas",
    "work_cues",
    "transform_cues",
)


@dataclass(frozen=True, slots=True)
class TextFeatures:
    form: tuple[float, ...]  # in FORM_FEATURES order


def clip_text(text: str) -> str:
    return text[:MAX_CHARS]


def analyse(text: str) -> TextFeatures:
    """The shape features, from one pass of tokenisation."""
    t = clip_text(text)
    words = ["#" if w.isdigit() else w for w in _WORD.findall(t.lower())]
    pairs = [f"{a} {b}" for a, b in pairwise(words)]
    n = max(1, len(t))
    lines = t.split("\n")
    options = sum(1 for ln in lines if ln.lstrip().startswith(_OPTION_HEADS))
    digits = sum(t.count(d) for d in "0123456789")
    form = (
        math.log1p(len(t)),
        math.log1p(words.count("#")),
        math.log1p(sum(t.count(c) for c in _MATH_CHARS)),
        math.log1p(sum(t.count(m) for m in _CODE_MARKS)),
        math.log1p(sum(1 for w in words if w in _LOGIC)),
        1.0 if options >= 2 else 0.0,
        math.log1p(sum(1 for w in words if w in _REASON_WORDS) + sum(1 for p in pairs if p in _REASON_PAIRS)),
        math.log1p(sum(1 for w in words if w in _TOOL_WORDS) + sum(1 for p in pairs if p in _TOOL_PAIRS)),
        math.log1p(len(lines) - 1),
        math.log1p(t.count("?")),
        digits / n,
        len(_SYMBOL.findall(t)) / n,
        math.log1p(t.count("True") + t.count("False")),
        math.log1p(sum(t.count(c) for c in _BRACKETS)),
        math.log1p(t.count(",")),
        math.log1p(sum(1 for w in words if w in _WORK_WORDS) + sum(1 for p in pairs if p in _WORK_PAIRS)),
        _transform_cues(t),
    )
    return TextFeatures(form)


def _transform_cues(text: str) -> float:
    """Transform verbs in the instruction before a pasted block; 0 when nothing is pasted."""
    m = _PASTE.search(text)
    if m is None or len(text) - m.end() < 40:
        return 0.0
    head = ["#" if w.isdigit() else w for w in _WORD.findall(text[: m.start() + 1].lower())]
    pairs = [f"{a} {b}" for a, b in pairwise(head)]
    triples = [f"{a} {b} {c}" for a, b, c in zip(head, head[1:], head[2:], strict=False)]
    hits = sum(1 for w in head if w in _TRANSFORM_WORDS) + sum(1 for p in (*pairs, *triples) if p in _TRANSFORM_PAIRS)
    return math.log1p(hits)


def form_features(text: str) -> tuple[float, ...]:
    return analyse(text).form
