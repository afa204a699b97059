"""An OpenAI-compatible endpoint (`/v1/chat/completions`, `/v1/models`) whose model "auto" routes
per request, sticky per conversation. See docs/openai-endpoint.md."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcproute.openai_api.app import openai_routes

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from mcproute.runtime import Engine

__all__ = ["install", "openai_routes"]


def install(gateway: Any, loaded: Any, *, engine: Engine | None = None) -> list[BaseRoute]:
    """The `mcproute serve` extension hook (cli/serve.py `EXTENSIONS`): mount the endpoint on `/v1`."""
    if engine is None:
        return []  # the endpoint needs the routing engine; without it there is nothing to serve
    return openai_routes(engine)
