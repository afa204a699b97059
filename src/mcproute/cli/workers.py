"""`mcproute serve --transport http --workers N`: one listening socket, N gateway processes.

The parent binds the socket (so a busy port is refused once, before anything starts), then runs N
copies of `mcproute serve` that inherit it (`MCPROUTE_LISTEN_FD`) and accept on it: the kernel
hands each new connection to one of them. Each worker is a whole gateway — its own downstream
servers, encoder and event loop — and they share what the configured state store shares
(SQLite: one file, serialised per conversation by `BEGIN IMMEDIATE`; see docs/scale-out.md).

The parent does nothing else: it restarts a worker that dies (with back-off, so a worker that
cannot start is not respawned in a tight loop), and on SIGINT/SIGTERM it asks every worker to stop
(SIGTERM), waits, then kills what is left.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

import anyio
import anyio.abc

from mcproute.gateway.worker_env import LISTEN_FD_ENV, PEER_SECRET_ENV, WORKER_DIR_ENV, WORKER_ENV, WorkerId

logger = logging.getLogger("mcproute.workers")

_STOP_GRACE = 10.0  # seconds a worker gets to finish in-flight requests after SIGTERM
_STABLE = 30.0  # a worker up this long that dies starts the back-off from the beginning
_BACKOFF = (0.5, 30.0)


def run_workers(sock: socket.socket, count: int, argv: Sequence[str], url: str) -> int:
    """Run `count` workers (`mcproute *argv`) on `sock` until SIGINT/SIGTERM; returns the exit code."""
    print(f"mcproute: {count} workers serving {url}", file=sys.stderr, flush=True)
    # Each worker's private socket (for sessions held by another worker) and the secret they share.
    link = {WORKER_DIR_ENV: tempfile.mkdtemp(prefix="mcproute-workers-"), PEER_SECRET_ENV: secrets.token_urlsafe(32)}
    try:
        anyio.run(_supervise, sock, count, [sys.executable, "-m", "mcproute", *argv], link)
    finally:
        sock.close()
        shutil.rmtree(link[WORKER_DIR_ENV], ignore_errors=True)
    return 0


async def _supervise(sock: socket.socket, count: int, command: list[str], link: dict[str, str]) -> None:
    stopping = anyio.Event()
    async with anyio.create_task_group() as tg:
        for index in range(1, count + 1):
            tg.start_soon(_keep_running, WorkerId(index, count), sock, command, link, stopping)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                logger.info("received %s; stopping the workers", signal.Signals(signum).name)
                stopping.set()
                break
    # The task group has waited for every worker to be reaped.


async def _keep_running(
    worker: WorkerId, sock: socket.socket, command: list[str], link: dict[str, str], stopping: anyio.Event
) -> None:
    env = {**os.environ, **link, LISTEN_FD_ENV: str(sock.fileno()), WORKER_ENV: str(worker)}
    failures = 0
    while not stopping.is_set():
        started = time.monotonic()
        # stdin from /dev/null: a worker is not a stdio server; stdout/stderr are the parent's.
        proc = await anyio.open_process(
            command, stdin=subprocess.DEVNULL, stdout=None, stderr=None, env=env, pass_fds=(sock.fileno(),)
        )
        code = await _wait_or_stop(proc, stopping)
        if stopping.is_set():
            return
        failures = 1 if time.monotonic() - started >= _STABLE else failures + 1
        delay = min(_BACKOFF[1], _BACKOFF[0] * 2 ** (failures - 1))
        print(
            f"mcproute: worker {worker} (pid {proc.pid}) {_describe(code)}; restarting in {delay:g}s",
            file=sys.stderr,
            flush=True,
        )
        with anyio.move_on_after(delay):
            await stopping.wait()


async def _wait_or_stop(proc: anyio.abc.Process, stopping: anyio.Event) -> int:
    """The worker's exit code; when asked to stop first: SIGTERM, a grace period, then SIGKILL."""
    async with anyio.create_task_group() as tg:

        async def stop_when_asked() -> None:
            await stopping.wait()
            _signal(proc, signal.SIGTERM)
            with anyio.move_on_after(_STOP_GRACE):
                await proc.wait()
                return
            logger.warning("worker pid %d did not stop within %gs; killing it", proc.pid, _STOP_GRACE)
            _signal(proc, signal.SIGKILL)

        tg.start_soon(stop_when_asked)
        with anyio.CancelScope(shield=True):
            code = await proc.wait()
        tg.cancel_scope.cancel()
    return code


def _signal(proc: anyio.abc.Process, sig: signal.Signals) -> None:
    if proc.returncode is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass


def _describe(code: int) -> str:
    if code < 0:
        return f"was killed by signal {signal.Signals(-code).name}"
    return f"exited with code {code}"
