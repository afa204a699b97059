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
    p.add_argument(
        "--config",
        default=None,
        help="servers.yaml to start and list (default: servers.yaml; with --url it is optional and only "
        "supplies the token and the secrets to mask)",
    )
    p.add_argument("--json", action="store_true", help="print {servers, models, tools, collisions, ...} as JSON")
    p.add_argument("--url", help="base URL of a running gateway (e.g. http://127.0.0.1:8765): show its live status")
    p.add_argument("--token", help="bearer token for --url (default: gateway.http.token from the config)")


DEFAULT_CONFIG = "servers.yaml"


def run(args: argparse.Namespace) -> int:
    import anyio

    from mcproute.cli._common import load_or_report

    if args.url:
        loaded = _optional_config(args.config)
        if loaded is False:
            return 1
        token = args.token or (loaded.config.gateway.http.token if loaded else None)
        try:
            report = _fetch_live(args.url, token)
        except Exception as exc:  # noqa: BLE001 - any failure to reach it is reported the same way
            print(f"error: cannot read status from {args.url}: {exc}", file=sys.stderr)
            return 1
    else:
        loaded = load_or_report(args.config or DEFAULT_CONFIG)
        if loaded is None:
            return 1
        report = anyio.run(_collect, loaded)
        from dataclasses import asdict

        from mcproute.providers import startup_status

        report["models"] = [asdict(m) for m in startup_status(loaded)]
    if loaded:
        from mcproute.telemetry.redact import redactor_for

        # What reaches the screen goes through the one redaction (a live gateway's report was already
        # scrubbed by it; this also covers its secrets the local config knows of).
        report = redactor_for(loaded).scrub_json(report)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        from mcproute.cli.tools_view import print_report

        print_report(report)
    return 0 if all(s["state"] in ("healthy", "disabled") for s in report["servers"].values()) else 3


def _optional_config(path: str | None) -> Any:
    """With --url the config is optional: the one named by --config (its errors stop us, False),
    else servers.yaml here if it exists and loads, else None."""
    from pathlib import Path

    from mcproute.cli._common import load_or_report
    from mcproute.config import load_config
    from mcproute.errors import ConfigError

    if path is not None:
        return load_or_report(path) or False
    if not Path(DEFAULT_CONFIG).is_file():
        return None
    try:
        return load_config(DEFAULT_CONFIG)
    except ConfigError:
        return None  # not the gateway we are asking about, so its errors are not ours to report


def _fetch_live(url: str, token: str | None) -> dict[str, Any]:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = httpx.get(url.rstrip("/").removesuffix("/mcp") + "/status", headers=headers, timeout=10)
    resp.raise_for_status()
    data: dict[str, Any] = resp.json()
    data.setdefault("tools", [])
    return data


async def _collect(loaded: Any) -> dict[str, Any]:
    from contextlib import AsyncExitStack

    from mcproute.gateway import Gateway
    from mcproute.runtime.metatools import listed_meta_tools
    from mcproute.runtime.status import tool_row

    gateway = Gateway(loaded)
    async with AsyncExitStack() as stack:
        store = await _pin_store(loaded)
        if store is not None:
            # The gateway's own pins: a tool changed since it was pinned shows as withheld here
            # too, and a first listing pins (as `serve` would).
            stack.push_async_callback(store.close)
            gateway.attach_pins(store)
        gw = await stack.enter_async_context(gateway)
        # The meta-tools the engine adds when it serves, so the list is what a client sees.
        for tool in listed_meta_tools():
            gw.add_meta_tool(tool)
        cat = gw.catalog
        return {
            "servers": {
                name: {**h.to_dict(), "tools": sum(1 for e in cat.tools.values() if e.server == name)}
                for name, h in gw.health().items()
            },
            "tools": [tool_row(e) for e in cat.tools.values()],
            "prompts": [{"name": p.name, "server": p.server} for p in cat.prompts.values()],
            "resources": [str(r.get("uri")) for r in cat.resources],
            "resource_templates": [str(t.get("uriTemplate")) for t in cat.templates],
            "collisions": list(cat.collisions),
            "withheld": dict(cat.withheld),
            "encoder": _encoder_probe(loaded),
        }


async def _pin_store(loaded: Any) -> Any:
    """The state store that holds the pins (SQLite or Redis; None with the memory backend, or if it cannot open)."""
    from mcproute.errors import StateError
    from mcproute.state import SqliteStore, state_path

    state = loaded.config.state
    if state.backend == "memory":
        return None
    if state.backend == "redis":
        from mcproute.state.redis_store import RedisStore

        assert state.url is not None  # StateConfig refuses backend redis without a url
        try:
            return RedisStore(state.url, prefix=state.key_prefix)
        except StateError as exc:
            print(f"warning: tool-definition pins not checked: {exc}", file=sys.stderr)
            return None
    import anyio.to_thread

    try:
        return await anyio.to_thread.run_sync(lambda: SqliteStore(state_path(state, loaded.data_path())))
    except (StateError, OSError) as exc:
        print(f"warning: tool-definition pins not checked: {exc}", file=sys.stderr)
        return None


def _encoder_probe(loaded: Any) -> dict[str, Any]:
    """What the gateway's encoder would do here (nothing is built or loaded by `mcproute tools`)."""
    cfg = loaded.config.routing.encoder
    if not cfg.enabled:
        return {"state": "off", "reason": "routing.encoder.enabled is false"}
    from mcproute.encoding import probe

    return probe(
        loaded.config_relative(cfg.cache_dir) if cfg.cache_dir else None,
        loaded.config_relative(cfg.weights) if cfg.weights else None,
    )
