"""`mcproute replay --config CANDIDATE.yaml [--data-dir DIR | --state PATH] [--since ISO] [--conversation ID] [--cascade] [--json]`

Re-decides the steps the gateway kept (`replay:` in servers.yaml) with the candidate config's
policy through the same pure `decide()`, each from its recorded pre-step state, and prints what
would change: tools, tiers (by direction), tier shares, cost from the candidate's price table and
the recorded token counts, and mean feedback reward where it is known (docs/replay.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        default="servers.yaml",
        help="the candidate servers.yaml whose policy re-decides the steps (default: %(default)s)",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--data-dir", default=None, help="the gateway's data directory holding state.sqlite3 (default: the candidate's)"
    )
    where.add_argument("--state", default=None, help="the state file itself (default: the candidate's state.path)")
    p.add_argument("--since", default=None, help="only steps kept at or after this ISO 8601 time (UTC if no offset)")
    p.add_argument("--conversation", default=None, help="only this conversation's steps")
    p.add_argument(
        "--cascade",
        action="store_true",
        help="carry a changed tier or model into the conversation's next step "
        "(default: every step from its recorded state)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _since(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--since {text!r} is not an ISO 8601 time (e.g. 2026-12-01 or 2026-12-01T09:30:00Z)"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def add_state_arguments(p: argparse.ArgumentParser) -> None:
    """--config, --data-dir | --state and --json: how `mcproute policy` and `mcproute shadow` find
    a gateway's state file (read back by `state_file`)."""
    p.add_argument("--config", default="servers.yaml", help="the gateway's servers.yaml (default: %(default)s)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--data-dir", default=None, help="the data directory holding state.sqlite3")
    where.add_argument("--state", default=None, help="the state file itself (default: the config's state.path)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def state_file(loaded: Any, args: argparse.Namespace) -> Path:
    from mcproute.state import state_path

    if args.state:
        return Path(args.state).expanduser()
    data_dir = Path(args.data_dir).expanduser() if args.data_dir else loaded.data_path()
    return state_path(loaded.config.state, data_dir)


def run(args: argparse.Namespace) -> int:
    from mcproute.cli._common import load_or_report
    from mcproute.errors import StateError
    from mcproute.runtime.replay import Replayer, load_encoder
    from mcproute.state.replay import ReplayLog, ReplayStore

    loaded = load_or_report(args.config)
    if loaded is None:
        return 1
    try:
        since = _since(args.since)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    kept: ReplayLog
    state = loaded.config.state
    if state.backend == "redis" and not args.state:
        from mcproute.state.redis_replay import RedisReplayStore

        assert state.url is not None  # StateConfig refuses backend redis without a url
        where = f"Redis ({state.key_prefix}*)"
        try:
            kept = RedisReplayStore(state.url, prefix=state.key_prefix)
        except StateError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        path = state_file(loaded, args)
        where = str(path)
        if not path.is_file():
            print(f"error: no state file at {path} (pass --data-dir or --state)", file=sys.stderr)
            return 2
        try:
            kept = ReplayStore(path)
        except StateError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    try:
        encoder, why = load_encoder(loaded)
        replayer = Replayer(loaded, kept, encoder=encoder)
        report = replayer.run(kept.read_steps(since=since, conversation=args.conversation), cascade=args.cascade)
        if why:
            report.notes.append(f"encoder unavailable: {why}")
    finally:
        kept.close_sync()
    data = report.to_dict()
    data["state_file"] = where
    if args.json:
        print(json.dumps(data))
    else:
        _print(data)
    return 0


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _print(d: dict[str, Any]) -> None:
    from mcproute.cli.render import console, emit, table

    con = console()
    print(f"replay of {d['steps']} kept step(s) from {d['state_file']}")
    rows = [
        ("steps re-decided", str(d["redecided"]), ""),
        ("steps skipped", str(d["skipped"]), ", ".join(f"{n} {why}" for why, n in d["skipped_by_reason"].items())),
        ("identical decisions (tool, tier, model)", str(d["identical"]), _pct(d["identical_share"])),
        ("tool changed", str(d["tool_changed"]), ""),
        (
            "tier changed",
            str(d["tier_changed"]),
            ", ".join(f"{k}: {v}" for k, v in d["tier_changed_by_direction"].items()),
        ),
        ("model changed", str(d["model_changed"]), ""),
        (
            "reasoning share before / after",
            f"{_pct(d['tier_share_before']['reasoning'])} / {_pct(d['tier_share_after']['reasoning'])}",
            "",
        ),
        (
            "cost before / after (USD)",
            f"{d['cost_usd_before']:.6f} / {d['cost_usd_after']:.6f}",
            f"{d['costed_steps']} step(s) with token counts",
        ),
        (
            "mean reward before / after",
            f"{_fmt(d['mean_reward_before'])} / {_fmt(d['mean_reward_after'])}",
            f"{d['rated_steps']} rated; a changed step counts its new tier's recorded mean",
        ),
    ]
    emit(con, table(["", "value", "detail"], rows))
    for c in d["changes"]:
        b, a = c["before"], c["after"]
        print(
            f"  {c['step_id']} ({c['conversation_id']}): {b['tool']} {b['tier']} {b['model']} -> {a['tool']} {a['tier']} {a['model']}"
        )
    for note in d["notes"]:
        print(f"note: {note}")


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:+.3f}"
