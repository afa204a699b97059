"""Text features for the reasoning-vs-fast tier score (pure; shared by the scorer and its build script).

Two families, because they answer different questions:

* **form** features (a dozen dense numbers): does the step *look like* work that needs deliberate
  reasoning — arithmetic, code, logic, multiple steps — or like a plain request for a tool? These
  transfer across sources because they describe the shape of a request, not its topic.
* **word** features (sparse tokens): which topics the weak model tends to get wrong, learned from
  per-prompt outcomes. They carry subject difficulty, which does not transfer to unseen subjects
  (see docs/routing-tiers.md), so they are only one input of the score.
"""

from __future__ import annotations

import math
import re

# Cap on the characters looked at: keeps a decision well under 1 ms even for a pasted document,
# and the opening of a step says most of what it asks.
MAX_CHARS = 4000

_WORD = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_MATH_OP = re.compile(r"(?<=[\w)\]\s])[-+*/^=<>%](?=[\s\w(\[])")
_CODE = re.compile(r"\bdef |\breturn\b|>>>|\"\"\"|\bimport |\bclass |[{};]|\w\(\w*\)|==|!=|\bfor \w+ in\b")
_LOGIC = re.compile(r"\b(?:true|false|not|and|or|if|then|else|unless|implies|therefore)\b")
_OPTIONS = re.compile(r"(?:^|\n)\s*\(?[A-E][.)]\s")
_REASON_CUE = re.compile(
    r"\b(?:calculate|compute|solve|prove|derive|evaluate|determine|simplify|how many|how much|"
    r"step by step|explain why|suppose|assume|let|given that|deduce|sort|order|count|"
    r"which of the following|what is the value|probability|expected|"
    # multi-step puzzles: truth-tellers, orderings, swaps, moves, sequences
    r"tells? the truth|lies|alphabetically|sequence|swap|switch|trade|arranged|fixed order|"
    r"at the start|at the end|steps?|turn (?:left|right|around))\b"
)
_BOOL = re.compile(r"\b(?:True|False)\b")
_BRACKET = re.compile(r"[()\[\]{}<>]")
_TOOL_CUE = re.compile(
    r"\b(?:can you|could you|please|i need|i want|i'd like|help me|find me|get me|show me|look up|"
    r"search|book|send|check|weather|schedule|remind|recommend|list|retrieve|fetch|tell me)\b"
)

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
)


def clip_text(text: str) -> str:
    return text[:MAX_CHARS]


def form_features(text: str) -> tuple[float, ...]:
    """Dense shape-of-request features, in FORM_FEATURES order; counts are log-damped."""
    t = clip_text(text)
    low = t.lower()
    n = max(1, len(t))
    digits = sum(c.isdigit() for c in t)
    symbols = sum((not c.isalnum()) and (not c.isspace()) for c in t)
    return (
        math.log1p(len(t)),
        math.log1p(len(_NUMBER.findall(t))),
        math.log1p(len(_MATH_OP.findall(t))),
        math.log1p(len(_CODE.findall(t))),
        math.log1p(len(_LOGIC.findall(low))),
        1.0 if len(_OPTIONS.findall(t)) >= 2 else 0.0,
        math.log1p(len(_REASON_CUE.findall(low))),
        math.log1p(len(_TOOL_CUE.findall(low))),
        math.log1p(t.count("\n")),
        math.log1p(t.count("?")),
        digits / n,
        symbols / n,
        math.log1p(len(_BOOL.findall(t))),
        math.log1p(len(_BRACKET.findall(t))),
        math.log1p(t.count(",")),
    )


def word_tokens(text: str) -> list[str]:
    """Lower-cased word and number tokens plus adjacent pairs; numbers collapse to '#'."""
    words = ["#" if w.isdigit() else w for w in _WORD.findall(clip_text(text).lower())]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]
