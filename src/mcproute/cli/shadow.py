"""`mcproute shadow [--config servers.yaml] [--data-dir DIR | --state PATH] [--json]`

What the shadow traffic found (docs/shadow.md): per direction (live tier -> shadow tier), how
often the other tier called the same tool, with equal or schema-equivalent arguments, how much
the answers' texts agree, the judge's mean scores when one ran, and what it all cost.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mcproute.cli.replay import add_state_arguments, state_file

MAX_RECORDS = 100_000


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_state_arguments(p)


def run(args: argparse.Namespace) -> int:
    import anyio

    from mcproute.cli._common import load_or_report
    from mcproute.errors import StateError
    from mcproute.runtime.shadow_report import summarise
    from mcproute.state import SqliteStore

    loaded = load_or_report(args.config)
    if loaded is None:
        return 1
    path = state_file(loaded, args)
    if not path.is_file():
        print(f"error: no state file at {path} (pass --data-dir or --state)", file=sys.stderr)
        return 2

    async def read() -> list[Any]:
        async with SqliteStore(path) as store:
            return await store.list_outcomes(kind="shadow", limit=MAX_RECORDS)

    try:
        records = anyio.run(read)
    except StateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data = summarise(records)
    data["state_file"] = str(path)
    if args.json:
        print(json.dumps(data))
        return 0
    _print(data, loaded.config.routing.shadow.rate)
    return 0


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _print(d: dict[str, Any], rate: float) -> None:
    from mcproute.cli.render import console, emit, table

    print(f"{d['shadows']} shadow comparison(s) in {d['state_file']} (routing.shadow.rate is {rate:g} in this config)")
    if not d["by_direction"]:
        print("nothing to show: shadow traffic is off by default (routing.shadow.rate, docs/shadow.md)")
        return
    rows = []
    for direction, g in d["by_direction"].items():
        rows.append(
            (
                direction,
                str(g["shadows"]),
                ", ".join(f"{k} {v}" for k, v in g["by_status"].items()),
                _pct(g["same_tool_share"]),
                f"{_pct(g['args_equal_share'])} / {_pct(g['args_equivalent_share'])}",
                _num(g["mean_agreement"]),
                f"{_num(g['mean_judge_live'])} / {_num(g['mean_judge_shadow'])}" if g["judged"] else "-",
                f"{g['cost_usd']:.6f}",
            )
        )
    headers = [
        "live->shadow",
        "shadows",
        "status",
        "same tool",
        "args equal / equivalent",
        "agreement",
        "judge live / shadow",
        "USD",
    ]
    emit(console(), table(headers, rows))
