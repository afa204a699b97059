"""The legacy HTTP+SSE downstream transport (MCP 2024-11-05): a GET opens an event stream whose
first `endpoint` event names the URL that client messages are POSTed to.

Many deployed servers still speak only this. `transport: sse` selects it; a `url:` server with no
`transport` is tried as streamable HTTP first and switched to SSE when the POST is refused and a
GET answers with an event stream — the fallback the MCP specification describes for clients
that want to talk to both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx2
from mcp.client.sse import sse_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from mcproute.config import ServerConfig

logger = logging.getLogger(__name__)

# Connect/write timeout for the message POSTs and the stream's opening, as for streamable HTTP.
_HTTP_TIMEOUT = 30.0
# How long a probe may take to show its headers: a live server answers at once.
_PROBE_TIMEOUT = 5.0


def sse_transport(url: str, headers: dict[str, str]) -> AbstractAsyncContextManager[Any]:
    # No read timeout on the event stream: an idle server sends nothing for as long as nobody
    # calls it, and a timed-out stream ends the session (SSE has no resumption), which would
    # turn a quiet server into a reconnecting one. A dead server closes the socket instead.
    return sse_client(url, headers=dict(headers), timeout=_HTTP_TIMEOUT, sse_read_timeout=None)  # type: ignore[arg-type]


async def offers_event_stream(url: str, headers: dict[str, str]) -> bool:
    """Does a GET of `url` open an event stream? Only the status and content type are read;
    the stream is closed at once."""
    timeout = httpx2.Timeout(_PROBE_TIMEOUT)
    async with create_mcp_http_client(headers={**headers, "Accept": "text/event-stream"}, timeout=timeout) as http:
        try:
            async with http.stream("GET", url) as response:
                content_type = response.headers.get("content-type", "").lower()
                return response.status_code == 200 and content_type.startswith("text/event-stream")
        except httpx2.HTTPError:
            return False


def handshake_refused(exc: BaseException) -> bool:
    """An MCP error (the SDK's spelling of an HTTP 4xx at the handshake: `Not Found` for a 404,
    `Server returned an error response` for a 405), maybe inside the client's exception group."""
    if isinstance(exc, BaseExceptionGroup):
        return all(handshake_refused(e) for e in exc.exceptions)
    return isinstance(exc, MCPError)


async def is_legacy_sse(name: str, cfg: ServerConfig, scrub: Callable[[str], str]) -> bool:
    """The streamable-HTTP handshake was refused: is this a legacy HTTP+SSE server? Only for a
    `url:` server that did not say its transport (`transport: http` turns this off)."""
    if cfg.transport is not None or cfg.command:
        return False
    url = cfg.replica_urls[0]
    if not await offers_event_stream(url, dict(cfg.headers)):
        return False
    logger.info(
        "server %r: %s refused streamable HTTP but opens an event stream; using the legacy HTTP+SSE transport "
        "(say `transport: sse` to skip this probe)",
        name,
        scrub(url),
    )
    return True
