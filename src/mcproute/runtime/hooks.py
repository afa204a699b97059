"""The call hook the engine installs on the gateway: proxied calls count too.

When a client calls a namespaced tool itself (not through `mcproute__run_step`), the call is
recorded in its conversation — tools used, servers used, errors, the result's text — so the next
`route`/`run_step` knows it (tool affinity, the tool-loop freeze, the error signal). It is traced
like a routed step: a route span whose decision source is `client` (its only "decision" is the
backend choice), then the `tools/call` CLIENT span to the downstream, whose context is injected
into the downstream `_meta`.

A call that names no conversation at all (no argument, `_meta`, header, traceparent or session)
is forwarded and traced but not recorded: minting a new conversation per anonymous call would
only fill the store with one-call conversations nobody can continue. A stdio connection's calls
are recorded once that connection has routed a step through a meta-tool.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from mcproute.gateway.routing import CallNext, ToolCall
from mcproute.router.conversation import record_proxied_call
from mcproute.runtime import tracing
from mcproute.runtime.steps import ENGINE_CALL, _text_of
from mcproute.telemetry import decision as tdecision, semconv as sc, spans

if TYPE_CHECKING:
    from mcproute.runtime.engine import Engine


def install_hooks(engine: Engine) -> list[Callable[[], None]]:
    async def proxied(call: ToolCall, call_next: CallNext) -> dict[str, Any]:
        if ENGINE_CALL.get() is not None or not call.server:
            # The engine's own downstream call (already traced and recorded by the step), or a
            # meta-tool (its handler resolves identity and traces itself).
            if not call.server:
                _enrich_meta_call(engine, call)
            return await call_next(call)
        ident = engine.identity(
            meta=call.meta, headers=call.headers, session_id=call.session_id, connection_id=call.connection_id
        )
        # A stdio connection's calls join its conversation only once it has routed a step: a
        # client that only proxies (most desktop clients) would otherwise pay a store write on
        # every call for a conversation nobody reads.
        cid = ident.id if ident.source not in ("new", "connection") or ident.id in engine.routed_connections else None
        from mcproute.runtime.engine import new_step_id

        with ExitStack() as stack:
            if cid:
                stack.enter_context(spans.conversation_context(cid))
                spans.enrich_server_span(cid, session_id=call.session_id)
                span = stack.enter_context(spans.route_span(cid, new_step_id(), source=sc.SOURCE_CLIENT))
                tdecision.record_client_choice(span, call.name, call.server)
            tspan = stack.enter_context(spans.tool_call_span(call.name, call.server, downstream_tool=call.original))
            meta = {**call.meta, **tracing.downstream_meta()}
            try:
                result = await call_next(replace(call, meta=meta))
            except Exception as exc:
                await _record(engine, cid, call, error=True, text=f"{type(exc).__name__}: {exc}")
                raise
            is_error = bool(result.get("isError"))
            spans.record_tool_result(tspan, is_error=is_error)
        await _record(engine, cid, call, error=is_error, text=_text_of(result))
        return result

    return [engine.gateway.add_call_hook(proxied)]


def _enrich_meta_call(engine: Engine, call: ToolCall) -> None:
    # The meta-tool's server span gets the conversation even when its handler fails early.
    try:
        ident = engine.identity(
            arguments=call.arguments,
            meta=call.meta,
            headers=call.headers,
            session_id=call.session_id,
            connection_id=call.connection_id,
        )
    except Exception:
        return  # the handler reports the bad id with a clear message
    if ident.source != "new":
        spans.enrich_server_span(ident.id, session_id=call.session_id)


async def _record(engine: Engine, cid: str | None, call: ToolCall, *, error: bool, text: str) -> None:
    if cid is None or engine.store is None:
        return
    now = engine.clock()
    await engine.store.update(
        cid, lambda s: record_proxied_call(s, cid, call.name, call.server, error=error, result_text=text, now=now)
    )
