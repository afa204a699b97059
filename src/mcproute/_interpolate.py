"""`${VAR}` / `${VAR:-default}` interpolation over the parsed YAML, and dotted paths for messages.

Kept apart from config.py (which owns the schema and the loading order) so each stays small.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def format_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def interpolate(
    value: Any, environ: Mapping[str, str], path: tuple[Any, ...] = (), *, keep_missing: bool = False
) -> tuple[Any, list[tuple[tuple[Any, ...], str]], set[str]]:
    """Replace `${VAR}` / `${VAR:-default}` in every string; return (value, missing, secrets).

    A missing variable becomes "" (a value that was only that variable: None), or, with
    `keep_missing`, stays as written."""
    missing: list[tuple[tuple[Any, ...], str]] = []
    secrets: set[str] = set()

    def sub(v: Any, p: tuple[Any, ...]) -> Any:
        if isinstance(v, str):
            whole = _ENV_RE.fullmatch(v)

            def repl(m: re.Match[str]) -> str:
                name, default = m.group(1), m.group(2)
                # As in the shell's `${VAR:-default}`, an empty variable counts as unset: an
                # exported-but-empty OPENAI_API_KEY must mark the model unavailable, not send
                # requests with an empty key.
                if environ.get(name):
                    secrets.add(environ[name])
                    return environ[name]
                if default is not None:
                    return default
                missing.append((p, name))
                return m.group(0) if keep_missing else ""

            out = _ENV_RE.sub(repl, v)
            # A value that was only a missing variable becomes "unset", not "empty string".
            if not keep_missing and whole and whole.group(2) is None and not environ.get(whole.group(1)):
                return None
            return out
        if isinstance(v, dict):
            return {k: sub(x, p + (k,)) for k, x in v.items()}
        if isinstance(v, list):
            return [sub(x, p + (i,)) for i, x in enumerate(v)]
        return v

    return sub(value, path), missing, secrets
