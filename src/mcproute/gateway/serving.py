"""Run the upstream server: over stdio (desktop clients) or streamable HTTP (uvicorn)."""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Sequence

import anyio
import anyio.abc
from starlette.routing import BaseRoute

from mcproute.config import HttpConfig
from mcproute.gateway.gateway import Gateway
from mcproute.gateway.http import bind_socket, build_app
from mcproute.gateway.http_limits import quiet_accept_errors, timed_protocol
from mcproute.gateway.upstream import Upstream

logger = logging.getLogger(__name__)


async def serve_stdio(gateway: Gateway, upstream: Upstream | None = None) -> None:
    """Serve one client on this process's stdin/stdout until it closes them."""
    import os

    from mcproute.gateway._fast_path import StdioFastPath
    from mcproute.gateway._stdio_server import stdio_streams

    up = upstream or Upstream(gateway)
    # One client per pipe, so one connection per process lifetime; a fresh id per run (a restarted
    # gateway is a new client session, and must not inherit another run's conversation).
    up.connection_id = "stdio-" + uuid.uuid4().hex
    # MCPROUTE_FAST_PATH=0 sends every request through the SDK (an escape hatch, and the A/B baseline).
    fast = StdioFastPath(up) if os.environ.get("MCPROUTE_FAST_PATH") != "0" else None
    up.fast_path = fast
    async with stdio_streams(fast, gateway.limits) as (read, write):
        await up.server.run(read, write, up.server.create_initialization_options())


async def serve_http(
    gateway: Gateway,
    http: HttpConfig,
    *,
    host: str | None = None,
    port: int | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    upstream: Upstream | None = None,
    sock: socket.socket | None = None,
    extra_sockets: Sequence[socket.socket] = (),
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `/mcp` (+ `extra_routes`) until cancelled; `task_status.started(port)` once listening
    (pass port 0 to get a free one, or `sock`, a socket already bound with `bind_socket`, so a
    caller can refuse a busy port before it starts anything)."""
    import uvicorn

    host = host or http.host
    app = build_app(upstream or Upstream(gateway), http, host=host, extra_routes=extra_routes)
    if sock is None:
        sock = bind_socket(host, http.port if port is None else port)
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level="warning", lifespan="on", access_log=False, http=timed_protocol(http.header_timeout)
        )
    )
    done = anyio.Event()

    async def run() -> None:
        # Shielded: uvicorn shuts down cleanly via should_exit, not via a cancellation mid-request.
        with anyio.CancelScope(shield=True):
            try:
                await server.serve(sockets=[sock, *extra_sockets])
            finally:
                done.set()

    with quiet_accept_errors():
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            while not server.started and not done.is_set():
                await anyio.sleep(0.01)
            if done.is_set():
                raise RuntimeError(f"HTTP server on {host}:{bound_port} failed to start")
            logger.info("mcproute listening on http://%s:%d/mcp", host, bound_port)
            task_status.started(bound_port)
            try:
                await done.wait()
            finally:
                server.should_exit = True
                with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                    await done.wait()
                if not done.is_set():
                    server.force_exit = True
                sock.close()
                for extra in extra_sockets:
                    extra.close()
