"""A downstream's resource subscriptions, in whichever way its era offers them.

- handshake era: `resources/subscribe` / `resources/unsubscribe` on the connection, and the
  server's `notifications/resources/updated`; re-sent after a reconnect.
- 2026-07-28: there is no `resources/subscribe` on that wire; a server that serves
  `subscriptions/listen` (capability `resources.subscribe`) delivers `ResourceUpdated` events to
  a listen stream whose filter names the URIs. One stream per connection carries every watched
  URI; it is reopened when the set changes.

The gateway subscribes once per (server, URI) however many upstream clients watch it; the
upstream layer counts them (`_subscriptions.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ResourceUpdated
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcproute.errors import DownstreamUnavailable, UpstreamUnavailable

if TYPE_CHECKING:
    from mcp import Client

    from mcproute.gateway.downstream import Downstream

logger = logging.getLogger(__name__)

UpdatedListener = Callable[[str, str], Awaitable[None]]  # (server, downstream URI)


class ResourceWatch:
    def __init__(self, ds: Downstream) -> None:
        self.ds = ds
        self.uris: set[str] = set()
        self.listener: UpdatedListener | None = None
        self._changed = anyio.Event()

    def _client(self) -> Client:
        client = self.ds._client  # noqa: SLF001  (same package: the live connection)
        if client is None:
            h = self.ds.health
            raise DownstreamUnavailable(f"server {self.ds.name!r} is {h.state}" + (f": {h.reason}" if h.reason else ""))
        return client

    async def add(self, uri: str) -> None:
        """Subscribe to `uri` downstream. Raises MCPError naming the server and its era when
        it offers no resource subscriptions, DownstreamUnavailable when it is down."""
        client = self._client()
        caps = client.server_capabilities.resources
        modern = client.protocol_version in MODERN_PROTOCOL_VERSIONS
        if caps is None or not caps.subscribe:
            how = "it serves no subscriptions/listen" if modern else "it does not declare resources.subscribe"
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"mcproute: server {self.ds.name!r} ({client.protocol_version}) does not support resource subscriptions: {how}",
            )
        if uri in self.uris:
            return
        if not modern:
            await self.ds.request("resources/subscribe", {"uri": uri})
        self.uris.add(uri)
        self._changed.set()

    async def remove(self, uri: str) -> None:
        if uri not in self.uris:
            return
        self.uris.discard(uri)
        self._changed.set()
        client = self.ds._client  # noqa: SLF001
        if client is not None and client.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            try:
                await self.ds.request("resources/unsubscribe", {"uri": uri})
            except (MCPError, UpstreamUnavailable) as exc:  # it forgets them when it goes anyway
                logger.debug("server %r: resources/unsubscribe %s failed: %s", self.ds.name, uri, exc)

    async def updated(self, uri: str) -> None:
        if self.listener is not None and uri in self.uris:
            await self.listener(self.ds.name, uri)

    async def run(self, client: Client) -> None:
        """For one connection's life (in its task group): keep the downstream subscribed."""
        if client.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            for uri in sorted(self.uris):  # a reconnect: the new connection knows nothing yet
                try:
                    await self.ds.request("resources/subscribe", {"uri": uri})
                except (MCPError, UpstreamUnavailable) as exc:
                    logger.warning("server %r: re-subscribing to %s failed: %s", self.ds.name, uri, exc)
            return
        while True:
            changed = self._changed = anyio.Event()
            uris = sorted(self.uris)
            if not uris:
                await changed.wait()
                continue
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._listen, client, uris)
                await changed.wait()
                tg.cancel_scope.cancel()

    async def _listen(self, client: Client, uris: list[str]) -> None:
        try:
            async with client.listen(resource_subscriptions=uris) as sub:
                async for event in sub:
                    if isinstance(event, ResourceUpdated):
                        await self.updated(event.uri)
        except Exception as exc:  # best-effort, like the list_changed stream; calls still work
            logger.info("server %r: resource subscriptions/listen ended: %s", self.ds.name, exc)


def is_updated(message: Any) -> str | None:
    """The URI of a handshake-era `notifications/resources/updated`, else None."""
    if isinstance(message, types.ResourceUpdatedNotification):
        return str(message.params.uri)
    return None
