"""`mcproute traces`: recent conversations, or one conversation's decision timeline.

Reads the JSONL file setup() writes by default (`<data_dir>/traces.jsonl`: the data dir of
`--config`, resolved next to that file, or `--data-dir`; or `--file`), or a Jaeger query API
(`--jaeger http://localhost:16686`). A timeline shows each step's full reason and sticky reason,
wrapped to the terminal; `--json` has both too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from datetime import datetime
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="servers.yaml", help="servers.yaml (for the data dir and service name)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--file", help="a JSONL traces file (default: <data_dir>/traces.jsonl)")
    src.add_argument("--data-dir", help="read <DIR>/traces.jsonl (what `mcproute serve` and the examples' --data-dir write)")
    src.add_argument("--jaeger", metavar="URL", help="a Jaeger query endpoint, e.g. http://localhost:16686")
    p.add_argument("--service", help="service name to query in Jaeger (default: telemetry.service_name)")
    p.add_argument("--lookback", type=float, default=24.0, metavar="HOURS", help="Jaeger search window (default 24)")
    p.add_argument("--conversation", metavar="ID", help="show this conversation's decision timeline")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--limit", type=int, default=20, help="at most N conversations / steps (default 20)")


def _load(args: argparse.Namespace) -> tuple[list[Any], str]:
    from pathlib import Path

    from mcproute.config import LoadedConfig, Config, load_config
    from mcproute.telemetry import reader

    cfg_path = Path(args.config)
    loaded = load_config(cfg_path) if cfg_path.exists() else LoadedConfig(Config())
    if args.jaeger:
        service = args.service or loaded.config.telemetry.service_name
        now = time.time_ns()
        start = now - int(args.lookback * 3600 * 1e9)
        return reader.fetch_jaeger(args.jaeger, service, start_ns=start, end_ns=now, limit=max(args.limit * 10, 100)), args.jaeger
    path = Path(args.file) if args.file else Path(args.data_dir) / "traces.jsonl" if args.data_dir else loaded.data_path("traces.jsonl")
    if not path.exists():
        hint = "run the gateway with the jsonl exporter, or pass --config (the one it served), --data-dir, --file or --jaeger"
        if not args.file and not args.data_dir and (examples := Path("examples/agents/.mcproute/traces.jsonl")).exists():
            hint = f"the agent examples wrote {examples}: pass --config examples/agents/offline.yaml"
        raise FileNotFoundError(f"no traces file at {path} ({hint})")
    return reader.read_jsonl(path), str(path)


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=False)).rstrip() for r in [header, *rows]]
    return "\n".join(lines)


def _wrap(text: str, indent: str = "    ") -> str:
    import shutil
    import textwrap

    width = max(60, shutil.get_terminal_size((120, 24)).columns)
    return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent + "  ", break_on_hyphens=False)


def run(args: argparse.Namespace) -> int:
    from mcproute.errors import McprouteError
    from mcproute.telemetry import reader

    try:
        spans, where = _load(args)
    except (OSError, McprouteError, RuntimeError) as exc:
        print(f"mcproute traces: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # httpx errors: keep the import lazy, still say what failed
        print(f"mcproute traces: cannot read {args.jaeger or args.file}: {exc}", file=sys.stderr)
        return 1

    if args.conversation:
        rows = reader.timeline(spans, args.conversation)[-args.limit:]
        if not rows:
            print(f"mcproute traces: no steps for conversation {args.conversation!r} in {where}", file=sys.stderr)
            return 1
        if args.json:
            print(json.dumps([asdict(r) for r in rows], indent=2))
            return 0
        print(f"conversation {args.conversation}  ({len(rows)} steps, from {where})")
        table = _table(
            [[r.step, _when(r.start_ns), r.tool or "-", r.model or "-", r.tier or "-",
              f"{r.latency_ms:.1f}", f"{r.cost_usd:.6f}" if r.cost_usd is not None else "-",
              "held" if r.sticky_held else ("broke" if r.sticky_held is False else "-"),
              ",".join(r.errors) or "-"] for r in rows],
            ["STEP", "WHEN", "TOOL", "MODEL", "TIER", "MS", "COST_USD", "STICKY", "ERRORS"],
        ).split("\n")
        print(table[0])
        for line, r in zip(table[1:], rows, strict=True):
            # The sentences in full, wrapped under their row: a cut reason is a wrong reason.
            print(line)
            for label, text in (("reason", r.reason), ("sticky", r.sticky_reason)):
                if text:
                    print(_wrap(f"{label}: {text}"))
        return 0

    convs = reader.conversations(spans)[: args.limit]
    if args.json:
        print(json.dumps([asdict(c) for c in convs], indent=2))
        return 0
    if not convs:
        print(f"no conversations in {where}")
        return 0
    print(_table(
        [[c.conversation_id, str(c.steps), _when(c.last_ns), "/".join(c.tiers) or "-", f"{c.cost_usd:.6f}"] for c in convs],
        ["CONVERSATION", "STEPS", "LAST", "TIERS", "COST_USD"],
    ))
    return 0
