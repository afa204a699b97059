"""`mcproute tools [--config servers.yaml] [--json] [--url URL]`: the aggregated catalogue, each
server's health and each model's status.

Without `--url` it starts the configured servers itself and shows models as the config implies
(missing keys, prices); with `--url` it asks a running `mcproute serve --transport http` for its
live state (`GET /status`): open circuits, 429 cool-offs and calls in flight.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="servers.yaml")
    p.add_argument("--json", action="store_true", help="print {servers, models, tools, collisions, ...} as JSON")
    p.add_argument("--url", help="base URL of a running gateway (e.g. http://127.0.0.1:8765): show its live status")
    p.add_argument("--token", help="bearer token for --url (default: gateway.http.token from the config)")


def run(args: argparse.Namespace) -> int:
    import anyio

    from mcproute.cli._common import load_or_report

    loaded = load_or_report(args.config)
    if loaded is None:
        return 1
    if args.url:
        try:
            report = _fetch_live(args.url, args.token or loaded.config.gateway.http.token)
        except Exception as exc:  # noqa: BLE001 - any failure to reach it is reported the same way
            print(f"error: cannot read status from {args.url}: {exc}", file=sys.stderr)
            return 1
    else:
        report = anyio.run(_collect, loaded)
        from dataclasses import asdict

        from mcproute.providers import startup_status

        report["models"] = [asdict(m) for m in startup_status(loaded)]
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_text(report)
    return 0 if all(s["state"] in ("healthy", "disabled") for s in report["servers"].values()) else 3


def _fetch_live(url: str, token: str | None) -> dict[str, Any]:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = httpx.get(url.rstrip("/").removesuffix("/mcp") + "/status", headers=headers, timeout=10)
    resp.raise_for_status()
    data: dict[str, Any] = resp.json()
    data.setdefault("tools", [])
    return data


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
            "encoder": _encoder_probe(loaded),
        }


def _encoder_probe(loaded: Any) -> dict[str, Any]:
    """What the gateway's encoder would do here (nothing is built or loaded by `mcproute tools`)."""
    cfg = loaded.config.routing.encoder
    if not cfg.enabled:
        return {"state": "off", "reason": "routing.encoder.enabled is false"}
    from mcproute.encoding import probe

    return probe(loaded.config_relative(cfg.cache_dir) if cfg.cache_dir else None,
                 loaded.config_relative(cfg.weights) if cfg.weights else None)


def encoder_line(enc: dict[str, Any] | None) -> str | None:
    """One line for the encoder's state, from /status or the offline probe."""
    if not enc:
        return None
    state, reason = enc.get("state", "?"), enc.get("reason") or ""
    if state in ("off", "unavailable"):
        return f"{'encoder':<16} {state}: {reason} (tool retrieval is lexical only)"
    detail = f"{enc.get('model_id')}"
    if "tools_with_vectors" in enc:
        detail += f", {enc['tools_with_vectors']}/{enc.get('tools', 0)} tools have vectors"
    return f"{'encoder':<16} {state} ({detail}){': ' + reason if reason else ''}"


def _print_text(report: dict[str, Any]) -> None:
    for name, s in report["servers"].items():
        extra = f" ({s['protocol_version']}, pid {s['pid']}, {s['tools']} tools)" if s["state"] == "healthy" else f": {s['reason']}"
        print(f"{name:<16} {s['state']}{extra}")
    if (line := encoder_line(report.get("encoder"))) is not None:
        print(line)
    print()
    if report.get("models") is not None:
        from mcproute.providers import render_status
        from mcproute.runtime.status import models_from_report

        print()
        print(render_status(models_from_report(report["models"])))
    if report["tools"]:
        print()
    for t in report["tools"]:
        desc = t["description"].strip().splitlines()[0] if t["description"].strip() else ""
        print(f"{t['name']:<40} {desc[:80]}")
    for c in report.get("collisions", []):
        print(f"collision: {c}", file=sys.stderr)
