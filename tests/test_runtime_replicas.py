"""Tool-server replicas (`urls: [...]`): conversations spread over replicas and stick to one; a
replica killed mid-conversation fails over. Two real fixture servers over loopback HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest
from mcp_types import LOG_LEVEL_META_KEY

from mcproute.config import parse_config
from mcproute.runtime import Engine
from runtime_support import FIXTURE, config_dict


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def fixture_http() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, FIXTURE, "--http", str(port)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None:
                    raise AssertionError("fixture server exited") from None
                import time

                time.sleep(0.05)
        yield proc, f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.kill()
        proc.wait(timeout=10)


async def whoami(engine: Engine, cid: str) -> int:
    out = await engine.gateway.call_tool("fx__whoami", {}, meta={"mcproute/conversation_id": cid})
    assert not out.get("isError"), out
    return int(json.loads(out["content"][0]["text"])["pid"])


@pytest.mark.anyio
async def test_replicas_spread_stick_and_fail_over(tmp_path: Path) -> None:
    with fixture_http() as (primary, u1), fixture_http() as (second, u2):
        cfg = config_dict(tmp_path, servers={"fx": {"urls": [u1, u2], "timeout": 5}})
        cfg["models"] = {}
        async with Engine(parse_config(json.dumps(cfg), environ={})) as engine:
            assert engine.replicas is not None and engine.replicas.health() == {"fx": {u1: "healthy", u2: "healthy"}}
            served = {f"c{i}": await whoami(engine, f"c{i}") for i in range(16)}
            assert set(served.values()) == {primary.pid, second.pid}  # balanced across replicas
            for cid, pid in served.items():
                assert await whoami(engine, cid) == pid  # each conversation sticks to its replica
            on_second = [cid for cid, pid in served.items() if pid == second.pid]
            second.kill()
            second.wait(timeout=10)
            for cid in on_second:
                assert await whoami(engine, cid) == primary.pid  # failed over, no error surfaced
            with anyio.fail_after(30):
                while engine.replicas.health()["fx"][u2] == "healthy":
                    await anyio.sleep(0.05)
            # Anonymous calls skip the unhealthy replica too.
            for _ in range(4):
                out = await engine.gateway.call_tool("fx__whoami", {})
                assert json.loads(out["content"][0]["text"])["pid"] == primary.pid
            state = await engine.store.load(on_second[0])  # type: ignore[union-attr]
            assert state is not None and state.tool_errors == 0 and state.tools_used[-1] == "fx__whoami"


@pytest.mark.anyio
async def test_every_replica_receives_the_clients_log_level_opt_in(tmp_path: Path) -> None:
    # `_meta["io.modelcontextprotocol/logLevel"]` is reserved but is the client's own opt-in:
    # forwarded whichever replica serves the call; other reserved keys are still stripped.
    with fixture_http() as (primary, u1), fixture_http() as (second, u2):
        cfg = config_dict(tmp_path, servers={"fx": {"urls": [u1, u2], "timeout": 5}})
        cfg["models"] = {}
        async with Engine(parse_config(json.dumps(cfg), environ={})) as engine:
            seen: dict[int, dict[str, object]] = {}
            for i in range(16):
                meta = {
                    "mcproute/conversation_id": f"c{i}",
                    LOG_LEVEL_META_KEY: "debug",
                    "io.modelcontextprotocol/clientInfo": {"name": "leak"},
                }
                out = await engine.gateway.call_tool("fx__whoami", {}, meta=meta)
                body = json.loads(out["content"][0]["text"])
                seen[int(body["pid"])] = body["meta"]
            assert set(seen) == {primary.pid, second.pid}  # both the gateway's path and the replica hook's
            for received in seen.values():
                assert received.get(LOG_LEVEL_META_KEY) == "debug"
                assert received.get("io.modelcontextprotocol/clientInfo") != {
                    "name": "leak"
                }  # the downstream client's own
