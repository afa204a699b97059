"""A stdio server whose start is cancelled part-way (the gateway shutting down while a crashed server
respawns) is still reaped: no child outlives the `async with`, none is left for the event loop's
finaliser to warn about ("subprocess N is still running"; this failed CI once)."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import anyio
import pytest

from mcproute.gateway._stdio import StdioProcess


def _our_children_running(marker: str) -> list[int]:
    """Pids of this process's children whose command line carries `marker` (zombies included:
    a child that was killed but never waited for is exactly the leak)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:"))
        if ppid == os.getpid() and marker.encode() in cmdline:
            found.append(int(entry.name))
    return found


@pytest.mark.anyio
@pytest.mark.parametrize("ticks", range(16))
async def test_a_start_cancelled_at_any_point_leaves_no_child_behind(ticks: int) -> None:
    # The cancellation lands `ticks` loop iterations after the start: before the spawn, while
    # asyncio wires up the pipes (the window that leaked), or once the transport is up.
    marker = uuid.uuid4().hex
    server = StdioProcess(sys.executable, ["-c", f"import sys; sys.stdin.read()  # {marker}"], {}, None)

    async def run() -> None:
        async with server:
            await anyio.sleep(30)

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        for _ in range(ticks):
            await anyio.lowlevel.checkpoint()
        tg.cancel_scope.cancel()
    assert _our_children_running(marker) == []
    assert server.process is None or server.process.returncode is not None
