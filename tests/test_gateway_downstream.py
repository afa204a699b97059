"""Downstream supervision against real processes: the SDK fixture server and mcp-server-time."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from mcproute.config import parse_config
from mcproute.errors import DownstreamTimeout, DownstreamUnavailable, ToolArgumentsInvalid, UnknownTool
from mcproute.gateway import Gateway

FIXTURE = str(Path(__file__).parent / "fixtures" / "gateway_fixture_server.py")


def config(extra: str = "", *, fixture_args: str = "", timeout: float = 10, mode: str = "auto") -> str:
    return f"""
reliability: {{backoff_base: 0.05, backoff_max: 0.2}}
servers:
  fx:
    command: python
    args: ["{FIXTURE}"{fixture_args}]
    timeout: {timeout}
    mode: {mode}
  time:
    command: python
    args: ["-m", "mcp_server_time", "--local-timezone", "UTC"]
{extra}
"""


def text(result: dict) -> str:
    return result["content"][0]["text"]


async def wait_for(predicate, what: str, limit: float = 20.0) -> None:
    with anyio.fail_after(limit):
        while not predicate():
            await anyio.sleep(0.02)


@pytest.mark.anyio
async def test_servers_start_concurrently_and_a_broken_one_does_not_block() -> None:
    extra = f"""  missing: {{command: does-not-exist-mcproute}}
  refuses: {{command: python, args: ["{FIXTURE}", "--fail-start"]}}
