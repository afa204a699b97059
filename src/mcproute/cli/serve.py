"""`mcproute serve [--config servers.yaml] [--transport stdio|http] [--host] [--port]`."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # serve's imports stay lazy so `mcproute --help` is quick
    from starlette.routing import BaseRoute


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="servers.yaml", help="servers.yaml to serve (default: %(default)s)")
    p.add_argument(
        "--transport",
        choices=["stdio", "http"],
        default="stdio",
        help="stdio: for a client that starts mcproute itself (the default); http: streamable HTTP on --host/--port",
    )
    p.add_argument("--host", default=None, help="HTTP bind address (default: gateway.http.host, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="HTTP port (default: gateway.http.port; 0 = any free port)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="http: N gateway processes accepting on one socket, restarted if they die (default: %(default)s; "
        "they share conversations through the state store, see docs/scale-out.md)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO (to stderr)")


def run(args: argparse.Namespace) -> int:
    import anyio

    from mcproute.cli._common import load_or_report
    from mcproute.errors import InvalidRequest

    loaded = load_or_report(args.config, log_level=logging.INFO if args.verbose else logging.WARNING)
    if loaded is None:
        return 1
    from mcproute.gateway.worker_env import this_worker

    for issue in loaded.issues if this_worker() is None else ():  # a `--workers` parent said it once
        print(f"warning: {issue} (what depends on it is unavailable)", file=sys.stderr)
    if args.transport == "http":
        _raise_fd_limit()
    if args.workers != 1:
        return _run_workers(loaded, args)
    try:
        anyio.run(_serve, loaded, args)
    except InvalidRequest as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CannotListen as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _run_workers(loaded: object, args: argparse.Namespace) -> int:
    """The `--workers N` parent: refuse what cannot work, bind the one socket, start the workers."""
    from pathlib import Path

    from mcproute.cli.workers import run_workers
    from mcproute.config import LoadedConfig
    from mcproute.gateway.http import check_bind

    assert isinstance(loaded, LoadedConfig)
    problem = None
    if args.workers < 1:
        problem = f"--workers must be at least 1, got {args.workers}"
    elif args.transport != "http":
        problem = "--workers needs --transport http (a stdio client talks to the one process it started)"
    elif loaded.config.state.backend == "memory":
        problem = (
            f"--workers {args.workers} needs a shared state store, and state.backend in {args.config} is "
            "'memory' (each worker would keep its own conversations); use sqlite (the default) or redis"
        )
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    http = loaded.config.gateway.http
    host = args.host or http.host
    try:
        check_bind(host, http.token or bool(loaded.config.clients))
        sock = _listen(host, http.port if args.port is None else args.port, args.config)
    except CannotListen as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    argv = ["serve", "--config", str(Path(args.config).resolve()), "--transport", "http", "--host", host]
    argv += ["--port", str(port)] + (["--verbose"] if args.verbose else [])
    return run_workers(sock, args.workers, argv, f"http://{host}:{port}/mcp")


class CannotListen(Exception):
    """The HTTP address cannot be bound: an operator's problem, told in one line, not a traceback."""


