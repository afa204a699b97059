"""One form for every `mcproute eval` kind: a title, a FIGURE/VALUE table whose names are the
JSON keys (so a figure quoted from the text is found in `--json` under the same name), then the
context lines (what vectors, which parameters, a baseline).

With `--json` stdout is the one JSON object and nothing else; the human report goes to stderr.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, Mapping):  # a breakdown (e.g. per source): its own figures, one line
        return "; ".join(f"{k}: {fmt(x) if not isinstance(x, Mapping) else '{' + fmt(x) + '}'}" for k, x in v.items())
    return str(v)


def print_report(
    kind: str, data: str, figures: Mapping[str, Any], context: Sequence[tuple[str, Any]] = (), *, as_json: bool = False
) -> None:
    """`figures` are the JSON object itself; `context` rows are shown, never in the JSON."""
    from mcproute.cli.render import console, emit, table

    con = console(stderr=as_json)
    rows: list[list[Any]] = [[k, fmt(v)] for k, v in figures.items()]
    emit(con, f"eval {kind}: {data}", table(["figure", "value"], rows, styles=["bold"]))
    if context:
        emit(con, "", table(["context", "value"], [[k, fmt(v)] for k, v in context], styles=["dim"]))
    if as_json:
        print(json.dumps(dict(figures)))
