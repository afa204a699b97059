"""`GET /status` on the HTTP server: live health of every server and every model deployment.

`mcproute tools` on its own can only show what the config implies (a model without its key is
unavailable; every circuit starts closed). Circuit breakers, 429 cool-offs and in-flight counts
live inside the running gateway, so `mcproute tools --url http://127.0.0.1:8765` asks it here.
Served behind the same Host/Origin/bearer-token guard as `/mcp`.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mcproute.gateway.worker_env import this_worker
from mcproute.providers.status import DeploymentStatus, ModelStatus


def status_report(engine: Any) -> dict[str, Any]:
    gateway = engine.gateway
    catalog = gateway.catalog
    # Through the gateway's one redaction: a reason can quote a child's stderr.
    return gateway.redactor.scrub_json(
        {
            "servers": {
                name: {**h.to_dict(), "tools": sum(1 for e in catalog.tools.values() if e.server == name)}
                for name, h in gateway.health().items()
            },
            "models": [asdict(m) for m in (engine.pool.status() if engine.pool is not None else [])],
            "encoder": engine.vectors.status(),
            "cache": engine.reply_cache.status(),
            "collisions": list(catalog.collisions),
            # Every tool served (the meta-tools have server ""), for `mcproute tools --url`.
            "tools": [tool_row(e) for e in catalog.tools.values()],
            "withheld": dict(catalog.withheld),  # tool -> why (pinning: changed since it was pinned)
            # Which process answered: with `serve --workers N` each request may land on another one.
            "process": {"pid": os.getpid(), "worker": str(worker) if (worker := this_worker()) else None},
        }
    )


def tool_row(entry: Any) -> dict[str, Any]:
    """One served tool as `mcproute tools` lists it (`server` is "" for a gateway meta-tool;
    `flags`: instruction-like text in its description, gateway/tool_flags.py)."""
    return {
        "name": entry.name,
        "server": entry.server,
        "original": entry.original,
        "description": str(entry.wire.get("description") or ""),
        "flags": list(entry.flags),
    }


def models_from_report(rows: list[dict[str, Any]]) -> list[ModelStatus]:
    return [ModelStatus(**{**m, "deployments": tuple(DeploymentStatus(**d) for d in m["deployments"])}) for m in rows]


def install(gateway: Any, loaded: Any, engine: Any = None) -> list[Route]:
    if engine is None:
        return []

    async def status(_: Request) -> JSONResponse:
        return JSONResponse(status_report(engine))

    return [Route("/status", status, methods=["GET"])]
