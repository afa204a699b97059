"""What a `serve --workers N` parent tells each worker process, through its environment.

`MCPROUTE_LISTEN_FD`: the listening socket the parent bound and passed down (every worker accepts
on it). `MCPROUTE_WORKER`: "i/N", which worker this is (for the log and `/status`).
The parent's side is `mcproute.cli.workers`.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

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