def _listen(host: str, port: int, config_path: str) -> socket.socket:
    import errno

    from mcproute.gateway.http import bind_socket

    try:
        return bind_socket(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise CannotListen(
                f"port {port} on {host} is already in use (another mcproute serve?); choose another "
                f"with --port N (--port 0 takes any free port) or gateway.http.port in {config_path}"
            ) from None
        if exc.errno in (errno.EADDRNOTAVAIL, socket.EAI_NONAME) or isinstance(exc, socket.gaierror):
            raise CannotListen(
                f"cannot listen on {host}: {exc.strerror or exc}; choose the address with --host"
            ) from None
        if exc.errno == errno.EACCES:
            raise CannotListen(
                f"not allowed to listen on port {port} ({exc.strerror}); choose a port above 1023 with --port"
            ) from None
        raise CannotListen(f"cannot listen on {host}:{port}: {exc.strerror or exc}; see --host and --port") from None


def _raise_fd_limit(ceiling: int = 65536) -> None:
    """Every HTTP connection is a descriptor: take the hard limit's room (up to `ceiling`) instead of
    the usual soft 1,024, so a burst of idle connections does not lock out /status and real clients."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = ceiling if hard == resource.RLIM_INFINITY else min(hard, ceiling)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


async def _serve(loaded: object, args: argparse.Namespace) -> None:
    from functools import partial

    import anyio

    from mcproute.cli.render import plural
    from mcproute.config import LoadedConfig
    from mcproute.gateway.http import check_bind
    from mcproute.gateway.serving import serve_http, serve_stdio
    from mcproute.gateway.upstream import Upstream
    from mcproute.gateway.worker_env import bind_private, inherited_socket, this_worker, worker_link
    from mcproute.runtime import Engine
    from mcproute.state import SessionStore
    from mcproute.telemetry.setup import setup

    assert isinstance(loaded, LoadedConfig)
    http = loaded.config.gateway.http
    host = args.host or http.host
    sock = inherited_socket() if args.transport == "http" else None  # a `--workers` parent bound it
    worker = this_worker()
    link = worker_link() if sock is not None else None
    private = [bind_private(link)] if link is not None else []  # where peers pass this worker's sessions
    if args.transport == "http" and sock is None:
        check_bind(
            host, http.token or bool(loaded.config.clients)
        )  # refuse before spawning anything; a client key counts
        sock = _listen(host, http.port if args.port is None else args.port, args.config)  # likewise a busy port
    # The Engine owns the gateway and adds the routing layer: meta-tools, proxied-call records, traces.
    with setup(loaded.config.telemetry, loaded) as telemetry:
        async with Engine(loaded) as engine:
            gateway = engine.gateway
            for name, health in gateway.health().items():
                if health.state != "healthy":
                    print(
                        gateway.redactor.scrub(f"mcproute: server {name!r} is {health.state}: {health.reason}"),
                        file=sys.stderr,
                    )
            upstream = Upstream(gateway)
            if args.transport == "http" and isinstance(engine.store, SessionStore):
                upstream.session_store = engine.store  # handshake-era sessions, served by any replica
            routes = _extension_routes(gateway, loaded, engine) + _metrics_routes(telemetry)
            if args.transport == "stdio":
                await serve_stdio(gateway, upstream)
                return
            async with anyio.create_task_group() as tg:
                port = await tg.start(
                    partial(
                        serve_http,
                        gateway,
                        http,
                        host=host,
                        sock=sock,
                        extra_sockets=private,
                        extra_routes=routes,
                        upstream=upstream,
                    )
                )
                print(
                    f"mcproute: {f'worker {worker} (pid {os.getpid()}) ' if worker else ''}serving "
                    f"http://{host}:{port}/mcp ({plural(len(gateway.catalog.tools), 'tool')})",
                    file=sys.stderr,
                    flush=True,
                )


def _metrics_routes(telemetry: object) -> list[BaseRoute]:
    """`GET /metrics` (Prometheus text format) when `telemetry.metrics.prometheus` is on; behind the
    same Host/Origin/bearer-token guard as `/mcp` (Prometheus scrape configs take a bearer token)."""
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from mcproute.telemetry.setup import TelemetryHandle

    assert isinstance(telemetry, TelemetryHandle)
    if telemetry.metrics is None or telemetry.metrics.registry is None:
        return []

    async def scrape(_: Request) -> Response:
        # On the event loop, not in a thread: the gauge callbacks read the gateway's and the pool's
        # live state, which only the loop mutates.
        return Response(telemetry.prometheus_text() or b"", media_type="text/plain; version=0.0.4; charset=utf-8")

    return [Route("/metrics", scrape, methods=["GET"])]


def _extension_routes(gateway: object, loaded: object, engine: object = None) -> list[BaseRoute]:
    """Routes and meta-tools contributed by other modules, if they are installed.

    A module `mcproute.<x>` may expose `install(gateway, loaded_config) -> list[starlette Route]`;
    the list of such modules is `EXTENSIONS` (kept here so `serve` stays the one place that
    wires the product together).
    """
    import importlib
    import inspect

    routes: list[BaseRoute] = []
    for module in EXTENSIONS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue
            raise
        install = getattr(mod, "install", None)
        if install is not None:
            # An extension that routes (e.g. the OpenAI endpoint) declares an `engine` parameter.
            wants_engine = "engine" in inspect.signature(install).parameters
            routes += list(
                (install(gateway, loaded, engine=engine) if wants_engine else install(gateway, loaded)) or []
            )
    return routes


# Modules that plug into the gateway at serve time (each optional until it exists).
EXTENSIONS: list[str] = ["mcproute.runtime.status", "mcproute.openai_api"]
