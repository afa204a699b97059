"""`Gateway`: owns the task group, the downstream connections and the catalogue.

    async with Gateway(config) as gw:
        gw.add_meta_tool(MetaTool("mcproute__route", "...", schema, handler))
        gw.add_call_hook(my_hook)
        result = await gw.call_tool("time__get_current_time", {"timezone": "UTC"})

Every downstream starts concurrently in the gateway's task group; entering waits until each has
either connected or failed once (each bounded by its own `startup_timeout`), so the catalogue is
as complete as it can be when serving starts, and one broken server never blocks the rest.
The catalogue is rebuilt synchronously when a server's listing or health changes (cheap, and
never per call); change listeners are notified from a background task.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import anyio
import anyio.abc
from mcp.shared.exceptions import MCPError
from mcp_types import LOG_LEVEL_META_KEY
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcproute.config import Config, LoadedConfig
from mcproute.errors import (
    DownstreamUnavailable,
    ToolArgumentsInvalid,
    ToolWithheld,
    UnknownTool,
    UpstreamUnavailable,
)
from mcproute.gateway.catalog import Catalog, build_catalog
from mcproute.gateway.downstream import Downstream, Health
from mcproute.gateway.limits import JsonLimits
from mcproute.gateway.pin_guard import PinGuard
from mcproute.gateway.routing import (
    CallHook,
    CallNext,
    MetaTool,
    ToolCall,
    UpstreamRoute,
)
from mcproute.gateway.validation import ArgumentValidator
from mcproute.router.step import ToolSpec
from mcproute.state.pins import PinStore
from mcproute.telemetry import metrics
from mcproute.telemetry.redact import redactor_for

logger = logging.getLogger(__name__)

RESERVED_META_PREFIX = "io.modelcontextprotocol/"
ChangeListener = Callable[[Catalog], Awaitable[None] | None]
ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]
# A per-request `tools/list` view: `(tools, route) -> tools` (set by the engine for `expose: search`).
ResourceListener = Callable[[str, str], Awaitable[None]]  # (server, downstream URI)
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
ListFilter = Callable[[Sequence[Mapping[str, Any]], UpstreamRoute], Awaitable[Sequence[Mapping[str, Any]]]]


def strip_reserved(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """`_meta` minus the spec-reserved `io.modelcontextprotocol/*` keys (they name a peer)."""
    if not meta:
        return {}
    return {k: v for k, v in meta.items() if not k.startswith(RESERVED_META_PREFIX)}


def missing_env_reasons(loaded: LoadedConfig) -> dict[str, str]:
    """server -> why it cannot start: the variables its entry names that are not set (or empty),
    each with where it is used. Such a server is never started (its `${VAR}` text is still in
    its config) and the rest of the gateway serves as usual."""
    out: dict[str, str] = {}
    for name in loaded.config.servers:
        issues = loaded.missing_env_under(f"servers.{name}")
        if issues:
            out[name] = "; ".join(f"{i.message} ({i.path})" for i in issues)
    return out


def text_result(text: str, *, is_error: bool = False, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": is_error}
    if meta:
        out["_meta"] = dict(meta)
    return out


class Gateway:
    def __init__(self, config: Config | LoadedConfig) -> None:
        self.config = config.config if isinstance(config, LoadedConfig) else config
        rel = self.config.reliability
        self.limits = JsonLimits.from_config(self.config.gateway)
        # The one redaction (telemetry/redact.py) for text this gateway shows: health reasons,
        # error text to clients, /status, `mcproute tools`.
        self.redactor = redactor_for(config)
        scrub = self.redactor.scrub
        unavailable = missing_env_reasons(config) if isinstance(config, LoadedConfig) else {}
        self.downstreams: dict[str, Downstream] = {
            name: Downstream(
                name,
                cfg,
                on_change=self._rebuild,
                backoff_base=rel.backoff_base,
                backoff_max=rel.backoff_max,
                limits=self.limits,
                scrub=scrub,
                unavailable=unavailable.get(name),
            )
            for name, cfg in self.config.servers.items()
        }
        # Servers with several `urls`: every replica supervised, urls[0]'s Downstream being the
        # one in `downstreams`. The server's listing and calls come from any healthy replica.
        self.replicas: dict[str, dict[str, Downstream]] = {}
        for name, cfg in self.config.servers.items():
            urls = cfg.replica_urls
            if cfg.enabled and name not in unavailable and not cfg.command and len(urls) > 1:
                members = {urls[0]: self.downstreams[name]}
                for url in urls[1:]:
                    rcfg = cfg.model_copy(update={"url": url, "urls": None})
                    members[url] = Downstream(
                        name,
                        rcfg,
                        on_change=self._rebuild,
                        backoff_base=rel.backoff_base,
                        backoff_max=rel.backoff_max,
                        limits=self.limits,
                        scrub=scrub,
                    )
                self.replicas[name] = members
        self._meta_tools: dict[str, MetaTool] = {}
        self._hooks: list[CallHook] = []
        self._listeners: list[ChangeListener] = []
        self._validator = ArgumentValidator()
        self._catalog = Catalog()
        self._fingerprint: Any = None
        self._changed = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None
        self.list_filter: ListFilter | None = None
        # Per-client access control (`mcproute.access.Access`; the engine sets it): which tools a
        # caller may see and call. None: everyone sees everything.
        self.access: Any = None
        self._resource_listeners: list[ResourceListener] = []
        self.pins: PinGuard | None = None  # tool-definition pinning, once a store is attached
        # handshake-era upstream connection -> the level its client asked for (logging/setLevel)
        self._log_levels: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        for ds in self._all_downstreams():
            ds.watch.listener = self._resource_updated
            ds.log_filter = self.wants_log
        self._rebuild()

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Gateway:
        if self.pins is not None:
            await self.pins.load()  # before any downstream starts: a changed tool is never served first
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        every = self._all_downstreams()
        for ds in every:
            self._tg.start_soon(ds.run, name=f"downstream {ds.name} {ds.cfg.url or ''}".rstrip())
        self._tg.start_soon(self._notify_loop, name="catalogue notifier")
        if self.pins is not None:
            self._tg.start_soon(self.pins.run, self._rebuild, name="tool-definition pins")
        for ds in every:
            await ds.first_attempt.wait()
        self._rebuild()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._tg is not None
        if self.pins is not None:
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await self.pins.flush()  # first-use pins of a short run (`mcproute tools`) are kept
        self._tg.cancel_scope.cancel()
        await self._tg.__aexit__(None, None, None)
        self._tg = None

    def attach_pins(self, store: PinStore, *, poll: float | None = None) -> PinGuard:
        """Pin every downstream tool's definition in `store` (before entering the gateway)."""
        if self._tg is not None:
            raise RuntimeError("attach_pins() must be called before the gateway is entered")
        self.pins = (
            PinGuard(store, self.config.servers) if poll is None else PinGuard(store, self.config.servers, poll=poll)
        )
        return self.pins

    # ------------------------------------------------------------ catalogue

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    def tool_specs(self) -> list[ToolSpec]:
        return self._catalog.tool_specs()

    def _all_downstreams(self) -> list[Downstream]:
        extra = [
            ds for members in self.replicas.values() for ds in members.values() if ds not in self.downstreams.values()
        ]
        return [*self.downstreams.values(), *extra]

    def serving(self, server: str) -> Downstream:
        """The connection that answers for `server`: its primary (urls[0]) while that is
        healthy, else the first healthy replica in config order, else the primary (whose
        error then says why)."""
        primary = self.downstreams[server]
        members = self.replicas.get(server)
        if not members or primary.health.state == "healthy":
            return primary
        return next((ds for ds in members.values() if ds.health.state == "healthy"), primary)

    def health(self) -> dict[str, Health]:
        """Per server; a replicated server is healthy while any replica is (the reason then
        says which replica serves and why the primary does not)."""
        out: dict[str, Health] = {}
        for name, ds in self.downstreams.items():
            serving = self.serving(name)
            if serving is ds:
                out[name] = ds.health
            else:
                note = f"serving from {serving.cfg.url}; {ds.cfg.replica_urls[0]} is {ds.health.state}" + (
                    f": {ds.health.reason}" if ds.health.reason else ""
                )
                out[name] = dataclasses.replace(serving.health, reason=note)
        return out

    def replica_health(self) -> dict[str, dict[str, Health]]:
        """server -> replica URL -> Health, for servers listing several `urls`."""
        return {name: {url: ds.health for url, ds in members.items()} for name, members in self.replicas.items()}

    def _rebuild(self) -> None:
        gw = self.config.gateway
        listings = {n: listing for n in self.downstreams if (listing := self.serving(n).listing) is not None}
        withheld: dict[tuple[str, str], str] = {}
        if self.pins is not None and self.pins.loaded:
            listings, withheld = self.pins.apply(listings)
        self._catalog = build_catalog(
            listings,
            self.config.servers,
            separator=gw.separator,
            prefix_tools=gw.prefix_tools,
            meta_tools=[t.wire() for t in self._meta_tools.values()],
            withheld=withheld,
        )
        self._validator.forget(set(self._catalog.tools))
        fp = self._catalog.fingerprint()
        if fp != self._fingerprint:
            self._fingerprint = fp
            self._changed.set()

    def on_catalog_change(self, listener: ChangeListener) -> Callable[[], None]:
        """Call `listener(catalog)` (sync or async) after every visible change; returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def _notify_loop(self) -> None:
        while True:
            await self._changed.wait()
            self._changed = anyio.Event()
            await self._notify_listeners()

    async def _notify_listeners(self) -> None:
        catalog = self._catalog
        for listener in list(self._listeners):
            try:
                out = listener(catalog)
                if inspect.isawaitable(out):
                    await out
            except Exception:
                logger.exception("catalogue change listener failed")

    async def notify_tools_changed(self) -> None:
        """Tell every connected upstream client that the tool list changed (e.g. a meta-tool
        changed what it exposes). Returns once listeners have been called."""
        await self._notify_listeners()

    # ------------------------------------------------------------ extension points

    def add_meta_tool(self, tool: MetaTool) -> None:
        """Serve `tool` upstream, beside the proxied ones (its name is used verbatim)."""
        self._meta_tools[tool.name] = tool
        self._rebuild()

    def remove_meta_tool(self, name: str) -> None:
        if self._meta_tools.pop(name, None) is not None:
            self._rebuild()

    def add_call_hook(self, hook: CallHook) -> Callable[[], None]:
        """Wrap every tools/call: `async def hook(call, call_next): ...; return await call_next(call)`.
        Hooks run outermost-first in the order added; returns a remover."""
        self._hooks.append(hook)
        return lambda: self._hooks.remove(hook) if hook in self._hooks else None

    def on_resource_updated(self, listener: ResourceListener) -> Callable[[], None]:
        """`await listener(server, uri)` when a subscribed downstream resource changes."""
        self._resource_listeners.append(listener)
        return lambda: self._resource_listeners.remove(listener) if listener in self._resource_listeners else None

    async def _resource_updated(self, server: str, uri: str) -> None:
        for listener in list(self._resource_listeners):
            try:
                await listener(server, uri)
            except Exception:
                logger.exception("resource update listener failed")

    # ------------------------------------------------------------ logging levels

    def log_level(self, route: UpstreamRoute | None) -> str | None:
        """The level a handshake-era client set with logging/setLevel (None: never set)."""
        conn = route.connection if route is not None else None
        return self._log_levels.get(conn) if conn is not None else None

    async def set_log_level(self, route: UpstreamRoute, level: str, *, connection: Any = None) -> None:
        """Remember a handshake-era client's level (its calls to 2026-07-28 servers carry it as
        the `io.modelcontextprotocol/logLevel` opt-in), and pass the most verbose level any
        client wants to handshake-era servers that log (each client's messages are then
        filtered to its own level on the way back). `connection`: the client's connection when
        there is no request to read it from (a session revived on this replica)."""
        conn = connection if connection is not None else route.connection
        if conn is not None:
            self._log_levels[conn] = level
        wanted = min(self._log_levels.values(), key=LOG_LEVELS.index, default=level)
        for ds in self.downstreams.values():
            caps = ds.capabilities
            if caps is None or caps.logging is None or ds.health.protocol_version in MODERN_PROTOCOL_VERSIONS:
                continue
            try:
                await ds.request("logging/setLevel", {"level": wanted}, route=route)
            except (MCPError, UpstreamUnavailable) as exc:
                logger.info("server %r: logging/setLevel %s failed: %s", ds.name, wanted, exc)

    def wants_log(self, route: UpstreamRoute, level: str) -> bool:
        wanted = self.log_level(route)
        return wanted is None or LOG_LEVELS.index(level) >= LOG_LEVELS.index(wanted)

    # ------------------------------------------------------------ calls

    async def call_tool(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        meta: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        session_id: str | None = None,
        route: UpstreamRoute | None = None,
        on_progress: ProgressFn | None = None,
        extra_params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Call a namespaced tool; returns the raw `CallToolResult` dict.

        Raises UnknownTool / ToolArgumentsInvalid (caller's fault), DownstreamUnavailable /
        DownstreamTimeout (backend's fault), or `MCPError` carrying the downstream's own error.
        """
        entry = self._catalog.tools.get(name)
        caller = headers if headers is not None else (route.headers if route is not None else None)
        if entry is None or (self.access is not None and not self.access.tool_visible(name, entry.server, caller)):
            # A tool this caller may not use is unknown to it: the same error as no tool at all.
            raise self._unknown(name, caller)
        args = arguments if arguments is not None else {}
        if not entry.server and any(v is None for v in args.values()):
            # A gateway meta-tool: `null` means "not given" (mcp-use sends null for every omitted
            # optional argument). Downstream tools get their arguments untouched: null may mean
            # something there.
            args = {k: v for k, v in args.items() if v is not None}
        problems = self._validator.problems(name, entry.input_schema, args)
        if problems:
            raise ToolArgumentsInvalid(name, problems)
        route = route or UpstreamRoute()
        call = ToolCall(
            name=name,
            server=entry.server,
            original=entry.original,
            arguments=args,
            meta=meta or {},
            headers=headers if headers is not None else route.headers,
            session_id=session_id if session_id is not None else route.session_id,
            connection_id=route.connection_id,
            protocol_version=route.protocol_version,
            route=route,
            notify_tools_changed=self.notify_tools_changed,
        )

        async def invoke(c: ToolCall) -> dict[str, Any]:
            return await self._invoke(c, on_progress, extra_params)

        if not self._hooks:
            result = await invoke(call)
        else:
            chain: CallNext = invoke
            for hook in reversed(self._hooks):
                chain = _bind(hook, chain)
            result = await chain(call)
        if entry.server and self._catalog.uri_prefixes:
            # Embedded resources carry the server's own URIs: prefix them, so a client can read
            # them back through us (after the hooks, whichever replica answered).
            self._catalog.rewrite_blocks(entry.server, result.get("content"))
        return result

    async def _invoke(
        self, call: ToolCall, on_progress: ProgressFn | None, extra: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        if not call.server:
            return _as_result(await self._meta_tools[call.name].handler(call.arguments, call))
        # Timed here, below the hooks: every downstream call (a client's own and the engine's) and
        # only the downstream leg, whichever replica answered.
        started = anyio.current_time()
        error: str | None = "CancelledError"  # until the call ends one way or the other
        try:
            result = await self._invoke_downstream(call, on_progress, extra)
            # The MCP conventions' error.type for a result the tool itself marked failed.
            error = "tool_error" if result.get("isError") else None
            return result
        except Exception as exc:
            error = type(exc).__name__
            raise
        finally:
            if error != "CancelledError":  # a cancelled call says nothing about the server
                metrics.record_tool_call(call.server, call.name, anyio.current_time() - started, error)

    async def _invoke_downstream(
        self, call: ToolCall, on_progress: ProgressFn | None, extra: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        ds = self.serving(call.server)
        params: dict[str, Any] = {"name": call.original, "arguments": dict(call.arguments)}
        meta = strip_reserved(call.meta)
        meta.pop("progressToken", None)  # the downstream dispatcher mints its own when we ask for progress
        if call.meta and LOG_LEVEL_META_KEY in call.meta:
            meta[LOG_LEVEL_META_KEY] = call.meta[LOG_LEVEL_META_KEY]  # the client's log opt-in still applies
        if meta:
            params["_meta"] = meta
        if extra:
            params.update(extra)
        try:
            result = await ds.request("tools/call", params, route=call.route, on_progress=on_progress)
        except DownstreamUnavailable:
            # A replica that just went away (now marked unhealthy): another one may answer.
            other = self.serving(call.server)
            if other is ds:
                raise
            result = await other.request("tools/call", params, route=call.route, on_progress=on_progress)
        if not isinstance(result.get("content"), list) and result.get("resultType") != "input_required":
            raise DownstreamUnavailable(
                f"server {call.server!r} answered tools/call {call.original!r} with a malformed result (no 'content' list)"
            )
        _strip_result_meta(result)
        return result

    def _unknown(self, name: str, caller: Mapping[str, str] | None = None) -> Exception:
        gw = self.config.gateway
        visible = self._catalog.tools
        if self.access is not None:
            visible = {n: e for n, e in visible.items() if self.access.tool_visible(n, e.server, caller)}
        if (why := self._catalog.withheld.get(name)) is not None:
            owner = next(
                (s for s, ds in self.downstreams.items() if name.startswith((ds.cfg.prefix or s) + gw.separator)), ""
            )
            if self.access is None or self.access.tool_visible(name, owner, caller):
                return ToolWithheld(name, why)  # a withheld tool the caller may not see stays unknown
        for server, ds in self.downstreams.items():
            if self.access is not None and not self.access.policy(self.access.principal(caller)).servers.allows(server):
                continue  # a server this caller may not use is not even named to it
            prefix = (ds.cfg.prefix or server) + gw.separator
            if gw.prefix_tools and name.startswith(prefix) and self.serving(server).listing is None:
                h = ds.health
                return DownstreamUnavailable(
                    f"tool {name!r} belongs to server {server!r}, which is {h.state}"
                    + (f": {h.reason}" if h.reason else "")
                )
        close = difflib.get_close_matches(name, list(visible), n=3)
        return UnknownTool(
            name,
            f"did you mean {', '.join(map(repr, close))}?"
            if close
            else f"{len(visible)} tools are available; see tools/list",
        )

    async def request(
        self, server: str, method: str, params: dict[str, Any], *, route: UpstreamRoute | None = None
    ) -> dict[str, Any]:
        """Forward a non-tool request (resources/read, prompts/get, ...) to one server, raw."""
        result = await self.serving(server).request(method, params, route=route)
        _strip_result_meta(result)
        return result


def _strip_result_meta(result: dict[str, Any]) -> None:
    # A 2026-07-28 downstream stamps its serverInfo into `_meta`: that would leak its identity.
    if "_meta" in result:
        meta = strip_reserved(result["_meta"]) if isinstance(result["_meta"], Mapping) else {}
        if meta:
            result["_meta"] = meta
        else:
            del result["_meta"]


def _bind(hook: CallHook, nxt: CallNext) -> CallNext:
    async def run(call: ToolCall) -> dict[str, Any]:
        return await hook(call, nxt)

    return run


def _as_result(value: Any) -> dict[str, Any]:
    """A meta-tool handler may return a str, a CallToolResult (model), or a result dict."""
    if isinstance(value, str):
        return text_result(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(by_alias=True, mode="json", exclude_none=True)
    if isinstance(value, Mapping) and isinstance(value.get("content"), list):
        return dict(value)
    if isinstance(value, Mapping):
        import json

        return {
            "content": [{"type": "text", "text": json.dumps(value)}],
            "structuredContent": dict(value),
            "isError": False,
        }
    raise TypeError(f"meta-tool returned {type(value).__name__}; expected str, dict or CallToolResult")
