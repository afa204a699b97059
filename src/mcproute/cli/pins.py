"""`mcproute pins {list,diff,approve}`: the tool definitions the gateway trusts, and the changes
waiting for a person.

    mcproute pins list [--json]            server, tool, hash, pinned at, pinned | changed-pending
    mcproute pins diff [SERVER[/TOOL]]     pinned vs pending, as a unified diff
    mcproute pins approve SERVER[/TOOL]    the pending definition becomes the pinned one

They read and write the state store named by `--config` (`state.path`, else
`<data_dir>/state.sqlite3`) — the same SQLite file a running gateway uses, which re-reads its
pins every couple of seconds, so an approved tool is listed again without a restart.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

ACTIONS = ("list", "diff", "approve")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action", choices=ACTIONS, help="list: every pin; diff: pending changes; approve: accept a pending change"
    )
    p.add_argument(
        "target",
        nargs="?",
        default=None,
        metavar="SERVER[/TOOL]",
        help="which pins (diff: default all; approve: required)",
    )
    p.add_argument(
        "--config", default="servers.yaml", help="servers.yaml whose state store holds the pins (default: %(default)s)"
    )
    p.add_argument("--json", action="store_true", help="list: print the pins as JSON")


def run(args: argparse.Namespace) -> int:
    from mcproute.cli._common import load_or_report

    loaded = load_or_report(args.config)
    if loaded is None:
        return 1
    if args.action == "approve" and not args.target:
        print("error: `mcproute pins approve` needs SERVER or SERVER/TOOL (see `mcproute pins list`)", file=sys.stderr)
        return 2
    state = loaded.config.state
    if state.backend == "memory":
        print(
            f"error: state.backend is {state.backend!r} in {args.config}: pins live only inside the running gateway's "
            "memory, so they cannot be listed or approved from here (use the sqlite or redis backend)",
            file=sys.stderr,
        )
        return 1
    import anyio

    from mcproute.telemetry.redact import redactor_for

    if state.backend == "redis":  # every replica polls the pins' version and sees the approval
        from mcproute.errors import StateError
        from mcproute.state.redis_store import RedisStore

        assert state.url is not None  # StateConfig refuses backend redis without a url
        try:
            store = RedisStore(state.url, prefix=state.key_prefix)
        except StateError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return anyio.run(_run, args, store, redactor_for(loaded).scrub)
    from mcproute.state import SqliteStore, state_path

    path = state_path(state, loaded.data_path())
    if not path.exists():
        print(f"no pins yet: {path} does not exist (the gateway pins tools when it first lists them)", file=sys.stderr)
        return 0 if args.action != "approve" else 1
    return anyio.run(_run, args, SqliteStore(path), redactor_for(loaded).scrub)


async def _run(args: argparse.Namespace, store: Any, scrub: Any) -> int:
    from mcproute.state.pins import select

    async with store:
        records = select(list((await store.load_pins()).values()), args.target)
        if args.target and not records:
            print(
                f"error: no pinned tool matches {args.target!r} (SERVER or SERVER/TOOL; see `mcproute pins list`)",
                file=sys.stderr,
            )
            return 1
        if args.action == "list":
            return _list(records, args.json)
        if args.action == "diff":
            return _diff(records, scrub)
        approved = await store.approve_pins(args.target, time.time())
        if not approved:
            print(f"nothing to approve: no pending change matches {args.target!r}", file=sys.stderr)
            return 1
        for rec in approved:
            print(f"approved {rec.server}/{rec.tool}: now pinned at sha256 {rec.hash[:12]}")
        print(
            "a running gateway lists the approved tools again within a few seconds (it re-reads its pins)",
            file=sys.stderr,
        )
        return 0


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts is not None else "-"


def _list(records: list[Any], as_json: bool) -> int:
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "server": r.server,
                        "tool": r.tool,
                        "hash": r.hash,
                        "pinned_at": _when(r.pinned_at),
                        "status": r.status,
                        "pending_hash": r.pending_hash,
                        "pending_since": _when(r.pending_since) if r.pending_since else None,
                    }
                    for r in records
                ],
                indent=2,
            )
        )
        return 0
    from mcproute.cli.render import console, emit, plural, table

    con = console()
    rows = [[r.server, r.tool, r.hash[:12], _when(r.pinned_at), r.status] for r in records]
    emit(con, table(["server", "tool", "hash", "pinned at", "status"], rows, styles=["bold", "bold cyan"]))
    pending = sum(1 for r in records if r.pending_hash)
    emit(
        con,
        "",
        f"{plural(len(records), 'pin')}, {pending} changed and pending"
        + (" (`mcproute pins diff` shows them)" if pending else ""),
    )
    return 0


def _diff(records: list[Any], scrub: Any) -> int:
    """Descriptions are a downstream's text: shown through the one redaction, like everything else."""
    from mcproute.gateway.pinning import changed_fields, unified_diff

    pending = [r for r in records if r.pending_definition is not None]
    if not pending:
        print("no pending changes")
        return 0
    for r in pending:
        target = f"{r.server}/{r.tool}"
        fields = ", ".join(changed_fields(r.definition, r.pending_definition))
        print(
            f"# {target}: {fields} changed (pinned sha256 {r.hash[:12]} at {_when(r.pinned_at)}; "
            f"pending sha256 {r.pending_hash[:12]} since {_when(r.pending_since)})"
        )
        print(scrub(unified_diff(r.definition, r.pending_definition, label=target)))
        print(f"# approve with: mcproute pins approve {target}\n")
    return 0
