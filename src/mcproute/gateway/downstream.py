"""One supervised connection per downstream MCP server.

`Downstream.run()` lives in the gateway's task group for the gateway's whole life: connect
(either era, `mcp.Client(mode=auto|legacy)`), list everything, serve calls, and when the
connection is lost (stdio child died, HTTP transport failed) mark the server unhealthy with
the reason, wait with exponential backoff, and connect again. A start that fails or hangs
past `startup_timeout` is the same as a loss: the reason is kept, the rest of the gateway is
not blocked.

Calls take the lean path: the upstream request's params go out as a raw dict and the raw
result dict comes back (no pydantic round-trip, no output-schema re-validation; the upstream
SDK shapes the result for the client's era anyway).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import anyio.abc
import httpx2
import mcp_types as types
from mcp import Client
from mcp.shared.dispatcher import CallOptions
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcproute.config import ServerConfig
from mcproute.errors import DownstreamTimeout, DownstreamUnavailable, InvalidRequest
from mcproute.gateway import _backchannel
from mcproute.gateway._resource_watch import ResourceWatch, is_updated
from mcproute.gateway._sse import handshake_refused, is_legacy_sse, sse_transport
from mcproute.gateway._stdio import LIMIT_ERROR_KEY, StdioProcess, child_env, resolve_command
from mcproute.gateway.catalog import Listing
from mcproute.gateway.limits import JsonLimits
from mcproute.gateway.routing import UpstreamRoute
from mcproute.telemetry.repeats import FailureStreak, RepeatFilter

logger = logging.getLogger(__name__)
# A downstream writing junk on stdout is logged once a minute (with a count), not once per line:
# a flooding child must not fill the gateway's log or disk.
junk_log = logging.getLogger(__name__ + ".junk")
junk_log.addFilter(RepeatFilter(60.0))

# "unavailable": the config cannot be used as it stands (a missing variable); never started.
State = Literal["starting", "healthy", "unhealthy", "disabled", "unavailable"]
_PID = re.compile(r"\bprocess \d+")
_STABLE = 60.0  # a server up this long before failing again is not in a crash loop
_LIST_PAGE_CAP = 50


@dataclass
class Health:
    state: State = "starting"
    reason: str = ""
    pid: int | None = None
    protocol_version: str | None = None
    transport: str | None = None  # stdio, http or sse (the one in force, detected or configured)
    server_name: str | None = None
    restarts: int = 0
    since: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "reason": self.reason,
            "pid": self.pid,
            "protocol_version": self.protocol_version,
            "transport": self.transport,
            "server_name": self.server_name,
            "restarts": self.restarts,
        }


class _Lost(Exception):
    pass


class Downstream:
    def __init__(
        self,
        name: str,
        cfg: ServerConfig,
        *,
        on_change: Callable[[], None],
        backoff_base: float = 0.2,
        backoff_max: float = 10.0,
        limits: JsonLimits | None = None,
        scrub: Callable[[str], str] = str,
        unavailable: str | None = None,
    ) -> None:
        self.name = name
        self.cfg = cfg
        self.limits = limits or JsonLimits()
        # The gateway's one redaction (telemetry/redact.py): a child's stderr and stdout junk end up
        # in health reasons and error text, which /status, `mcproute tools` and clients read.
        self._scrub = scrub
        self.health = Health(
            state="starting" if cfg.enabled else "disabled", since=time.monotonic(), transport=cfg.kind
        )
        self.listing: Listing | None = None
        self.first_attempt = anyio.Event()
        self._on_change = on_change
        self._backoff = (backoff_base, backoff_max)
        self._client: Client | None = None
        self._transport: StdioProcess | None = None
        # A `url:` server without `transport` found to speak legacy HTTP+SSE: kept across reconnects.
        self._detected_sse = False
        self._lost = anyio.Event()
        self._relist = anyio.Event()
        self._routes: dict[int, UpstreamRoute] = {}
        self._next_route = 0
        self._was_healthy = False
        self._lost_reason = "connection closed"
        self._up_since = 0.0
        self._streak = FailureStreak(lambda r: _PID.sub("process", r))  # a respawned child's new pid is no new reason
        self.watch = ResourceWatch(self)
        self.log_filter: Callable[[UpstreamRoute, str], bool] | None = None  # per-client logging/setLevel
        self._unavailable = cfg.enabled and unavailable is not None
        if not cfg.enabled:
            self.health.reason = "disabled in config"
            self.first_attempt.set()
        elif unavailable is not None:
            self.health.state, self.health.reason = "unavailable", unavailable
            self.first_attempt.set()

    # ------------------------------------------------------------ supervision

    async def run(self) -> None:
        if not self.cfg.enabled or self._unavailable:
            return
        failures = 0
        while True:
            try:
                await self._connect_and_serve()
                reason = "connection closed"
            except _Lost as exc:
                reason = str(exc)
            except Exception as exc:  # a start failure must never take the gateway down
                if self._transport is not None:
                    await self._transport.settle()
                reason = _describe(exc) + self._exit_note()
            stable = self._was_healthy and time.monotonic() - self._up_since >= _STABLE
            failures = 1 if self._was_healthy else failures + 1
            reason = self._scrub(reason)
            self._was_healthy = False
            self._set_unhealthy(reason)
            self.first_attempt.set()
            delay = min(self._backoff[1], self._backoff[0] * 2 ** (failures - 1))
            self._log_failure(reason, delay, reset=stable)
            await anyio.sleep(delay)
            self.health.restarts += 1

    def _log_failure(self, reason: str, delay: float, *, reset: bool) -> None:
        # A crash loop is warned about on its 1st, 2nd, 4th, 8th ... failure (an hour of a server
        # dying every few seconds is about ten lines, not a thousand); a new reason at once.
        n = self._streak.record(reason, reset=reset)
        if not self._streak.due(n):
            logger.debug("server %r unhealthy (%s); reconnecting in %.1fs", self.name, reason, delay)
        elif n == 1:
            logger.warning("server %r unhealthy (%s); reconnecting in %.1fs", self.name, reason, delay)
        else:
            logger.warning(
                "server %r unhealthy (%s); %d failures in a row with this reason, still retrying every %.1fs "
                "(next warning at %d)",
                self.name,
                reason,
                n,
                delay,
                2 * n,
            )

    def _set_unhealthy(self, reason: str) -> None:
        was_listed = self.listing is not None
        self._client = None
        self.listing = None
        self.health.state, self.health.reason, self.health.since = "unhealthy", self._scrub(reason), time.monotonic()
        if was_listed:
            self._on_change()

    @property
    def kind(self) -> str:
        return "sse" if self._detected_sse else self.cfg.kind

    def _make_transport(self, stack: AsyncExitStack) -> Any:
        if self.cfg.command:
            self._transport = StdioProcess(
                resolve_command(self.cfg.command),
                self.cfg.args,
                child_env(self.cfg),
                self.cfg.cwd,
                limits=self.limits,
                scrub=self._scrub,
            )
            return self._transport
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        self._transport = None
        if self.kind == "sse":
            return sse_transport(self.cfg.replica_urls[0], self.cfg.headers)
        http = create_mcp_http_client(headers=dict(self.cfg.headers))
        stack.push_async_callback(http.aclose)
        return streamable_http_client(self.cfg.replica_urls[0], http_client=http)

    async def _connect_and_serve(self) -> None:
        self._lost = anyio.Event()
        self._lost_reason = "connection closed"
        if self.health.state != "unhealthy":  # keep showing why it is down while we retry
            self.health.state = "starting"
        # One scope around the whole connection, its deadline lifted once started: the SDK
        # client opens task groups on entry, so a `fail_after` around the entry alone would
        # exit out of order.
        with anyio.CancelScope(deadline=anyio.current_time() + self.cfg.startup_timeout) as startup:
            try:
                try:
                    await self._connect(startup)
                except Exception as exc:
                    if not handshake_refused(exc) or not await self._found_legacy_sse():
                        raise
                    await self._connect(startup)
            except MCPError as exc:
                if self._transport is not None:
                    await self._transport.settle()
                raise _Lost(f"failed to start: {exc.error.message}{self._exit_note()}") from None
            except OSError as exc:
                raise _Lost(f"cannot start {self.cfg.command or self.cfg.url!r}: {exc.strerror or exc}") from None
        if startup.cancelled_caught:
            raise _Lost(f"did not finish starting within {self.cfg.startup_timeout:g}s{self._exit_note()}")
        raise _Lost(self._lost_reason)

    async def _found_legacy_sse(self) -> bool:
        if not self._detected_sse and await is_legacy_sse(self.name, self.cfg, self._scrub):
            self._detected_sse = True
            self.health.transport = "sse"
            return True
        return False

    async def _connect(self, startup: anyio.CancelScope) -> None:
        async with AsyncExitStack() as stack:
            transport = self._make_transport(stack)
            client = Client(
                transport,
                mode=self.cfg.mode,
                cache=None,
                client_info=types.Implementation(name="mcproute", version="0.1.0"),
                sampling_callback=_backchannel.sampling(self),
                elicitation_callback=_backchannel.elicitation(self),
                list_roots_callback=_backchannel.roots(self),
                logging_callback=_backchannel.logging(self),
                message_handler=self._on_message,
            )
            await stack.enter_async_context(client)
            listing = await self._list_all(client)
            async with anyio.create_task_group() as tg:
                if client.protocol_version in MODERN_PROTOCOL_VERSIONS:
                    # Subscribed before we call ourselves healthy, so no change is missed.
                    await tg.start(self._listen_loop, client)
                startup.deadline = math.inf
                self._was_healthy = True
                self._client = client
                self.listing = listing
                self.health.state, self.health.reason, self.health.since = "healthy", "", time.monotonic()
                self._up_since = self.health.since
                self.health.pid = self._transport.pid if self._transport else None
                if self._transport is not None:
                    self._transport.mark_ready()
                self.health.protocol_version = client.protocol_version
                self.health.transport = self.kind
                self.health.server_name = client.server_info.name if client.server_info else None
                self.first_attempt.set()
                self._on_change()
                tg.start_soon(self._relist_loop, client)
                tg.start_soon(self.watch.run, client)
                if self._transport is not None:
                    tg.start_soon(self._watch_exit, self._transport)
                await self._lost.wait()
                tg.cancel_scope.cancel()

    def _exit_note(self) -> str:
        t = self._transport
        if t is not None and (t.exited.is_set() or t.stderr_tail):
            return f" ({t.describe_exit()})"
        return ""

    async def _watch_exit(self, transport: StdioProcess) -> None:
        await transport.exited.wait()
        await transport.settle()
        self.mark_lost(transport.describe_exit())

    def mark_lost(self, reason: str) -> None:
        if not self._lost.is_set():
            self._lost_reason = reason
            self._lost.set()
            # New calls fail fast from now on, and the tools are hidden at once.
            if self.health.state == "healthy":
                self._set_unhealthy(reason)

    # ------------------------------------------------------------ listing

    async def _list_all(self, client: Client) -> Listing:
        caps = client.server_capabilities
        tools = await self._paged(client, "tools/list", "tools") if caps.tools is not None else []
        resources = await self._paged(client, "resources/list", "resources") if caps.resources is not None else []
        templates = (
            await self._paged(client, "resources/templates/list", "resourceTemplates")
            if caps.resources is not None
            else []
        )
        prompts = await self._paged(client, "prompts/list", "prompts") if caps.prompts is not None else []
        return Listing(tuple(tools), tuple(resources), tuple(templates), tuple(prompts))

    async def _paged(self, client: Client, method: str, key: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        params: dict[str, Any] = {}
        for _ in range(_LIST_PAGE_CAP):
            result = await self._send(client, method, dict(params), timeout=self.cfg.timeout)
            items = result.get(key)
            if not isinstance(items, list):
                raise _Lost(f"answered {method} without a {key!r} list")
            out += [i for i in items if isinstance(i, dict)]
            cursor = result.get("nextCursor")
            if not isinstance(cursor, str) or not cursor:
                break
            params = {"cursor": cursor}
        return out

    async def _on_message(self, message: Any) -> None:
        if isinstance(
            message,
            types.ToolListChangedNotification
            | types.PromptListChangedNotification
            | types.ResourceListChangedNotification,
        ):
            self._relist.set()
        elif (uri := is_updated(message)) is not None:
            await self.watch.updated(uri)
        elif isinstance(message, httpx2.TransportError) and self.kind == "sse":
            # The SDK's SSE reader hands over the error that ended the event stream, then stops:
            # the session is gone (the legacy transport has no resumption), so reconnect now
            # rather than at the next call.
            self.mark_lost(f"event stream ended: {_describe(message)}")
        elif isinstance(message, Exception):
            junk_log.warning("server %r sent something that is not JSON-RPC: %.300s", self.name, message)
        else:
            await anyio.lowlevel.checkpoint()

    async def _relist_loop(self, client: Client) -> None:
        while True:
            await self._relist.wait()
            self._relist = anyio.Event()
            try:
                listing = await self._list_all(client)
            except (MCPError, _Lost, OSError) as exc:
                logger.warning("server %r: re-listing after list_changed failed: %s", self.name, exc)
                continue
            if listing != self.listing:
                self.listing = listing
                self._on_change()

    async def _listen_loop(
        self, client: Client, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        caps = client.server_capabilities
        want = {
            "tools_list_changed": bool(caps.tools and caps.tools.list_changed),
            "prompts_list_changed": bool(caps.prompts and caps.prompts.list_changed),
            "resources_list_changed": bool(caps.resources and caps.resources.list_changed),
        }
        if not any(want.values()):
            task_status.started()
            return
        started = False
        try:
            async with client.listen(
                tools_list_changed=want["tools_list_changed"],
                prompts_list_changed=want["prompts_list_changed"],
                resources_list_changed=want["resources_list_changed"],
            ) as sub:
                task_status.started()
                started = True
                async for _event in sub:
                    self._relist.set()
        except Exception as exc:  # listening is best-effort; calls still work without it
            logger.info("server %r: subscriptions/listen ended: %s", self.name, exc)
        if not started:
            task_status.started()

    # ------------------------------------------------------------ calls

    @property
    def capabilities(self) -> types.ServerCapabilities | None:
        return self._client.server_capabilities if self._client is not None else None

    def route_for_backchannel(self) -> UpstreamRoute | None:
        """The most recent in-flight upstream request: the wire does not say which call a
        server→client request belongs to, so the newest caller is the best guess (exact when
        calls to this server are not concurrent)."""
        if not self._routes:
            return None
        return self._routes[max(self._routes)]

    async def request(
        self,
        method: str,
        params: dict[str, Any],
        *,
        route: UpstreamRoute | None = None,
        on_progress: Callable[[float, float | None, str | None], Awaitable[None]] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Forward one request; raw params in, raw result out. Raises MCPError for the server's
        own errors, DownstreamUnavailable / DownstreamTimeout when it cannot answer."""
        client = self._client
        if client is None:
            state = self.health
            raise DownstreamUnavailable(
                f"server {self.name!r} is {state.state}" + (f": {state.reason}" if state.reason else "")
            )
        key = self._next_route = self._next_route + 1
        if route is not None:
            self._routes[key] = route
        try:
            return await self._send(
                client, method, params, timeout=timeout or self.cfg.timeout, on_progress=on_progress
            )
        finally:
            self._routes.pop(key, None)

    async def _send(
        self,
        client: Client,
        method: str,
        params: dict[str, Any],
        *,
        timeout: float,
        on_progress: Callable[[float, float | None, str | None], Awaitable[None]] | None = None,
    ) -> dict[str, Any]:
        # The session's private stamp + dispatcher are the SDK's own lean path (what its typed
        # methods call after dumping a model); using them directly skips a pydantic parse and
        # re-dump of every result, which is most of a proxy's overhead.
        # The last line of defence (entry points check first): a value nested this deep must not
        # reach a transport writer, whoever built it (a client, a meta-tool, a model's tool call).
        if (problem := self.limits.check_value(params, root="$.params", depth=1)) is not None:
            raise InvalidRequest(f"{method} for server {self.name!r} refused: {problem}")
        session = client.session
        data: dict[str, Any] = {"method": method, "params": params}
        opts: CallOptions = {"timeout": timeout}
        if on_progress is not None:
            # The SDK calls it positionally; its ProgressFnT protocol only adds parameter names.
            opts["on_progress"] = on_progress  # type: ignore[typeddict-item]
        session._stamp(data, opts)  # noqa: SLF001  (era envelope, headers)
        try:
            result = await session._dispatcher.send_raw_request(method, data["params"], opts)  # noqa: SLF001
        except MCPError as exc:
            refused = exc.error.data.get(LIMIT_ERROR_KEY) if isinstance(exc.error.data, dict) else None
            if refused == "limit":  # the server's answer broke a limit; the transport failed the call
                raise DownstreamUnavailable(self._scrub(f"server {self.name!r}: {exc.error.message}")) from None
            if refused == "unsendable":
                raise InvalidRequest(exc.error.message) from None
            if exc.error.code == REQUEST_TIMEOUT:
                raise DownstreamTimeout(
                    self._scrub(
                        f"server {self.name!r} did not answer {method} within {timeout:g}s{self._garbage_note()}"
                    )
                ) from None
            if exc.error.code == CONNECTION_CLOSED:
                reason = "connection closed"
                if self._transport is not None:
                    await self._transport.settle()  # stdout EOF usually beats the exit status
                    reason = self._transport.describe_exit()
                self.mark_lost(reason)
                raise DownstreamUnavailable(
                    self._scrub(f"server {self.name!r} went away during {method}: {reason}")
                ) from None
            raise
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            self.mark_lost(_describe(exc))
            raise DownstreamUnavailable(
                self._scrub(f"server {self.name!r} failed during {method}: {_describe(exc)}")
            ) from None
        if not isinstance(result, dict):
            raise DownstreamUnavailable(f"server {self.name!r} answered {method} with a non-object result")
        if (
            self._transport is None
            and (problem := self.limits.check_value(result, root="$.result", depth=1)) is not None
        ):
            # HTTP: the SDK parsed it (stdio answers were checked as bytes already).
            raise DownstreamUnavailable(f"server {self.name!r} answered {method} with {problem}")
        return result

    def _garbage_note(self) -> str:
        junk = self._transport.last_junk if self._transport is not None else None
        return f"; its last stdout line was not JSON-RPC: {self._scrub(junk)[:120]!r}" if junk else ""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, MCPError):
        return exc.error.message
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
