"""`mcproute policy show [VERSION] | history | rollback VERSION [--config servers.yaml] [--json]`

The learned policy versions (docs/learning.md) kept in the state store: `show` the one in force
(or VERSION), `history` newest first with adopted/rejected and why, `rollback VERSION` to make an
older version's learner state the one in force again (as a new version, so history says so).
The store is the config's: its SQLite file (or `--data-dir`/`--state`), or its Redis.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mcproute.cli.replay import add_state_arguments, state_file


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("show", "history", "rollback"), help="what to do (default: show)")
    p.add_argument(
        "version", nargs="?", default=None, help="show: a version id (default: the one in force); rollback: required"
    )
    add_state_arguments(p)


def run(args: argparse.Namespace) -> int:
    import anyio

    from mcproute.cli._common import load_or_report
    from mcproute.errors import McprouteError

    if args.action == "rollback" and not args.version:
        print("error: rollback needs the VERSION to return to (see `mcproute policy history`)", file=sys.stderr)
        return 2
    if args.action == "history" and args.version:
        print("error: history takes no VERSION", file=sys.stderr)
        return 2
    loaded = load_or_report(args.config)
    if loaded is None:
        return 1
    try:
        code, data = anyio.run(_act, loaded, args)
    except McprouteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if code:
        print(f"error: {data['error']}", file=sys.stderr)
        return code
    if args.json:
        print(json.dumps(data))
    else:
        _print(args.action, data)
    return 0


async def _act(loaded: Any, args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    from mcproute.state.policies import rollback

    store = await _open(loaded, args)
    if store is None:
        return 2, {"error": f"no state file at {state_file(loaded, args)} (pass --data-dir or --state)"}
    async with store:
        current = await store.current_policy()
        if args.action == "history":
            return 0, {
                "current": current.id if current else None,
                "versions": [v.summary() for v in await store.list_policies()],
            }
        if args.action == "show":
            v = await store.get_policy(args.version) if args.version else current
            if args.version and v is None:
                return 2, {"error": f"no policy version {args.version!r} (see `mcproute policy history`)"}
            if v is None:
                return 0, {"current": None, "version": None}
            return 0, {"current": current.id if current else None, "version": _detail(v)}
        target = await store.get_policy(args.version)
        if target is None:
            return 2, {"error": f"no policy version {args.version!r} to roll back to (see `mcproute policy history`)"}
        new = rollback(target, current, time.time())
        await store.record_policy(new)
        return 0, {"current": new.id, "version": _detail(new)}


async def _open(loaded: Any, args: argparse.Namespace) -> Any:
    cfg = loaded.config.state
    if cfg.backend == "redis" and not (args.state or args.data_dir):
        from mcproute.state.redis_store import RedisStore

        return RedisStore(cfg.url, prefix=cfg.key_prefix)
    from mcproute.state import SqliteStore

    path = state_file(loaded, args)
    return SqliteStore(path) if path.is_file() else None


def _detail(v: Any) -> dict[str, Any]:
    d = v.summary()
    d["learners"] = {
        name: {
            k: s[k]
            for k in ("params", "revealed", "evidence", "check", "arms", "no_tool", "weights", "averaged")
            if k in s
        }
        | {"memory": len(s["memory"]["labels"])}
        for name, s in v.state.items()
        if isinstance(s, dict) and isinstance(s.get("memory"), dict)
    }
    return d


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _print(action: str, d: dict[str, Any]) -> None:
    from mcproute.cli.render import console, emit, table

    if action == "history":
        if not d["versions"]:
            print(
                "no learned policy versions: the static shipped policy is in force (routing.learning, docs/learning.md)"
            )
            return
        rows = [
            (
                ("* " if v["id"] == d["current"] else "  ") + v["id"],
                v["parent"] or "-",
                _when(v["created_at"]),
                v["status"],
                ", ".join(f"{k} {n}" for k, n in v["revealed"].items()) or "-",
                v["reason"],
            )
            for v in d["versions"]
        ]
        emit(
            console(), table(["version (* in force)", "parent", "created (UTC)", "status", "revealed", "reason"], rows)
        )
        return
    v = d["version"]
    if v is None:
        print("no learned policy version is in force: the static shipped policy decides")
        return
    head = "in force" if v["id"] == d["current"] else "not in force"
    if action == "rollback":
        head = f"in force now ({v['reason']})"
    fields: list[tuple[str, str]] = [
        ("id", v["id"]),
        ("status", f"{v['status']}, {head}"),
        ("parent", v["parent"] or "-"),
        ("created (UTC)", _when(v["created_at"])),
        ("reason", v["reason"]),
        *((f"metric {k}", json.dumps(x)) for k, x in v["metrics"].items()),
        *(row for k, x in v["learners"].items() for row in _learner_rows(k, x)),
    ]
    emit(console(), table(["field", "value"], fields))


def _learner_rows(name: str, s: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A learner's state as a person reads it; `--json` keeps every value."""
    rows = [(f"{name} revealed", f"{s.get('revealed', 0)} outcomes, {s.get('memory', 0)} remembered")]
    if "evidence" in s:
        rows.append((f"{name} self-check", f"evidence {float(s['evidence']):+.3f}"))
    if isinstance(s.get("arms"), Mapping):
        arms = ", ".join(f"{arm} {w} wins {lost} losses" for arm, (w, lost) in s["arms"].items())
        rows.append((f"{name} self-check", arms))
    nt, p = s.get("no_tool"), s.get("params") or {}
    if isinstance(nt, Mapping) and "trust_floor" in p:
        from mcproute.router.online_tools import ToolLearning

        misses, holds = int(nt.get("misses", 0)), int(nt.get("holds", 0))
        trust = ToolLearning(**p).trust_after(misses, holds)
        rows.append(
            (
                f"{name} no tool fits",
                f"followed by a tool call {misses}, by none {holds}: a vote of {trust:.2f} overrides it",
            )
        )
    if isinstance(s.get("averaged"), Mapping):
        rows.append((f"{name} weights", " ".join(f"{k}={float(w):+.2f}" for k, w in s["averaged"].items())))
    rows.append((f"{name} params", json.dumps(p, sort_keys=True)))
    return rows
