"""The MCP-facing edge: one low-level SDK `Server` whose handlers read the gateway.

Both protocol eras are served by the SDK itself: over stdio `Server.run()` drives
`serve_dual_era_loop` (the client's first request picks the era); over HTTP the streamable-HTTP
session manager sends requests carrying a 2026-07-28 `MCP-Protocol-Version` header to its
stateless modern entry and everything else to handshake-era sessions.

List changes reach both eras: handshake-era connections that have listed something get
`notifications/*/list_changed` on their standalone channel; 2026-07-28 clients get
`ToolsListChanged` events through a `subscriptions/listen` stream (`ListenHandler` over an
in-memory bus) — the modern wire has no other way to push.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping
from typing import Any, cast

import anyio
import anyio.lowlevel
import mcp_types as types
from mcp.server import CacheHint, NotificationOptions, Server
from mcp.server.caching import CACHEABLE_METHODS, CacheableMethod
from mcp.server.context import ServerRequestContext
from mcp.server.models import InitializationOptions
from mcp.server.subscriptions import InMemorySubscriptionBus, PromptsListChanged, ResourcesListChanged, ToolsListChanged
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, TypeAdapter

from mcproute.errors import InvalidRequest, ToolArgumentsInvalid, UnknownTool, UpstreamUnavailable
from mcproute.gateway._subscriptions import ResourceSubscriptions
from mcproute.gateway.catalog import Catalog
from mcproute.gateway.gateway import Gateway, text_result
from mcproute.gateway.routing import UpstreamRoute
from mcproute.state.sessions import SessionRecord, SessionStore
from mcproute.telemetry import spans

logger = logging.getLogger(__name__)

_ALL_CHANGES = NotificationOptions(prompts_changed=True, resources_changed=True, tools_changed=True)
_INPUT_REQUEST: TypeAdapter[Any] = TypeAdapter(
    types.CreateMessageRequest | types.ElicitRequest | types.ListRootsRequest
)
_RESULT_FOR: dict[str, type[BaseModel]] = {
    "sampling/createMessage": types.CreateMessageResult,
    "elicitation/create": types.ElicitResult,
    "roots/list": types.ListRootsResult,
}
MAX_INPUT_ROUNDS = 8


class _GatewayServer(Server[Any]):
    # The HTTP session manager builds the InitializeResult from the default options, which
    # advertise no listChanged; the gateway always emits them, so say so in every era.
    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or _ALL_CHANGES, experimental_capabilities, extensions
        )


class Upstream:
    """Builds the SDK server for a gateway and fans catalogue changes out to clients."""

    def __init__(self, gateway: Gateway, *, name: str = "mcproute", version: str = "0.1.0") -> None:
        self.gateway = gateway
        self.bus = InMemorySubscriptionBus()
        self._legacy: weakref.WeakSet[Any] = weakref.WeakSet()
        self._last: Catalog = gateway.catalog
        self.subscriptions = ResourceSubscriptions(gateway, self.bus)
        # The stdio upstream's lean tools/call pass-through (`_fast_path.StdioFastPath`), once serving.
        self.fast_path: Any = None
        self.http_fast_path: Any = None  # its HTTP twin (`_fast_http.HttpFastPath`), once an app is built
        # The shared store's session records (gateway/session_share.py), when serving HTTP with one.
        self.session_store: SessionStore | None = None
        # Set by `serve_stdio`: a stdio pipe carries exactly one client, so every request on it
        # belongs to this one connection (and, by default, to one conversation).
        self.connection_id: str | None = None
        # The handlers return the downstream's raw JSON (dicts), which the SDK sends as is; its
        # annotations ask for result models, whose parse and re-dump this gateway skips on purpose.
        handlers: dict[str, Any] = {
            "on_list_tools": self._list_tools,
            "on_call_tool": self._call_tool,
            "on_list_resources": self._list_resources,
            "on_list_resource_templates": self._list_templates,
            "on_read_resource": self._read_resource,
            "on_list_prompts": self._list_prompts,
            "on_get_prompt": self._get_prompt,
            "on_subscribe_resource": self.subscriptions.subscribe,
            "on_unsubscribe_resource": self.subscriptions.unsubscribe,
            "on_completion": self._complete,
        }
        self.server = _GatewayServer(
            name,
            version=version,
            instructions="mcproute: one MCP endpoint in front of many servers; tool names are <server>__<tool>.",
            get_tool_input_schema=self._input_schema,
            on_subscriptions_listen=self.subscriptions.listen,
            # 2026-07-28 list results must carry freshness hints; the catalogue can change at
            # any moment (a server dies), so nothing is fresh and nothing is shared.
            cache_hints={cast(CacheableMethod, m): CacheHint(ttl_ms=0, scope="private") for m in CACHEABLE_METHODS},
            **handlers,
        )
        # Not `on_set_logging_level=`: that constructor argument emits a deprecation warning.
        self.server.add_request_handler("logging/setLevel", types.SetLevelRequestParams, self._set_level)
        gateway.on_catalog_change(self._on_change)

    def route(self, ctx: ServerRequestContext[Any, Any]) -> UpstreamRoute:
        return UpstreamRoute(ctx, self.connection_id)

    async def restore_session(self, connection: Any, record: SessionRecord) -> None:
        """A session opened on another replica is now also served here: what its client set there
        (log level, resource subscriptions) holds here too, and list changes reach it."""
        self._legacy.add(connection)
        if record.log_level is not None:
            await self.gateway.set_log_level(UpstreamRoute(), record.log_level, connection=connection)
        if record.subscriptions:
            await self.subscriptions.restore(connection, record.subscriptions)

    # ------------------------------------------------------------ change fan-out

    def _remember(self, ctx: ServerRequestContext[Any, Any]) -> None:
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            # The SDK keeps the connection private to the session; it is the only handle on the
            # client's standalone channel (stdio pipe / GET stream) that outlives this request.
            conn = getattr(ctx.session, "_connection", None)
            if conn is not None:
                self._legacy.add(conn)

    async def _on_change(self, catalog: Catalog) -> None:
        before, self._last = self._last, catalog
        tools = True  # a forced notify (meta-tool asked) must always go out
        prompts = tuple(before.prompts) != tuple(catalog.prompts)
        resources = (before.resources, before.templates) != (catalog.resources, catalog.templates)
        for event, changed in (
            (ToolsListChanged(), tools),
            (PromptsListChanged(), prompts),
            (ResourcesListChanged(), resources),
        ):
            if changed:
                await self.bus.publish(event)
        for conn in list(self._legacy):
            try:
                await conn.send_tool_list_changed()
                if prompts:
                    await conn.send_prompt_list_changed()
                if resources:
                    await conn.send_resource_list_changed()
            except Exception as exc:  # a client that left must not stop the others hearing
                logger.debug("dropping a handshake-era client from list_changed fan-out: %s", exc)
                self._legacy.discard(conn)

    # ------------------------------------------------------------ tools

    def _input_schema(self, name: str) -> Mapping[str, Any] | None:
        entry = self.gateway.catalog.tools.get(name)
        return entry.input_schema if entry is not None else None

    async def _list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> dict[str, Any]:
        self._remember(ctx)
        tools: list[Mapping[str, Any]] = list(self.gateway.catalog.tools_wire)
        access = self.gateway.access
        if access is not None:
            # Per-client policy first: a tool this caller may not use is not in any view of the list.
            headers = self.route(ctx).headers
            spans.mark_client(access.principal(headers))
            catalog = self.gateway.catalog.tools
            tools = access.filter_tools(tools, {n: e.server for n, e in catalog.items()}, headers)
        # `gateway.expose: search`: the engine narrows the list per conversation (a view, not a
        # permission: calls to unlisted tools still go through).
        view = self.gateway.list_filter
        if view is not None:
            tools = list(await view(tools, self.route(ctx)))
        return _complete(ctx, {"tools": tools})

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> dict[str, Any]:
        raw = ctx.params or {}
        meta = raw.get("_meta")
        route = self.route(ctx)
        if self.gateway.access is not None:
            spans.mark_client(self.gateway.access.principal(route.headers))
        level = self.gateway.log_level(route)
        if level is not None and not (isinstance(meta, Mapping) and types.LOG_LEVEL_META_KEY in meta):
            # A handshake-era client's logging/setLevel, as the 2026-07-28 per-request opt-in:
            # without it a modern downstream sends this client no log messages at all.
            meta = {**(meta if isinstance(meta, Mapping) else {}), types.LOG_LEVEL_META_KEY: level}
        extra = {k: raw[k] for k in ("inputResponses", "requestState") if k in raw}
        session = ctx.session
        has_progress = isinstance(meta, Mapping) and meta.get("progressToken") is not None

        forwarding = [0]  # progress notifications being sent upstream right now

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            forwarding[0] += 1
            try:
                await session.report_progress(progress, total, message)
            finally:
                forwarding[0] -= 1

        try:
            result = await self.gateway.call_tool(
                params.name,
                params.arguments,
                meta=meta if isinstance(meta, Mapping) else None,
                route=route,
                on_progress=on_progress if has_progress else None,
                extra_params=extra or None,
            )
            rounds = 0
            while result.get("resultType") == "input_required" and not route.modern:
                rounds += 1
                if rounds > MAX_INPUT_ROUNDS:
                    return _complete(
                        ctx,
                        text_result(
                            f"mcproute: {params.name!r} kept asking for input after {MAX_INPUT_ROUNDS} rounds",
                            is_error=True,
                        ),
                    )
                responses = await self._ask_client(ctx, result)
                again = {"inputResponses": responses}
                if result.get("requestState") is not None:
                    again["requestState"] = result["requestState"]
                result = await self.gateway.call_tool(
                    params.name, params.arguments, meta=meta, route=route, extra_params=again
                )
            if has_progress:
                # The SDK client runs progress callbacks as spawned tasks, so the result can
                # overtake the last notification; on 2026-07-28 the result ends the stream and a
                # late notification is lost. Let the ones already started finish (bounded).
                await anyio.lowlevel.checkpoint()
                with anyio.move_on_after(1):
                    while forwarding[0]:
                        await anyio.sleep(0.002)
            return _complete(ctx, result)
        except UnknownTool as exc:
            raise MCPError(code=types.INVALID_PARAMS, message=str(exc)) from None
        except ToolArgumentsInvalid as exc:
            # A tool-execution error, not a protocol one, so a model can read it and fix its call.
            return _complete(ctx, text_result(str(exc), is_error=True, meta={"mcproute/error": "invalid_arguments"}))
        except InvalidRequest as exc:
            raise MCPError(code=types.INVALID_PARAMS, message=str(exc)) from None
        except UpstreamUnavailable as exc:
            kind = "timeout" if type(exc).__name__ == "DownstreamTimeout" else "unavailable"
            return _complete(
                ctx,
                text_result(
                    self.gateway.redactor.scrub(f"mcproute: {exc}"), is_error=True, meta={"mcproute/error": kind}
                ),
            )

    async def _ask_client(self, ctx: ServerRequestContext[Any, Any], result: Mapping[str, Any]) -> dict[str, Any]:
        """A 2026-07-28 downstream asked for input; this handshake-era client answers it as
        ordinary server→client requests, then the call is retried with the answers."""
        if not ctx.session.can_send_request:
            raise MCPError(
                code=types.INVALID_REQUEST,
                message="mcproute: the downstream needs client input, but this client's connection cannot carry server-initiated requests",
            )
        from mcp.shared.message import ServerMessageMetadata

        answers: dict[str, Any] = {}
        for key, req in (result.get("inputRequests") or {}).items():
            typed = _INPUT_REQUEST.validate_python(req)
            answer = await ctx.session.send_request(
                typed, _RESULT_FOR[typed.method], metadata=ServerMessageMetadata(related_request_id=ctx.request_id)
            )
            answers[key] = answer.model_dump(by_alias=True, mode="json", exclude_none=True)
        return answers

    async def _set_level(
        self, ctx: ServerRequestContext[Any, Any], params: types.SetLevelRequestParams
    ) -> dict[str, Any]:
        await self.gateway.set_log_level(self.route(ctx), params.level)
        return {}

    async def _complete(
        self, ctx: ServerRequestContext[Any, Any], params: types.CompleteRequestParams
    ) -> dict[str, Any]:
        """completion/complete, to the server owning the prompt / resource template, with the
        ref's name or URI given back its downstream form."""
        raw = dict(ctx.params or {})
        raw.pop("_meta", None)
        ref = dict(raw.get("ref") or {})
        if ref.get("type") == "ref/prompt":
            entry = self.gateway.catalog.prompts.get(str(ref.get("name")))
            if entry is None:
                raise MCPError(code=types.INVALID_PARAMS, message=f"unknown prompt {ref.get('name')!r}")
            server, ref["name"] = entry.server, entry.original
        else:
            resolved = self.gateway.catalog.resolve_uri(str(ref.get("uri")))
            if resolved is None:
                raise MCPError(code=types.INVALID_PARAMS, message=f"unknown resource template {ref.get('uri')!r}")
            server, ref["uri"] = resolved
        raw["ref"] = ref
        return await self._forward(server, "completion/complete", raw, ctx)

    # ------------------------------------------------------------ resources and prompts

    async def _list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> dict[str, Any]:
        self._remember(ctx)
        return _complete(ctx, {"resources": list(self.gateway.catalog.resources)})

    async def _list_templates(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> dict[str, Any]:
        self._remember(ctx)
        return _complete(ctx, {"resourceTemplates": list(self.gateway.catalog.templates)})

    async def _read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> dict[str, Any]:
        uri = str(params.uri)
        catalog = self.gateway.catalog
        resolved = catalog.resolve_uri(uri)
        if resolved is None:
            hint = ": resource URIs look like <server>+<uri>" if catalog.prefixed else ""
            raise MCPError(code=types.INVALID_PARAMS, message=f"unknown resource {uri!r}{hint}")
        server, original = resolved
        raw = dict(ctx.params or {})
        raw["uri"] = original
        raw.pop("_meta", None)
        result = await self._forward(server, "resources/read", raw, ctx)
        for content in result.get("contents") or []:
            if isinstance(content, dict) and isinstance(content.get("uri"), str):
                content["uri"] = catalog.upstream_uri(server, content["uri"])
        return result

    async def _list_prompts(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> dict[str, Any]:
        self._remember(ctx)
        return _complete(ctx, {"prompts": list(self.gateway.catalog.prompts_wire)})

    async def _get_prompt(
        self, ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
    ) -> dict[str, Any]:
        entry = self.gateway.catalog.prompts.get(params.name)
        if entry is None:
            raise MCPError(code=types.INVALID_PARAMS, message=f"unknown prompt {params.name!r}")
        raw = dict(ctx.params or {})
        raw["name"] = entry.original
        raw.pop("_meta", None)
        result = await self._forward(entry.server, "prompts/get", raw, ctx)
        for message in result.get("messages") or []:
            content = message.get("content") if isinstance(message, dict) else None
            self.gateway.catalog.rewrite_blocks(entry.server, content if isinstance(content, list) else [content])
        return result

    async def _forward(
        self, server: str, method: str, params: dict[str, Any], ctx: ServerRequestContext[Any, Any]
    ) -> dict[str, Any]:
        try:
            return _complete(ctx, await self.gateway.request(server, method, params, route=self.route(ctx)))
        except UpstreamUnavailable as exc:
            raise MCPError(code=types.INTERNAL_ERROR, message=self.gateway.redactor.scrub(f"mcproute: {exc}")) from None


def _complete(ctx: ServerRequestContext[Any, Any], result: dict[str, Any]) -> dict[str, Any]:
    """2026-07-28 results must say `resultType`; a handshake-era downstream's result does not."""
    if "resultType" not in result and ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        result["resultType"] = "complete"
    return result
