"""Shadow traffic, the pure half: which steps are sampled, and how a shadow answer compares.

    sampled("s-3f…", 0.1)                      # the same answer for the same step id, always
    compare(live, shadow, schemas)             # -> Comparison(same_tool, args_equal, …, agreement)

No I/O and no clock: the runtime (runtime/shadow.py) makes the calls, this module judges them,
so a recorded pair can be re-compared offline and the tests need no model.

The measures, chosen to be simple enough to explain on a dashboard:
- `same_tool`: both called the same tool first, or both called none.
- `args_equal`: the two argument objects are equal as JSON values (1 == 1.0, key order ignored).
- `args_equivalent`: equal after normalising both against the tool's input schema: a property
  left out takes the schema's `default`; a string that spells a number, integer or boolean where
  the schema wants one becomes that value; an integer-valued float where the schema wants an
  integer becomes an int. So `{"a": "1"}` and `{"a": 1, "b": 0}` are equivalent for
  `{a: integer, b: integer = 0}`. Anything the schema does not describe is compared as is.
- `agreement`: token-set F1 of the two answers' texts (lowercased words and numbers): 1.0 for the
  same words, 0.0 for none in common, and 1.0 when both are empty (two silent tool calls agree).
  It is a cheap lexical proxy, not a semantic judgement; the optional judge model is that.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def sampled(step_id: str, rate: float) -> bool:
    """Whether a step is shadowed: the first 8 bytes of sha256(step id) as a fraction of 2**64,
    below `rate`. Deterministic, so a replayed or re-run step is sampled the same way."""
    if rate <= 0:
        return False
    if rate >= 1:
        return True
    digest = hashlib.sha256(step_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


@dataclass(frozen=True, slots=True)
class Reply:
    """What one model answered: its first tool call (if any) and its text."""

    tool: str | None = None
    arguments: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""


@dataclass(frozen=True, slots=True)
class Comparison:
    same_tool: bool
    args_equal: bool | None  # None when the tools differ or neither called one: nothing to compare
    args_equivalent: bool | None
    agreement: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "same_tool": self.same_tool,
            "args_equal": self.args_equal,
            "args_equivalent": self.args_equivalent,
            "agreement": self.agreement,
        }


def compare(live: Reply, shadow: Reply, schemas: Mapping[str, Mapping[str, Any]]) -> Comparison:
    """`schemas`: tool name -> its JSON input schema (tools not in it compare without one)."""
    same_tool = live.tool == shadow.tool
    if same_tool and live.tool is not None:
        schema = schemas.get(live.tool) or {}
        equal = _canon(live.arguments) == _canon(shadow.arguments)
        equivalent = equal or _canon(normalise(live.arguments, schema)) == _canon(normalise(shadow.arguments, schema))
        args_equal: bool | None = equal
        args_equivalent: bool | None = equivalent
    else:
        args_equal = args_equivalent = None
    return Comparison(same_tool, args_equal, args_equivalent, round(agreement(live.text, shadow.text), 4))


def agreement(a: str, b: str) -> float:
    """Token-set F1 of two texts (see the module docstring)."""
    ta, tb = _tokens(a), _tokens(b)
    if not ta and not tb:
        return 1.0
    if not ta or not tb:
        return 0.0
    common = len(ta & tb)
    return 2 * common / (len(ta) + len(tb))


def _tokens(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text or "")}


def normalise(arguments: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """`arguments` with the schema's defaults filled in and JSON types coerced to the schema's."""
    out = dict(arguments)
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        return out
    for name, prop in props.items():
        if not isinstance(prop, Mapping):
            continue
        if name not in out and "default" in prop:
            out[name] = prop["default"]
        if name in out:
            out[name] = _coerce(out[name], prop)
    return out


def _coerce(value: Any, prop: Mapping[str, Any]) -> Any:
    kinds = prop.get("type")
    types: Sequence[Any] = kinds if isinstance(kinds, list) else [kinds]
    if isinstance(value, str):
        text = value.strip()
        if "boolean" in types and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if "integer" in types or "number" in types:
            try:
                number = float(text)
            except ValueError:
                return value
            if math.isfinite(number):
                return int(number) if number.is_integer() and "integer" in types else number
        return value
    if isinstance(value, float) and "integer" in types and value.is_integer():
        return int(value)
    if isinstance(value, Mapping) and "properties" in prop:
        return normalise(value, prop)
    if isinstance(value, list) and isinstance(prop.get("items"), Mapping):
        return [_coerce(v, prop["items"]) for v in value]
    return value


def _canon(value: Any) -> str:
    # JSON with sorted keys; ints and integer-valued floats print alike, so 1 == 1.0.
    return json.dumps(_numbers(value), sort_keys=True, ensure_ascii=False, default=str)


def _numbers(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_numbers(v) for v in value]
    return value


# ---------------------------------------------------------------- the optional judge

JUDGE_SYSTEM = (
    "You compare two assistant answers to the same request. Score each from 0 (useless or wrong) to 10 "
    "(fully correct and helpful), judging the tool call (if any) and the text. Reply with JSON only: "
    '{"a": <score of answer A>, "b": <score of answer B>}'
)


def judge_prompt(request_text: str, a: Reply, b: Reply) -> str:
    """The judge's user message. Which of live/shadow is A is fixed (A = live): the judge sees no
    tier or model name, so it cannot favour the expensive one by name."""

    def show(r: Reply) -> str:
        call = f"tool call: {r.tool} {json.dumps(dict(r.arguments), sort_keys=True)}\n" if r.tool else ""
        return f"{call}text: {r.text or '(none)'}"

    return f"Request:\n{request_text}\n\nAnswer A:\n{show(a)}\n\nAnswer B:\n{show(b)}"


_SCORES = re.compile(r"\{[^{}]*\}")


def parse_judge(text: str) -> tuple[float, float] | None:
    """(score A, score B) in [0, 1] from the judge's reply, or None if it did not answer in form."""
    for match in _SCORES.finditer(text or ""):
        try:
            data = json.loads(match.group(0))
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        a, b = data.get("a"), data.get("b")
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and _score(a) and _score(b):
            return float(a) / 10, float(b) / 10
    return None


def _score(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 10
