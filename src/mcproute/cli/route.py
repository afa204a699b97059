"""`mcproute route [--config F] [--conversation ID] TEXT [--json]`: the decision for one step.

A dry run against the configured catalogue and models: the servers are started (so the catalogue
is the real one), the conversation's stored state is read if `--conversation` names one, and
nothing is written. The decision is the same record the gateway traces and `mcproute__route`
returns.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import anyio


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", help="the step's text (what the agent is about to do)")
    p.add_argument(
        "--config",
        default="servers.yaml",
        help="servers.yaml whose servers and models to route over (default: %(default)s)",
    )
    p.add_argument("--conversation", default=None, help="route as a step of this stored conversation")
    p.add_argument("--tier", choices=["reasoning", "fast"], default=None, help="force a tier (a user override)")
    p.add_argument("--json", action="store_true", help="print the whole decision as one JSON object")


def run(args: argparse.Namespace) -> int:

    from mcproute.cli._common import load_or_report
    from mcproute.errors import InvalidRequest

    loaded = load_or_report(args.config)
    if loaded is None:
        return 1
    try:
        decision = anyio.run(_route, loaded, args)
    except InvalidRequest as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(decision, default=str))
    else:
        _print_text(decision)
    return 0


async def _route(loaded: Any, args: argparse.Namespace) -> dict[str, Any]:
    from mcproute.router.step import StepHints
    from mcproute.runtime import Engine

    async with Engine(loaded, meta_tools=False) as engine:
        with anyio.move_on_after(60):  # rank as a warm gateway would (the first run builds the encoder)
            await engine.wait_settled()
        identity = engine.identity(arguments={"conversation_id": args.conversation} if args.conversation else None)
        hints = StepHints(tier_override=args.tier) if args.tier else None
        decision = await engine.route(args.text, identity=identity, hints=hints, dry_run=True)
        return decision.to_dict()


def _print_text(d: dict[str, Any]) -> None:
    print(f"tool:   {d['tool'] or '(no tool fits)'}" + (f"  score {d['tool_score']:.3f}" if d["tool"] else ""))
    print(
        f"model:  {d['model'] or '(none available)'}  tier {d['tier']}  "
        f"(reasoning score {d['reasoning_score']:.3f} vs threshold {d['threshold']:.3f})"
    )
    print(f"why:    {d['reason']}")
    print(f"sticky: {'held' if d['sticky_held'] else 'broke'}: {d['sticky_reason']}")
    alts = ", ".join(f"{a['name']} {a['score']:.3f}" for a in d["alternatives"][1:6])
    if alts:
        print(f"also:   {alts}")
    print(f"policy: {d['policy_version']}  ({d['latency_ms']:.2f} ms)")
