"""`run_step` through the real `mcproute serve` process: stdio and HTTP, both protocol eras, and a
SIGKILL + restart mid-conversation that keeps the conversation's tier and tool affinity."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters

from runtime_support import EASY, HARD, child_env, serve_http, write_config

ERAS = ["auto", "legacy"]


def structured(result: types.CallToolResult) -> dict[str, Any]:
    assert result.structured_content is not None, result
    return dict(result.structured_content)


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.anyio
async def test_run_step_over_stdio(tmp_path: Path, mode: str) -> None:
    config = write_config(tmp_path / "servers.yaml", tmp_path / "data")
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcproute", "serve", "--config", str(config)],
        env=child_env(PYTHONWARNINGS="ignore"),
    )
    async with Client(params, mode=mode) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        assert names[:4] == ["mcproute__route", "mcproute__run_step", "mcproute__search_tools", "mcproute__feedback"]
        first = await client.call_tool("mcproute__run_step", {"text": HARD})
        out = structured(first)
        assert not first.is_error and out["tier"] == "reasoning" and out["tool"].startswith("time__")
        assert out["conversation_source"] == "connection"  # no id given: the stdio connection is the conversation
        cid = out["conversation_id"]
        text = first.content[0]
        assert isinstance(text, types.TextContent) and text.text.startswith(f"conversation_id: {cid} (")
        assert first.meta is not None and first.meta["mcproute/conversation_id"] == cid
        assert any(
            isinstance(c, types.TextContent) and "UTC" in c.text for c in first.content[1:]
        )  # the tool's own result
        second = structured(await client.call_tool("mcproute__run_step", {"text": EASY, "conversation_id": cid}))
        assert second["tier"] == "reasoning" and "1 of 2 confident fast steps" in second["decision"]["sticky_reason"]
        fb = await client.call_tool("mcproute__feedback", {"step_id": second["step_id"], "reward": 1})
        assert not fb.is_error and structured(fb)["reward"] == 1.0


@pytest.mark.anyio
async def test_run_step_over_http_both_eras_and_a_sigkill_restart_keeps_the_conversation(tmp_path: Path) -> None:
    config = write_config(tmp_path / "servers.yaml", tmp_path / "data")
    async with serve_http(config) as (proc, url):
        for mode in ERAS:
            async with Client(url, mode=mode) as client:
                cid = f"http-{mode}"
                step = structured(await client.call_tool("mcproute__run_step", {"text": HARD, "conversation_id": cid}))
                assert (
                    step["tier"] == "reasoning"
                    and step["tool"].startswith("time__")
                    and step["conversation_source"] == "argument"
                )
                route = structured(await client.call_tool("mcproute__route", {"text": EASY, "conversation_id": cid}))
                assert route["tier"] == "reasoning"
                found = structured(
                    await client.call_tool("mcproute__search_tools", {"query": "convert a time between timezones"})
                )
                assert found["tools"][0]["name"] == "time__convert_time" and "inputSchema" in found["tools"][0]
        proc.send_signal(signal.SIGKILL)  # no clean shutdown: the state must already be on disk
        await proc.wait()
    async with serve_http(config) as (_, url), Client(url, mode="auto") as client:
        after = structured(await client.call_tool("mcproute__run_step", {"text": EASY, "conversation_id": "http-auto"}))
        assert after["tier"] == "reasoning" and after["model"] == "deep"  # tier and model kept
        sticky = after["decision"]["sticky_reason"]
        assert "new conversation" not in sticky and "kept time's tools first" in sticky  # tool affinity kept
        fresh = structured(
            await client.call_tool("mcproute__run_step", {"text": EASY + " [text]", "conversation_id": "other"})
        )
        assert fresh["tier"] == "fast"  # and another conversation did not inherit it
