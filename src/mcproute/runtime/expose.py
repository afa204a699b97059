"""`gateway.expose: search` — a client sees the meta-tools plus its conversation's current top-k.

Clients cap how many tools they accept (and every listed tool costs context tokens), so in this
mode `tools/list` answers per conversation: the four `mcproute__*` meta-tools, then the tools the
conversation's latest `route`/`run_step`/`search_tools` ranked highest (or, after a restart, the
tools it used most recently). When that set moves, the meta-tool that moved it sends
`tools/list_changed` so the client lists again. Calling a tool that is not listed still works:
the listing is a view, not a permission.

The conversation of a `tools/list` request comes from the same identity order as a call, minus
the meta-tool argument: `_meta["mcproute/conversation_id"]`, the `X-Conversation-Id` header, the
traceparent, the legacy session, the stdio connection. A listing with no conversation (or a malformed id) shows only the
meta-tools: the client starts with `mcproute__search_tools` or `mcproute__run_step`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mcproute.errors import InvalidRequest
from mcproute.gateway.identity import ConversationIdentity
from mcproute.gateway.routing import UpstreamRoute
from mcproute.router.step import Decision
from mcproute.router.tools import RetrievalContext
from mcproute.runtime.access import client_policy, policy_index
from mcproute.runtime.metatools import META_TOOL_NAMES

if TYPE_CHECKING:
    from mcproute.runtime.engine import Engine


class VisibleTools:
    """Conversation id -> the tools it currently sees (LRU-bounded; `size` 0 outside `expose:
    search`, where nobody lists by conversation and nothing is kept)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._seen: OrderedDict[str, tuple[str, ...]] = OrderedDict()

    def get(self, cid: str) -> tuple[str, ...] | None:
        return self._seen.get(cid)

    def set(self, cid: str, names: tuple[str, ...]) -> None:
        if self.size <= 0:
            return
        self._seen[cid] = names
        self._seen.move_to_end(cid)
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)

    def remember(self, cid: str, decision: Decision, top_k: int) -> None:
        """What a decision ranked highest is what the conversation sees next."""
        names = tuple(c.name for c in decision.alternatives[:top_k])
        if names:
            self.set(cid, names)

    def __len__(self) -> int:
        return len(self._seen)

    def __iter__(self) -> Iterator[str]:  # conversation ids, least recently set first
        return iter(self._seen)


async def search_catalog(
    engine: Engine,
    query: str,
    *,
    identity: ConversationIdentity | None = None,
    k: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """`Engine.search_tools`: rank the catalogue for `query` in the caller's view (its client
    policy), with the conversation's context; what it returns is what that conversation sees."""
    _, store = engine._require()  # noqa: SLF001 - the engine's own started check
    k = k or engine.policy.top_k
    state = await store.load(identity.id) if identity is not None else None
    vector = engine.vectors.query_vector(query)
    ranking = policy_index(engine, client_policy(engine, headers)[1]).rank(
        query, context=RetrievalContext.from_state(state) if state is not None else None, k=k, vector=vector
    )
    specs = engine.tool_map()
    out: list[dict[str, Any]] = []
    for c in ranking.candidates:
        spec = specs.get(c.name)
        if spec is None:
            continue
        out.append(
            {
                "name": c.name,
                "server": spec.server,
                "score": round(c.score, 4),
                "description": spec.description,
                "inputSchema": dict(spec.input_schema),
            }
        )
    if identity is not None and out:
        engine.visible.set(identity.id, tuple(t["name"] for t in out))
    return out


async def conversation_tools(engine: Engine, cid: str) -> tuple[str, ...]:
    names = engine.visible.get(cid)
    if names is not None:
        return names
    if engine.store is None:
        return ()
    state = await engine.store.load(cid)
    if state is None:
        return ()
    recent = tuple(dict.fromkeys(reversed(state.tools_used)))  # most recent first, unique
    return recent[: engine.policy.top_k]


async def visible_tools(
    engine: Engine, tools: Sequence[Mapping[str, Any]], route: UpstreamRoute
) -> list[Mapping[str, Any]]:
    """The `tools/list` answer for this request's conversation (every tool unless expose: search)."""
    if engine.config.gateway.expose != "search":
        return list(tools)
    params = route.ctx.params if route.ctx is not None else None
    meta = params.get("_meta") if isinstance(params, Mapping) else None
    try:
        ident = engine.identity(
            meta=meta if isinstance(meta, Mapping) else None,
            headers=route.headers,
            session_id=route.session_id,
            connection_id=route.connection_id,
        )
    except InvalidRequest:
        ident = None
    names: tuple[str, ...] = ()
    if ident is not None and ident.source != "new":
        names = await conversation_tools(engine, ident.id)
    order = {n: i for i, n in enumerate(names)}
    meta_tools = [t for t in tools if t.get("name") in META_TOOL_NAMES]
    chosen = sorted((t for t in tools if t.get("name") in order), key=lambda t: order[str(t.get("name"))])
    return meta_tools + chosen
