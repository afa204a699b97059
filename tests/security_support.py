"""Helpers for the issue-14 hardening tests: a real `mcproute serve --transport http` child whose
stderr is kept in a file (the tests read everything it printed), and its RSS and open FDs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from runtime_support import child_env

_SERVING = re.compile(r"serving (http://[^/\s]+)/mcp")


@contextmanager
def serve_child(
    config: Path,
    *,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    preexec: Callable[[], None] | None = None,
    timeout: float = 60,
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """Run `mcproute serve --transport http --port 0`; yield (process, base URL, stderr file)."""
    err = config.parent / f"serve-{time.monotonic_ns()}.stderr"
    cmd = [
        sys.executable,
        "-m",
        "mcproute",
        "serve",
        "--config",
        str(config),
        "--transport",
        "http",
        "--port",
        "0",
        *args,
    ]
    with err.open("wb") as sink:
        proc = subprocess.Popen(
            cmd, env=child_env(**(env or {})), stdout=subprocess.DEVNULL, stderr=sink, preexec_fn=preexec
        )  # noqa: PLW1509 - only to set rlimits in the child
    try:
        deadline = time.monotonic() + timeout
        while not (m := _SERVING.search(err.read_text(errors="replace"))):
            if proc.poll() is not None:
                raise AssertionError(f"mcproute serve exited early: {err.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                raise AssertionError(f"mcproute serve did not start: {err.read_text(errors='replace')}")
            time.sleep(0.05)
        yield proc, m.group(1), err
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))
