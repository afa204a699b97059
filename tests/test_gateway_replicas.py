"""Replicas (`urls: [...]`) in the gateway: the server stays listed and callable while any replica
is up, and the engine's per-conversation stickiness still holds. Real fixture servers over HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest

from mcproute.config import parse_config
from mcproute.gateway import Gateway
from mcproute.runtime import Engine
from runtime_support import config_dict

FIXTURE = str(Path(__file__).parent / "fixtures" / "gateway_fixture_server.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def fixture_http() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, FIXTURE, "--http", str(port)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "fixture server did not start"
                time.sleep(0.05)
        yield proc, f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def pid_of(result: dict) -> int:
    assert not result.get("isError"), result
    return int(json.loads(result["content"][0]["text"])["pid"])


def gateway_config(urls: list[str]) -> str:
    return json.dumps(
        {"reliability": {"backoff_base": 0.05, "backoff_max": 0.2}, "servers": {"fx": {"urls": urls, "timeout": 5}}}
    )


@pytest.mark.anyio
async def test_primary_down_the_server_stays_listed_healthy_and_callable() -> None:
    with fixture_http() as (primary, u1), fixture_http() as (second, u2):
        async with Gateway(parse_config(gateway_config([u1, u2]), environ={})) as gw:
            assert {u: h.state for u, h in gw.replica_health()["fx"].items()} == {u1: "healthy", u2: "healthy"}
            assert pid_of(await gw.call_tool("fx__whoami", {})) == primary.pid
            primary.kill()
            primary.wait(timeout=10)
            # The call that finds the primary gone fails over to the other replica.
            assert pid_of(await gw.call_tool("fx__whoami", {})) == second.pid
            assert gw.replica_health()["fx"][u1].state != "healthy"
            assert "fx__whoami" in gw.catalog.tools  # still listed
            health = gw.health()["fx"]
            assert health.state == "healthy" and u2 in health.reason and u1 in health.reason
            assert pid_of(await gw.call_tool("fx__whoami", {})) == second.pid
            second.kill()
            second.wait(timeout=10)
            with pytest.raises(Exception, match="fx"):
                await gw.call_tool("fx__whoami", {})
            with anyio.fail_after(30):
                while "fx__whoami" in gw.catalog.tools:  # no replica left: hidden
                    await anyio.sleep(0.05)
            assert gw.health()["fx"].state == "unhealthy"


@pytest.mark.anyio
async def test_the_engine_keeps_conversations_sticky_on_shared_replica_connections(tmp_path: Path) -> None:
    with fixture_http() as (primary, u1), fixture_http() as (second, u2):
        cfg = config_dict(tmp_path, servers={"fx": {"urls": [u1, u2], "timeout": 5}})
        cfg["models"] = {}
        async with Engine(parse_config(json.dumps(cfg), environ={})) as engine:
            assert engine.replicas is not None
            # One connection per replica: the engine uses the gateway's.
            assert engine.replicas.sets["fx"][u2] is engine.gateway.replicas["fx"][u2]

            async def whoami(cid: str) -> int:
                return pid_of(await engine.gateway.call_tool("fx__whoami", {}, meta={"mcproute/conversation_id": cid}))

            served = {f"c{i}": await whoami(f"c{i}") for i in range(12)}
            assert set(served.values()) == {primary.pid, second.pid}
            on_second = [c for c, p in served.items() if p == second.pid]
            primary.kill()
            primary.wait(timeout=10)
            for cid in on_second:
                assert await whoami(cid) == second.pid  # stickiness held
            for cid in served:
                assert await whoami(cid) == second.pid  # the rest failed over, no error surfaced
            assert "fx__whoami" in engine.gateway.catalog.tools
            assert engine.gateway.health()["fx"].state == "healthy"
