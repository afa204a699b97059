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

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mcproute.errors import InvalidRequest
from mcproute.gateway.routing import UpstreamRoute
from mcproute.runtime.metatools import META_TOOL_NAMES

if TYPE_CHECKING:
    from mcproute.runtime.engine import Engine


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
