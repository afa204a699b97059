"""What the log and the health reason say about a failing downstream (issue 15, item 8): a crash
loop is warned about with geometric back-off, not once per respawn; after `kill -9` the reason is
the kill, not a start-up banner the server wrote long before."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
from pathlib import Path

import anyio
import pytest

from mcproute.config import parse_config
from mcproute.gateway import Gateway

REPO = Path(__file__).resolve().parents[1]
NODE = REPO / ".peers" / "node_modules" / ".bin" / "node"
FILESYSTEM = REPO / ".peers" / "node_modules" / "@modelcontextprotocol" / "server-filesystem" / "dist" / "index.js"
LOGGER = "mcproute.gateway.downstream"


def _warnings(caplog: pytest.LogCaptureFixture, server: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER and r.levelno == logging.WARNING and f"server {server!r}" in r.getMessage()
    ]


@pytest.mark.anyio
async def test_a_crash_looping_server_is_logged_with_back_off(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    script = tmp_path / "crash.py"
    script.write_text("import sys\nprint('crash.py: cannot open the database', file=sys.stderr)\nsys.exit(1)\n")
    cfg = {
        "servers": {"loop": {"command": "python", "args": [str(script)]}},
        "reliability": {"backoff_base": 0.005, "backoff_max": 0.01},
    }
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    async with Gateway(parse_config(json.dumps(cfg))) as gw:
        with anyio.fail_after(60):
            while gw.health()["loop"].restarts < 20:
                await anyio.sleep(0.05)
        health = gw.health()["loop"]
        failures = health.restarts
    assert health.state == "unhealthy"
    # The reason is this failure's own: the exit and the child's last words.
    assert "exited with code 1" in health.reason and "cannot open the database" in health.reason
    warned = _warnings(caplog, "loop")
    # Every failure got a pid of its own, yet only the 1st, 2nd, 4th, 8th ... are warnings.
    assert 2 <= len(warned) <= math.floor(math.log2(failures + 1)) + 1, warned
    assert "failures in a row" not in warned[0] and "2 failures in a row" in warned[1]
    assert all("cannot open the database" in w for w in warned)
    debug = [
        r
        for r in caplog.records
        if r.name == LOGGER and r.levelno == logging.DEBUG and "'loop' unhealthy" in r.getMessage()
    ]
    assert len(debug) + len(warned) >= failures - 1  # the others are still there, at debug


@pytest.mark.anyio
async def test_a_new_reason_is_warned_at_once() -> None:
    from mcproute.telemetry.repeats import FailureStreak

    streak = FailureStreak(lambda r: r.split(" pid")[0])
    seen = [streak.record(r) for r in ["a pid 1", "a pid 2", "a pid 3", "b pid 4", "a pid 5", "a pid 6"]]
    assert seen == [1, 2, 3, 1, 1, 2]
    assert [FailureStreak.due(n) for n in (1, 2, 3, 4, 5, 8)] == [True, True, False, True, False, True]
    assert streak.record("a pid 7", reset=True) == 1


@pytest.mark.anyio
async def test_kill_9_reason_is_the_kill_not_the_start_up_banner(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert NODE.exists() and FILESYSTEM.exists(), "run scripts/install-peers.sh (the .peers/ Node servers)"
    # The reference filesystem server writes "Secure MCP Filesystem Server running on stdio" to
    # stderr when it starts: true then, unrelated to a kill much later.
    cfg = {
        "servers": {"fs": {"command": str(NODE), "args": [str(FILESYSTEM), str(tmp_path)]}},
        "reliability": {"backoff_base": 0.05, "backoff_max": 0.1},
    }
    caplog.set_level(logging.WARNING, logger=LOGGER)
    async with Gateway(parse_config(json.dumps(cfg))) as gw:
        assert gw.health()["fs"].state == "healthy", gw.health()["fs"].reason
        transport = gw.downstreams["fs"]._transport
        assert transport is not None
        await anyio.sleep(3.5)  # the banner is now old news
        assert any("running on stdio" in line for _, line in transport.stderr_tail)  # the line the old reason quoted
        pid = gw.health()["fs"].pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        with anyio.fail_after(20):
            while not _warnings(caplog, "fs"):
                await anyio.sleep(0.02)
    (warning,) = _warnings(caplog, "fs")[:1]
    assert f"process {pid} was killed by signal SIGKILL" in warning
    assert "running on stdio" not in warning and "stderr:" not in warning
