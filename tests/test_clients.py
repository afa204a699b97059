"""Stickiness with the MCP clients people use, against a real `mcproute serve` subprocess.

Each client is the real library (the official SDK's `mcp.Client`, fastmcp's `Client`,
openai-agents' `MCPServerStdio`/`MCPServerStreamableHttp`, pydantic-ai's `MCPToolset` driven by an
`Agent`), used the way docs/clients.md shows: over stdio one open connection is one conversation
with nothing to pass; over HTTP a 2026-07-28 client passes the returned (or its own) id back by
argument, `_meta` or header. langchain-mcp-adapters and mcp-use pin `mcp` < 2, so they cannot share
this venv (docs/clients.md says how their lines were checked).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters

from runtime_support import EASY, HARD, child_env, serve_http, write_config

pytestmark = pytest.mark.anyio
RUN_STEP = "mcproute__run_step"
META_KEY = "mcproute/conversation_id"


def structured(result: Any) -> dict[str, Any]:
    out = getattr(result, "structured_content", None)
    assert out is not None, result
    return dict(out)


def serve_args(config: Path) -> list[str]:
    return ["-m", "mcproute", "serve", "--config", str(config)]


def assert_one_conversation(steps: list[dict[str, Any]], source: str) -> None:
    """Every step in one conversation, named by `source`, and only the first one new."""
    assert len({s["conversation_id"] for s in steps}) == 1, [s["conversation_id"] for s in steps]
    assert [s["conversation_source"] for s in steps] == [source] * len(steps)
    assert "new conversation" in steps[0]["decision"]["sticky_reason"]
    assert all("new conversation" not in s["decision"]["sticky_reason"] for s in steps[1:])
    assert steps[0]["tier"] == steps[1]["tier"] == "reasoning"  # the hard start holds the next (easy) step


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_sdk_client_over_stdio_one_connection_is_one_conversation(tmp_path: Path, mode: str) -> None:
    config = write_config(tmp_path / "servers.yaml", tmp_path / "data")
    params = StdioServerParameters(
        command=sys.executable, args=serve_args(config), env=child_env(PYTHONWARNINGS="ignore")
    )
    async with Client(params, mode=mode) as client:
        first = await client.call_tool(RUN_STEP, {"text": HARD})
        # null for omitted optional arguments (what mcp-use sends) is accepted as "not given"
        second = await client.call_tool(RUN_STEP, {"text": EASY, "conversation_id": None, "top_k": None, "tier": None})
        third = await client.call_tool(RUN_STEP, {"text": EASY, "model": None})
        assert not (first.is_error or second.is_error or third.is_error), second.content
        steps = [structured(r) for r in (first, second, third)]
    assert_one_conversation(steps, "connection")
    cid = steps[0]["conversation_id"]
    head = first.content[0]
    assert isinstance(head, types.TextContent) and head.text.startswith(
        f"conversation_id: {cid} (this connection's conversation"
    )
    assert first.meta is not None and first.meta[META_KEY] == cid


async def test_the_switch_turns_connection_conversations_off(tmp_path: Path) -> None:
    config = write_config(tmp_path / "servers.yaml", tmp_path / "data", conversation_from_connection=False)
    params = StdioServerParameters(
        command=sys.executable, args=serve_args(config), env=child_env(PYTHONWARNINGS="ignore")
    )
    async with Client(params) as client:
        results = [await client.call_tool(RUN_STEP, {"text": EASY}) for _ in range(2)]
        null_downstream = await client.call_tool("time__get_current_time", {"timezone": None})
    steps = [structured(r) for r in results]
    assert [s["conversation_source"] for s in steps] == ["new", "new"]
    assert steps[0]["conversation_id"] != steps[1]["conversation_id"]
    head = results[0].content[0]
    cid = steps[0]["conversation_id"]
    assert isinstance(head, types.TextContent)
    assert head.text.startswith(f"conversation_id: {cid} (a new conversation: pass conversation_id={cid} on your next")
    # A downstream tool's arguments are passed untouched: null is not "omitted" there.
    assert null_downstream.is_error and "timezone" in str(null_downstream.content)


async def test_framework_clients_over_stdio_stay_in_one_conversation(tmp_path: Path) -> None:
    """fastmcp, openai-agents and pydantic-ai hold one stdio session open: nothing to pass."""
    from agents.mcp import MCPServerStdio
    from fastmcp import Client as FastMCPClient
    from fastmcp.client.transports import StdioTransport
    from pydantic_ai import Agent
    from pydantic_ai.mcp import MCPToolset
    from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    config = write_config(tmp_path / "servers.yaml", tmp_path / "data")
    env = child_env(PYTHONWARNINGS="ignore")

    async with FastMCPClient(StdioTransport(sys.executable, serve_args(config), env=env)) as fm:
        fastmcp_steps = [structured(await fm.call_tool(RUN_STEP, {"text": t})) for t in (HARD, EASY, EASY)]
    assert_one_conversation(fastmcp_steps, "connection")

    async with MCPServerStdio(
        params={"command": sys.executable, "args": serve_args(config), "env": env}, client_session_timeout_seconds=60
    ) as server:
        agents_steps = [structured(await server.call_tool(RUN_STEP, {"text": t})) for t in (HARD, EASY, EASY)]
    assert_one_conversation(agents_steps, "connection")
    assert (
        agents_steps[0]["conversation_id"] != fastmcp_steps[0]["conversation_id"]
    )  # another connection, another conversation

    # pydantic-ai: a real Agent run whose (scripted) model calls run_step three times.
    texts = iter((HARD, EASY, EASY))
    returned: list[Any] = []

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        returned.extend(
            p.content for m in messages[-1:] for p in getattr(m, "parts", []) if isinstance(p, ToolReturnPart)
        )
        text = next(texts, None)
        if text is None:
            return ModelResponse(parts=[TextPart("done")])
        return ModelResponse(parts=[ToolCallPart(RUN_STEP, {"text": text})])

    toolset = MCPToolset(FastMCPClient(StdioTransport(sys.executable, serve_args(config), env=env), init_timeout=60))
    agent = Agent(FunctionModel(model), toolsets=[toolset])
    async with agent:
        result = await agent.run("plan a call, then check the time")
    assert result.output == "done" and len(returned) == 3
    pai_steps = [r if isinstance(r, dict) else {} for r in returned]
    assert all("conversation_id" in s for s in pai_steps), returned
    assert_one_conversation(pai_steps, "connection")


async def test_http_clients_pass_the_id_back(tmp_path: Path) -> None:
    """Over HTTP a handshake-era session is one conversation; a 2026-07-28 request has no
    session, so the client hands the id back (argument, `_meta`, header) or chooses its own."""
    from agents.mcp import MCPServerStreamableHttp
    from fastmcp import Client as FastMCPClient
    from fastmcp.client.transports import StreamableHttpTransport
    from pydantic_ai.mcp import MCPToolset

    config = write_config(tmp_path / "servers.yaml", tmp_path / "data")
    async with serve_http(config) as (_, url):
        async with Client(url, mode="legacy") as legacy:
            steps = [structured(await legacy.call_tool(RUN_STEP, {"text": t})) for t in (HARD, EASY, EASY)]
        assert_one_conversation(steps, "session")

        async with Client(url, mode="auto") as modern:
            first = structured(await modern.call_tool(RUN_STEP, {"text": HARD}))
            assert first["conversation_source"] == "new"
            cid = first["conversation_id"]
            by_arg = structured(await modern.call_tool(RUN_STEP, {"text": EASY, "conversation_id": cid}))
            by_meta = structured(await modern.call_tool(RUN_STEP, {"text": EASY}, meta={META_KEY: cid}))
        assert [s["conversation_source"] for s in (by_arg, by_meta)] == ["argument", "meta"]
        assert {s["conversation_id"] for s in (first, by_arg, by_meta)} == {cid}
        assert by_arg["tier"] == "reasoning" and "new conversation" not in by_arg["decision"]["sticky_reason"]

        # fastmcp: the id from the first result's _meta, echoed as _meta on later calls.
        async with FastMCPClient(StreamableHttpTransport(url)) as fm:
            r1 = await fm.call_tool(RUN_STEP, {"text": HARD})
            cid = r1.meta[META_KEY] if r1.meta else None
            assert cid == structured(r1)["conversation_id"]
            r2 = structured(await fm.call_tool(RUN_STEP, {"text": EASY}, meta={META_KEY: cid}))
        assert r2["conversation_id"] == cid and r2["conversation_source"] == "meta" and r2["tier"] == "reasoning"

        # openai-agents and pydantic-ai: choose the id yourself and send it as a header.
        async with MCPServerStreamableHttp(
            params={"url": url, "headers": {"X-Conversation-Id": "agents-thread-1"}}, client_session_timeout_seconds=60
        ) as server:
            agents_steps = [structured(await server.call_tool(RUN_STEP, {"text": t})) for t in (HARD, EASY)]
        assert [(s["conversation_id"], s["conversation_source"]) for s in agents_steps] == [
            ("agents-thread-1", "header")
        ] * 2
        assert agents_steps[1]["tier"] == "reasoning"

        toolset = MCPToolset(url, headers={"X-Conversation-Id": "pydantic-thread-1"})
        async with toolset:
            pai = [await toolset.direct_call_tool(RUN_STEP, {"text": t}) for t in (HARD, EASY)]
        assert [(s["conversation_id"], s["conversation_source"]) for s in pai] == [("pydantic-thread-1", "header")] * 2


async def test_bundled_config_without_keys_makes_no_error_spans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """servers.yaml as shipped, on a machine with no provider keys: the keyless models are never
    attempted, so a step's trace has no red `chat quick` span, only the model that answered."""
    import json

    import anyio

    from mcproute.telemetry import semconv as sc
    from mcproute.telemetry.reader import read_jsonl

    repo = Path(__file__).resolve().parent.parent
    bundled = (repo / "servers.yaml").read_text(encoding="utf-8")
    assert "\ndata_dir: .mcproute\n" in bundled and "${OPENAI_API_KEY}" in bundled
    config = tmp_path / "servers.yaml"
    config.write_text(
        bundled.replace("\ndata_dir: .mcproute\n", f"\ndata_dir: {json.dumps(str(tmp_path / 'data'))}\n").replace(
            "\n    cwd: .\n", f"\n    cwd: {json.dumps(str(repo))}\n"
        ),
        encoding="utf-8",
    )
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    async with serve_http(config, OTEL_BSP_SCHEDULE_DELAY="50") as (_, url), Client(url) as client:
        cid = "bundled"
        for text in ("what time is it in Tokyo?", "show the git log of this repository"):
            step = structured(await client.call_tool(RUN_STEP, {"text": text, "conversation_id": cid}))
            assert step["model"] in ("offline-fast", "offline-reasoning") and not step["tool_error"], step
        path = tmp_path / "data" / "traces.jsonl"
        spans: list[Any] = []
        with anyio.fail_after(20):
            while sum(s.name == sc.ROUTE_SPAN_NAME for s in spans) < 2:
                await anyio.sleep(0.1)
                spans = read_jsonl(path) if path.exists() else []
    chats = [s for s in spans if s.name.startswith("chat ")]
    assert chats and {s.attributes[sc.DECISION_MODEL] for s in chats} <= {"offline-fast", "offline-reasoning"}
    assert [s.name for s in spans if s.status == "ERROR"] == []
    assert not any(sc.FALLBACK_FROM in s.attributes for s in chats)  # the decided model answered: nothing fell back
