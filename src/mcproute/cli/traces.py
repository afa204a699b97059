"""`mcproute traces`: recent conversations, or one conversation's decisions told step by step.

Reads the JSONL file setup() writes by default (`<data_dir>/traces.jsonl`), or a Jaeger query API
(`--jaeger http://localhost:16686`). Which file: `--file`; else `--data-dir`; else the data dir of
`--config`; else of `servers.yaml` here; and when none of those was named, also the places the
bundled examples write to (`.mcproute/`, `examples/agents/.mcproute/`). When nothing is found it
says every place it looked. `--json` carries every decision field of every step.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = "servers.yaml"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        default=None,
        help="the servers.yaml that was served: its data dir holds traces.jsonl (default: ./servers.yaml)",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--file", help="a JSONL traces file (default: <data_dir>/traces.jsonl)")
    src.add_argument(
        "--data-dir", help="read <DIR>/traces.jsonl (what `mcproute serve` and the examples' --data-dir write)"
    )
    src.add_argument("--jaeger", metavar="URL", help="a Jaeger query endpoint, e.g. http://localhost:16686")
    p.add_argument("--service", help="service name to query in Jaeger (default: telemetry.service_name)")
    p.add_argument("--lookback", type=float, default=24.0, metavar="HOURS", help="Jaeger search window (default 24)")
    p.add_argument(
        "--conversation", metavar="ID", help="tell this conversation's steps as a story: request, tool, tier, why"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output (every decision field of every step)")
    p.add_argument("--limit", type=int, default=20, help="at most N conversations / steps (default 20)")


def candidates(args: argparse.Namespace) -> list[Path]:
    """Every traces file worth reading, in order; only the first when the user named one."""
    from mcproute.config import Config, LoadedConfig, load_config

    if args.file:
        return [Path(args.file)]
    if args.data_dir:
        return [Path(args.data_dir) / "traces.jsonl"]
    cfg = Path(args.config or DEFAULT_CONFIG)
    if args.config and not cfg.is_file():
        raise FileNotFoundError(f"no config file at {cfg} (--config names the servers.yaml that was served)")
    loaded = load_config(cfg) if cfg.is_file() else LoadedConfig(Config())
    found = [_traces_path(loaded).absolute()]
    if args.config:
        return found
    # Nothing named: also where the bundled configs and examples write (from here, and from the
    # checkout this mcproute runs from).
    root = Path(__file__).resolve().parents[3]
    for base in dict.fromkeys([Path.cwd(), root]):
        found += [base / ".mcproute" / "traces.jsonl", base / "examples" / "agents" / ".mcproute" / "traces.jsonl"]
    return list(dict.fromkeys(p.resolve() if p.exists() else p for p in found))


def _traces_path(loaded: Any) -> Path:
    tel = loaded.config.telemetry
    return loaded.config_relative(tel.path) if tel.path else loaded.data_path("traces.jsonl")


def _load_jaeger(args: argparse.Namespace) -> list[Any]:
    from mcproute.config import Config, LoadedConfig, load_config
    from mcproute.telemetry import reader

    cfg = Path(args.config or DEFAULT_CONFIG)
    loaded = load_config(cfg) if cfg.exists() else LoadedConfig(Config())
    service = args.service or loaded.config.telemetry.service_name
    now = time.time_ns()
    start = now - int(args.lookback * 3600 * 1e9)
    return reader.fetch_jaeger(args.jaeger, service, start_ns=start, end_ns=now, limit=max(args.limit * 10, 100))


def _pick(args: argparse.Namespace) -> tuple[list[Any], str]:
    """The spans to show and where they came from: the first existing candidate (for a
    conversation, the first that holds it)."""
    from mcproute.telemetry import reader

    if args.jaeger:
        return _load_jaeger(args), args.jaeger
    paths = candidates(args)
    existing = [p for p in paths if p.is_file()]
    if not existing:
        looked = "\n".join(f"  {p}" for p in paths)
        raise FileNotFoundError(
            f"no traces file found; looked at:\n{looked}\n"
            "run the gateway (its default telemetry exporter writes <data_dir>/traces.jsonl), or point "
            "at one with --config (the servers.yaml it served), --data-dir, --file or --jaeger"
        )
    # The first file that has what was asked for (that conversation, or any conversation).
    for p in existing:
        spans = reader.read_jsonl(p)
        if reader.timeline(spans, args.conversation) if args.conversation else reader.conversations(spans):
            return spans, str(p)
    return reader.read_jsonl(existing[0]), ", ".join(map(str, existing))


def run(args: argparse.Namespace) -> int:
    from mcproute.errors import McprouteError
    from mcproute.telemetry import reader

    try:
        spans, where = _pick(args)
    except (OSError, McprouteError, RuntimeError) as exc:
        print(f"mcproute traces: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # httpx errors: keep the import lazy, still say what failed
        print(f"mcproute traces: cannot read {args.jaeger or args.file}: {exc}", file=sys.stderr)
        return 1

    from mcproute.cli import traces_view

    if args.conversation:
        rows = reader.timeline(spans, args.conversation)[-args.limit :]
        if not rows:
            print(f"mcproute traces: no steps for conversation {args.conversation!r} in {where}", file=sys.stderr)
            return 1
        if args.json:
            print(json.dumps([asdict(r) for r in rows], indent=2))
            return 0
        traces_view.print_story(args.conversation, rows, where)
        return 0

    convs = reader.conversations(spans)[: args.limit]
    if args.json:
        print(json.dumps([asdict(c) for c in convs], indent=2))
        return 0
    if not convs:
        print(f"no conversations in {where}")
        return 0
    traces_view.print_conversations(convs, where)
    return 0
