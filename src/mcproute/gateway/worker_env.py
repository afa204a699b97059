"""What a `serve --workers N` parent tells each worker process, through its environment.

`MCPROUTE_LISTEN_FD`: the listening socket the parent bound and passed down (every worker accepts
on it). `MCPROUTE_WORKER`: "i/N", which worker this is (for the log and `/status`).
The parent's side is `mcproute.cli.workers`.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

LISTEN_FD_ENV = "MCPROUTE_LISTEN_FD"
WORKER_ENV = "MCPROUTE_WORKER"


@dataclass(frozen=True, slots=True)
class WorkerId:
    index: int  # 1-based
    of: int

    def __str__(self) -> str:
        return f"{self.index}/{self.of}"


def this_worker() -> WorkerId | None:
    """Which worker this process is, when a `--workers` parent started it."""
    index, _, of = os.environ.get(WORKER_ENV, "").partition("/")
    if index.isdigit() and of.isdigit():
        return WorkerId(int(index), int(of))
    return None


def inherited_socket() -> socket.socket | None:
    """The listening socket a `--workers` parent passed down, if any."""
    raw = os.environ.get(LISTEN_FD_ENV)
    if not raw:
        return None
    sock = socket.socket(fileno=int(raw))
    sock.setblocking(False)
    return sock


WORKER_DIR_ENV = "MCPROUTE_WORKER_DIR"  # where each worker's private Unix socket lives
PEER_SECRET_ENV = "MCPROUTE_PEER_SECRET"  # proves a request on a private socket comes from a peer


@dataclass(frozen=True, slots=True)
class WorkerLink:
    """How this worker reaches its peers (gateway/worker_link.py): their private sockets."""

    me: WorkerId
    directory: Path
    secret: str

    def socket_path(self, index: int) -> Path:
        return self.directory / f"worker-{index}.sock"

    @property
    def own_socket(self) -> Path:
        return self.socket_path(self.me.index)

    def peers(self) -> dict[int, Path]:
        return {i: self.socket_path(i) for i in range(1, self.me.of + 1) if i != self.me.index}


def worker_link() -> WorkerLink | None:
    me, directory, secret = this_worker(), os.environ.get(WORKER_DIR_ENV), os.environ.get(PEER_SECRET_ENV)
    if me is None or not directory or not secret:
        return None
    return WorkerLink(me, Path(directory), secret)


def bind_private(link: WorkerLink) -> socket.socket:
    """This worker's private Unix socket (owner-only), where peers forward its sessions' requests."""
    path = link.own_socket
    path.unlink(missing_ok=True)  # a previous run of this worker index left it behind
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    path.chmod(0o600)
    sock.listen(128)
    sock.setblocking(False)
    return sock
