"""`mcproute tools [--config servers.yaml] [--json]`: the aggregated catalogue and each server's health."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="servers.yaml")
    p.add_argument("--json", action="store_true", help="print {servers: {...health}, tools: [...], collisions: [...]} as JSON")


def run(args: argparse.Namespace) -> int:
    import anyio

    from mcproute.config import load_config
    from mcproute.errors import ConfigError

    logging.basicConfig(level=logging.ERROR, stream=sys.stderr, format="mcproute: %(message)s")
    try:
        loaded = load_config(args.config)
    except ConfigError as exc:
        for issue in exc.issues:
            print(f"error: {issue}", file=sys.stderr)
        return 1
    report = anyio.run(_collect, loaded)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_text(report)
    return 0 if all(s["state"] in ("healthy", "disabled") for s in report["servers"].values()) else 3


async def _collect(loaded: Any) -> dict[str, Any]:
    from mcproute.gateway import Gateway

    async with Gateway(loaded) as gw:
        cat = gw.catalog
        return {
            "servers": {
                name: {**h.to_dict(), "tools": sum(1 for e in cat.tools.values() if e.server == name)}
                for name, h in gw.health().items()
            },
            "tools": [
                {"name": e.name, "server": e.server, "original": e.original, "description": str(e.wire.get("description") or "")}
                for e in cat.tools.values()
            ],
            "prompts": [{"name": p.name, "server": p.server} for p in cat.prompts.values()],
            "resources": [str(r.get("uri")) for r in cat.resources],
            "resource_templates": [str(t.get("uriTemplate")) for t in cat.templates],
            "collisions": list(cat.collisions),
        }


def _print_text(report: dict[str, Any]) -> None:
    for name, s in report["servers"].items():
        extra = f" ({s['protocol_version']}, pid {s['pid']}, {s['tools']} tools)" if s["state"] == "healthy" else f": {s['reason']}"
        print(f"{name:<16} {s['state']}{extra}")
    print()
    for t in report["tools"]:
        desc = t["description"].strip().splitlines()[0] if t["description"].strip() else ""
        print(f"{t['name']:<40} {desc[:80]}")
    for c in report["collisions"]:
        print(f"collision: {c}", file=sys.stderr)
