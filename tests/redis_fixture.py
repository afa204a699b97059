"""A real `redis-server` (the Debian package) on a free loopback port, AOF on, in a temp dir.

conftest.py registers the fixture for every test module:

    from redis_fixture import RedisServer

    async def test_x(redis_server: RedisServer) -> None:
        store = RedisStore(redis_server.url, prefix=redis_server.fresh_prefix())

One server for the session; tests keep apart by key prefix (`fresh_prefix()`), so nothing is
flushed between them. `restart()` stops the server (SIGTERM, as an orchestrator would) and starts
it again on the same port and directory: what survives is what the AOF kept.

The binary is `redis-server` on PATH or $MCPROUTE_REDIS_SERVER (Valkey's `valkey-server` works
too). `make test` installs the Debian package when it is missing (scripts/install-debian-peers.sh); when
it is still missing the test FAILS with that instruction instead of skipping: a skipped
multi-replica test proves nothing in CI.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @staticmethod
    def fresh_prefix() -> str:
        return f"t{uuid.uuid4().hex[:12]}:"

    def start(self) -> None:
        args = [
            self.binary,
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
            "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning",
        ]  # fmt: skip
        log = (self.workdir / "redis.log").open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.workdir / 'redis.log').read_text()[-2000:]}")
            if self._ping():
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING within 15 s")

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                # While loading the AOF the server answers -LOADING: not ready yet.
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def _binary() -> str:
    path = os.environ.get("MCPROUTE_REDIS_SERVER") or shutil.which("redis-server")
    if not path:
        pytest.fail(
            "redis-server is not installed: run `make test` (it installs the Debian package through "
            "scripts/install-debian-peers.sh) or `apt-get install redis-server`, or set MCPROUTE_REDIS_SERVER",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(_binary(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
