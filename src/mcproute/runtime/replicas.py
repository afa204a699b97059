"""Tool-server replicas (`urls: [...]` in a server entry), chosen at the engine/gateway boundary.

The gateway supervises one connection per replica (`Gateway.replicas`; `urls[0]`, the
*primary*, is `gateway.downstreams[server]`). The engine installs a call hook, innermost, that
picks the replica for each `tools/call`:

- a conversation sticks to one replica: rendezvous hashing of the conversation id over the
  replica URLs (`router.conversation.choose_replica`), so conversations spread evenly across
  replicas and a replica added or removed moves only the conversations that preferred it;
  calls with no conversation rotate round-robin;
- an unhealthy replica is skipped, and a replica that fails mid-call (`DownstreamUnavailable` /
  `DownstreamTimeout`) fails over to the next healthy one in the conversation's order; the
  conversation then stays on the replica that served it (remembered in memory, LRU-bounded)
  rather than bouncing back the moment the failed one returns.

The gateway supervises every replica itself (`Gateway.replicas`) and lists the server's tools
from any healthy one, so the server stays listed while one replica is up; this hook reuses
those connections and only adds the choice of replica per conversation.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
from mcp_types import LOG_LEVEL_META_KEY
from opentelemetry import trace

from mcproute.errors import DownstreamTimeout, DownstreamUnavailable
from mcproute.gateway.downstream import Downstream
from mcproute.gateway.gateway import strip_reserved
from mcproute.gateway.routing import CallNext, ToolCall
from mcproute.router.conversation import choose_replica, rendezvous
from mcproute.telemetry import spans

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from mcproute.runtime.engine import Engine

MAX_REMEMBERED = 10_000
REPLICA_ATTR = "mcproute.replica"


class Replicas:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sets: dict[
            str, dict[str, Downstream | None]
        ] = {}  # server -> url -> Downstream (None = the gateway's own)
        self.current: OrderedDict[tuple[str, str], str] = OrderedDict()  # (conversation, server) -> url
        self._rr: dict[str, itertools.count[int]] = {}
        rel = engine.config.reliability
        for name, cfg in engine.config.servers.items():
            urls = cfg.replica_urls
            if not cfg.enabled or cfg.command or len(urls) < 2:
                continue
            members: dict[str, Downstream | None] = {urls[0]: None}
            shared = engine.gateway.replicas.get(name, {})
            for url in urls[1:]:
                if url in shared:  # the gateway already supervises this replica: one connection
                    members[url] = shared[url]
                    continue
                rcfg = cfg.model_copy(update={"url": url, "urls": None})
                members[url] = Downstream(
                    name, rcfg, on_change=lambda: None, backoff_base=rel.backoff_base, backoff_max=rel.backoff_max
                )
            self.sets[name] = members
            self._rr[name] = itertools.count()

    async def start(self, tg: anyio.abc.TaskGroup) -> None:
        shared = {id(ds) for members in self.engine.gateway.replicas.values() for ds in members.values()}
        extra = [
            ds for members in self.sets.values() for ds in members.values() if ds is not None and id(ds) not in shared
        ]
        for ds in extra:
            tg.start_soon(ds.run, name=f"replica {ds.name} {ds.cfg.url}")
        for ds in extra:
            await ds.first_attempt.wait()

    def _downstream(self, server: str, url: str) -> Downstream:
        ds = self.sets[server][url]
        return ds if ds is not None else self.engine.gateway.downstreams[server]

    def health(self) -> dict[str, dict[str, str]]:
        return {s: {u: self._downstream(s, u).health.state for u in m} for s, m in self.sets.items()}

    def order(self, server: str, conversation_id: str | None) -> tuple[list[str], str]:
        """Replica URLs to try, first the chosen one, and why it was chosen."""
        urls = list(self.sets[server])
        unhealthy = {u for u in urls if self._downstream(server, u).health.state != "healthy"}
        if conversation_id:
            current = self.current.get((conversation_id, server))
            pick, _, reason = choose_replica(conversation_id, urls, current, unhealthy, what="replica")
            rest = [u for u in rendezvous(conversation_id, urls) if u != pick]
        else:
            start = next(self._rr[server]) % len(urls)
            rotated = urls[start:] + urls[:start]
            healthy = [u for u in rotated if u not in unhealthy] or rotated
            pick, reason = healthy[0], "round-robin: the call names no conversation"
            rest = [u for u in rotated if u != pick]
        assert pick is not None
        return [pick, *[u for u in rest if u not in unhealthy], *[u for u in rest if u in unhealthy]], reason

    def _remember(self, conversation_id: str | None, server: str, url: str) -> None:
        if not conversation_id:
            return
        self.current[(conversation_id, server)] = url
        self.current.move_to_end((conversation_id, server))
        while len(self.current) > MAX_REMEMBERED:
            self.current.popitem(last=False)

    async def hook(self, call: ToolCall, call_next: CallNext) -> dict[str, Any]:
        if call.server not in self.sets:
            return await call_next(call)
        cid = spans.current_conversation_id() or None
        urls, reason = self.order(call.server, cid)
        span: Span = trace.get_current_span()
        failures: list[str] = []
        for url in urls:
            try:
                if self.sets[call.server][url] is None:
                    result = await call_next(call)
                else:
                    result = await self._send(self._downstream(call.server, url), call)
            except (DownstreamUnavailable, DownstreamTimeout) as exc:
                failures.append(f"{url}: {exc}")
                continue
            self._remember(cid, call.server, url)
            span.set_attribute(REPLICA_ATTR, url)
            span.set_attribute(
                "mcproute.replica.reason",
                (reason if not failures else f"failed over to {url} after " + "; ".join(failures))[:400],
            )
            return result
        raise DownstreamUnavailable(f"every replica of server {call.server!r} failed: " + "; ".join(failures))

    async def _send(self, ds: Downstream, call: ToolCall) -> dict[str, Any]:
        # The same request the gateway's own path builds (gateway._invoke), to another replica.
        params: dict[str, Any] = {"name": call.original, "arguments": dict(call.arguments)}
        meta = strip_reserved(call.meta)
        meta.pop("progressToken", None)
        if call.meta and LOG_LEVEL_META_KEY in call.meta:
            # Reserved, but the client's own per-request log opt-in: it applies on every replica
            # (the gateway's own path keeps it too).
            meta[LOG_LEVEL_META_KEY] = call.meta[LOG_LEVEL_META_KEY]
        if meta:
            params["_meta"] = meta
        result = await ds.request("tools/call", params, route=call.route)
        if not isinstance(result.get("content"), list):
            raise DownstreamUnavailable(
                f"replica {ds.cfg.url} of {call.server!r} answered tools/call with a malformed result"
            )
        if isinstance(result.get("_meta"), dict):
            kept = strip_reserved(result["_meta"])
            if kept:
                result["_meta"] = kept
            else:
                del result["_meta"]
        return result


def install_replicas(engine: Engine) -> tuple[Replicas, Callable[[], None]]:
    replicas = Replicas(engine)
    return replicas, engine.gateway.add_call_hook(replicas.hook)