"""
    async with Gateway(parse_config(config(extra))) as gw:
        health = gw.health()
        assert health["fx"].state == health["time"].state == "healthy"
        assert health["missing"].state == "unhealthy"
        assert "does-not-exist-mcproute" in health["missing"].reason
        assert health["refuses"].state == "unhealthy"
        assert "refusing to start" in health["refuses"].reason  # the child's stderr names the cause
        assert "time__get_current_time" in gw.catalog.tools and "fx__echo" in gw.catalog.tools
        result = await gw.call_tool("time__get_current_time", {"timezone": "UTC"})
        assert "UTC" in text(result)
        with pytest.raises(DownstreamUnavailable, match="missing.*unhealthy.*does-not-exist"):
            await gw.call_tool("missing__anything", {})


@pytest.mark.anyio
async def test_kill_9_fails_in_flight_calls_and_the_next_call_after_respawn_succeeds() -> None:
    async with Gateway(parse_config(config(timeout=30))) as gw:
        pid = json.loads(text(await gw.call_tool("fx__whoami", {})))["pid"]
        assert gw.health()["fx"].pid == pid
        errors: list[BaseException] = []

        async def in_flight() -> None:
            try:
                await gw.call_tool("fx__sleep", {"seconds": 60})
            except DownstreamUnavailable as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(in_flight)
            await anyio.sleep(0.3)  # let the calls reach the server
            os.kill(pid, signal.SIGKILL)
            # Well inside the 30 s call timeout: the calls must fail fast, not time out.
            with anyio.fail_after(10):
                while len(errors) < 3:
                    await anyio.sleep(0.02)
        assert all("SIGKILL" in str(e) for e in errors), errors
        await wait_for(lambda: gw.health()["fx"].state == "healthy" and gw.health()["fx"].pid != pid, "respawn")
        new_pid = json.loads(text(await gw.call_tool("fx__whoami", {})))["pid"]
        assert new_pid != pid
        assert gw.health()["fx"].restarts >= 1
        assert "UTC" in text(await gw.call_tool("time__get_current_time", {"timezone": "UTC"}))


@pytest.mark.anyio
async def test_hanging_downstream_times_out_with_a_clear_error_and_others_keep_working() -> None:
    async with Gateway(parse_config(config(timeout=0.5))) as gw:
        with pytest.raises(DownstreamTimeout, match=r"'fx' did not answer tools/call within 0.5s"):
            await gw.call_tool("fx__sleep", {"seconds": 30})
        assert gw.health()["fx"].state == "healthy"
        assert text(await gw.call_tool("fx__echo", {"text": "still here"})) == "still here"


@pytest.mark.anyio
async def test_crash_mid_call_is_reported_and_the_server_comes_back() -> None:
    async with Gateway(parse_config(config())) as gw:
        changes: list[int] = []
        gw.on_catalog_change(lambda cat: changes.append(len(cat.tools)))
        with pytest.raises(DownstreamUnavailable, match="exited with code 3"):
            await gw.call_tool("fx__crash", {})
        await wait_for(lambda: gw.health()["fx"].state == "healthy" and "fx__echo" in gw.catalog.tools, "recovery")
        assert text(await gw.call_tool("fx__echo", {"text": "back"})) == "back"
        # Tools were hidden while it was down, then came back: both were announced.
        await wait_for(lambda: len(changes) >= 2, "change notifications")


@pytest.mark.anyio
async def test_garbage_answer_is_a_clear_error() -> None:
    async with Gateway(parse_config(config(timeout=5))) as gw:
        with pytest.raises(DownstreamUnavailable, match="malformed result"):
            await gw.call_tool("fx__garbage", {})
        # A non-JSON line on stdout does not break the connection either.
        assert text(await gw.call_tool("fx__noise", {})) == "after noise"
        assert text(await gw.call_tool("fx__add", {"a": 2, "b": 3})) == "5"


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.anyio
async def test_downstream_tool_list_change_reaches_the_catalogue(mode: str) -> None:
    async with Gateway(parse_config(config(mode=mode))) as gw:
        seen: list[list[str]] = []
        gw.on_catalog_change(lambda cat: seen.append(list(cat.tools)))
        assert "fx__grown_1" not in gw.catalog.tools
        await gw.call_tool("fx__grow", {})
        await wait_for(lambda: "fx__grown_1" in gw.catalog.tools, "re-list after list_changed")
        await wait_for(lambda: any("fx__grown_1" in s for s in seen), "listener")
        assert text(await gw.call_tool("fx__grown_1", {})) == "grown_1"


@pytest.mark.anyio
async def test_bad_calls_are_refused_before_forwarding() -> None:
    async with Gateway(parse_config(config())) as gw:
        with pytest.raises(UnknownTool, match="did you mean 'fx__echo'"):
            await gw.call_tool("fx__ecko", {"text": "x"})
        with pytest.raises(ToolArgumentsInvalid, match=r"arguments.a: 'two' is not of type 'integer'"):
            await gw.call_tool("fx__add", {"a": "two", "b": 3})
        with pytest.raises(ToolArgumentsInvalid, match="'text' is a required property"):
            await gw.call_tool("fx__echo", {})


@pytest.mark.anyio
async def test_downstream_error_passes_through_and_reserved_meta_is_stripped() -> None:
    async with Gateway(parse_config(config())) as gw:
        meta = {"io.modelcontextprotocol/clientInfo": {"name": "spy"}, "trace": "abc"}
        seen = json.loads(text(await gw.call_tool("fx__whoami", {}, meta=meta)))
        assert seen["meta"].get("trace") == "abc"
        forwarded_client = seen["meta"].get("io.modelcontextprotocol/clientInfo", {})
        assert forwarded_client.get("name") != "spy"  # ours, or none: never the caller's
        # The downstream's own tool error comes back as it sent it.
        failed = await gw.call_tool("time__get_current_time", {"timezone": "Not/AZone"})
        assert failed["isError"] is True and "Not/AZone" in text(failed)


@pytest.mark.anyio
async def test_programmatic_call_cannot_answer_sampling_and_says_so() -> None:
    async with Gateway(parse_config(config(mode="legacy"))) as gw:
        with pytest.raises(MCPError, match="no upstream client request is in flight"):
            await gw.call_tool("fx__sample", {"prompt": "hi"})


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.anyio
async def test_streamable_http_downstream_in_both_eras(mode: str) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, FIXTURE, "--http", str(port)], stderr=subprocess.DEVNULL)
    try:
        with anyio.fail_after(20):
            while True:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                await anyio.sleep(0.05)
        text_cfg = f"""
servers:
  remote: {{url: "http://127.0.0.1:{port}/mcp", mode: {mode}, headers: {{X-Test: "1"}}}}
"""
        async with Gateway(parse_config(text_cfg)) as gw:
            health = gw.health()["remote"]
            assert health.state == "healthy", health.reason
            assert health.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25")
            assert text(await gw.call_tool("remote__add", {"a": 20, "b": 22})) == "42"
    finally:
        proc.terminate()
        proc.wait(10)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.anyio
async def test_shutdown_with_two_stdio_servers_stops_and_reaps_both_even_a_stubborn_one() -> None:
    # `time` exits when its stdin closes; `stubborn` ignores stdin EOF and SIGTERM, so only the
    # last step of the shutdown sequence (SIGKILL of its process group) stops it.
    extra = f"""  stubborn: {{command: python, args: ["{FIXTURE}", "--stubborn"]}}
"""
    gw = Gateway(parse_config(config(extra)))
    async with gw:
        pids = {name: h.pid for name, h in gw.health().items() if name in ("time", "stubborn")}
        assert all(pids.values()) and all(h.state == "healthy" for h in gw.health().values()), gw.health()
        assert (await gw.call_tool("stubborn__echo", {"text": "hi"}))["content"][0]["text"] == "hi"
    assert [name for name, pid in pids.items() if pid is not None and _alive(pid)] == []
