"""`did you mean …?` for an unknown key in servers.yaml.

The candidates are the keys valid *where the unknown key is* (a model's keys under `models.x`, not
every key of every section: `temprature` under a model once matched the gateway's `separator`),
then the same key in another section ("it belongs under …"), then keys people bring from other
tools, with what mcproute does instead. Works on the pydantic classes it is given, so it knows
nothing of the config's shape itself.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel

# Keys from other gateways' and SDKs' configs that mcproute deliberately does not take here.
_SAMPLING = "mcproute takes sampling parameters from each request, not from servers.yaml"
FOREIGN_KEYS: dict[str, str] = {
    "temperature": _SAMPLING,
    "top_p": _SAMPLING,
    "max_tokens": _SAMPLING,
    "stop": _SAMPLING,
    "seed": _SAMPLING,
    "type": "a server's transport follows from 'command' (stdio), 'url' or 'urls' (streamable HTTP)",
    "transport": "a server's transport follows from 'command' (stdio), 'url' or 'urls' (streamable HTTP)",
    "disabled": "write 'enabled: false'",
    "api_base": "the key is 'base_url'",
    "serverUrl": "the key is 'url'",
}


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic classes inside an annotation such as `dict[str, X] | None` or `list[X]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list, dict, typing.Literal) or typing.get_args(
        annotation
    ):
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    return []


def _is_container(annotation: Any) -> bool:
    """`dict[str, X]`, `list[X]`, or either `| None`: keyed by a name or an index, not by X's keys."""
    return typing.get_origin(annotation) in (dict, list) or any(
        typing.get_origin(a) in (dict, list) for a in typing.get_args(annotation)
    )


def model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The class whose keys are valid at `loc` (names of servers/models and list indexes stepped over)."""
    current: type[BaseModel] | None = root
    skip_one = False
    for part in loc:
        if skip_one:
            skip_one = False
            continue
        if current is None or not isinstance(part, str) or part not in current.model_fields:
            return None
        annotation = current.model_fields[part].annotation
        inner = _models_in(annotation)
        current = inner[0] if inner else None
        skip_one = _is_container(annotation)
    return None if skip_one else current


def _all_fields(
    root: type[BaseModel], path: str = "", seen: set[type[BaseModel]] | None = None
) -> dict[str, list[str]]:
    """key -> every section (dotted, `*` for a name or an index) where it is valid."""
    seen = set() if seen is None else seen
    seen.add(root)
    out: dict[str, list[str]] = {}
    for name, field in root.model_fields.items():
        out.setdefault(name, []).append(path or "the top level")
        for inner in _models_in(field.annotation):
            if inner not in seen:
                sub = (f"{path}.{name}" if path else name) + (".*" if _is_container(field.annotation) else "")
                for key, where in _all_fields(inner, sub, seen).items():
                    out.setdefault(key, []).extend(where)
    return out


def suggest(root: type[BaseModel], loc: tuple[Any, ...], key: str) -> str:
    """` (did you mean 'x'?)`, ` (it belongs under …)`, ` (…what instead)` or ""."""
    here = model_at(root, loc[:-1])
    own = sorted(here.model_fields) if here is not None else []
    close = difflib.get_close_matches(key, own, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    elsewhere = _all_fields(root).get(key)
    if elsewhere:
        return f" (it belongs under {' or '.join(elsewhere)})"
    foreign = difflib.get_close_matches(key, sorted(FOREIGN_KEYS), n=1, cutoff=0.75)
    if foreign:
        word = foreign[0]
        return f" ({'' if word == key else f'did you mean {word!r}? '}{FOREIGN_KEYS[word]})"
    return ""
