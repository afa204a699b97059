"""Upstream clients' resource subscriptions, counted per (server, URI) and fanned back out.

A handshake-era client subscribes with `resources/subscribe` and hears
`notifications/resources/updated` on its connection; a 2026-07-28 client names URIs in the
filter of a `subscriptions/listen` stream, for that stream's life. Either way the gateway
subscribes downstream once per (server, URI) — `ResourceWatch` picks the downstream era's
mechanism — and unsubscribes when the last upstream subscriber goes. Updates come back with
the URI the client used (prefixed unless prefixing is off).
"""

from __future__ import annotations

import logging
import weakref
from collections import Counter
from collections.abc import Sequence
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.subscriptions import ListenHandler, ResourceUpdated, SubscriptionBus
from mcp.shared.exceptions import MCPError

from mcproute.errors import UpstreamUnavailable
from mcproute.gateway.gateway import Gateway
from mcproute.gateway.routing import UpstreamRoute

logger = logging.getLogger(__name__)

Key = tuple[str, str]  # (server, downstream URI)


class ResourceSubscriptions:
    def __init__(self, gateway: Gateway, bus: SubscriptionBus) -> None:
        self.gateway = gateway
        self.bus = bus
        self._listen = ListenHandler(bus)
        self._conns: dict[Key, weakref.WeakSet[Any]] = {}  # handshake-era subscribers
        self._streams: Counter[Key] = Counter()  # open 2026-07-28 listen streams naming the URI
        gateway.on_resource_updated(self._updated)

    def _resolve(self, uri: str) -> Key:
        resolved = self.gateway.catalog.resolve_uri(uri)
        if resolved is None:
            raise MCPError(code=types.INVALID_PARAMS, message=f"unknown resource {uri!r}" + _hint(self.gateway))
        return resolved

    def _count(self, key: Key) -> int:
        return len(self._conns.get(key, ())) + self._streams[key]

    async def _watch(self, key: Key) -> None:
        try:
            await self.gateway.downstreams[key[0]].watch.add(key[1])
        except UpstreamUnavailable as exc:
            raise MCPError(code=types.INTERNAL_ERROR, message=f"mcproute: {exc}") from None

    async def _unwatch(self, key: Key) -> None:
        if self._count(key) == 0:
            self._conns.pop(key, None)
            await self.gateway.downstreams[key[0]].watch.remove(key[1])

    async def subscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.SubscribeRequestParams
    ) -> dict[str, Any]:
        key = self._resolve(str(params.uri))
        await self._watch(key)
        conn = UpstreamRoute(ctx).connection
        if conn is not None:
            self._conns.setdefault(key, weakref.WeakSet()).add(conn)
        return {}

    async def unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.UnsubscribeRequestParams
    ) -> dict[str, Any]:
        key = self._resolve(str(params.uri))
        conn = UpstreamRoute(ctx).connection
        if conn is not None and key in self._conns:
            self._conns[key].discard(conn)
        await self._unwatch(key)
        return {}

    async def restore(self, conn: Any, uris: Sequence[str]) -> None:
        """Subscribe `conn` to `uris` again (a session revived on this replica from its record);
        a URI no server owns any more, or whose server cannot subscribe now, is skipped."""
        for uri in uris:
            resolved = self.gateway.catalog.resolve_uri(uri)
            if resolved is None:
                continue
            try:
                await self._watch(resolved)
            except MCPError as exc:
                logger.info("restoring a subscription to %s: %s", uri, exc.error.message)
                continue
            self._conns.setdefault(resolved, weakref.WeakSet()).add(conn)

    async def listen(self, ctx: ServerRequestContext[Any, Any], params: types.SubscriptionsListenRequestParams) -> Any:
        """`subscriptions/listen`: the SDK's handler, with the filter's resource URIs watched
        downstream for the stream's life. A URI no server owns (or whose server cannot
        subscribe) is still acknowledged, as the SDK does for any URI, and simply never fires."""
        keys: list[Key] = []
        for uri in params.notifications.resource_subscriptions or ():
            resolved = self.gateway.catalog.resolve_uri(uri)
            if resolved is None:
                continue
            try:
                await self._watch(resolved)
            except MCPError as exc:
                logger.info("listen filter names %s: %s", uri, exc.error.message)
                continue
            self._streams[resolved] += 1
            keys.append(resolved)
        try:
            return await self._listen(ctx, params)
        finally:
            # Shielded: a stream usually ends by the client going away, which cancels us.
            with anyio.move_on_after(5, shield=True):
                for key in keys:
                    self._streams[key] -= 1
                    try:
                        await self._unwatch(key)
                    except Exception as exc:  # the stream is over either way
                        logger.debug("unwatching %s after a listen stream ended: %s", key, exc)

    async def _updated(self, server: str, uri: str) -> None:
        upstream = self.gateway.catalog.upstream_uri(server, uri)
        await self.bus.publish(ResourceUpdated(uri=upstream))
        for conn in list(self._conns.get((server, uri), ())):
            try:
                await conn.send_resource_updated(upstream)
            except Exception as exc:  # a client that left must not stop the others hearing
                logger.debug("dropping a resource subscriber: %s", exc)
                self._conns[(server, uri)].discard(conn)


def _hint(gateway: Gateway) -> str:
    return ": resource URIs look like <server>+<uri>" if gateway.config.gateway.prefix_tools else ""
