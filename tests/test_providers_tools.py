"""MCP tool schemas <-> provider formats, and typed errors for bad tool calls by a model."""

from __future__ import annotations

import pytest

from fakes.llm_server import fake_llm, ok
from fakes.pools import make_pool
from mcproute.errors import ModelCalledUnknownTool, ModelToolArgumentsInvalid, ModelToolCallError, ProviderError
from mcproute.providers import ChatRequest, ChatResponse, ToolCall, ToolDef, http_client, validate_tool_calls
from mcproute.providers.tools import (
    ToolNames,
    from_anthropic_tools,
    from_openai_tools,
    to_anthropic_tools,
    to_openai_tools,
)

SCHEMA = {
    "type": "object",
    "properties": {"tz": {"type": "string"}, "n": {"type": "integer", "minimum": 1}},
    "required": ["tz"],
}
TOOLS = [{"name": "time__now", "description": "current time", "inputSchema": SCHEMA}]


def reply(*calls: ToolCall) -> ChatResponse:
    return ChatResponse("", calls)


def test_valid_calls_pass_through() -> None:
    r = reply(ToolCall("1", "time__now", {"tz": "UTC", "n": 2}))
    assert validate_tool_calls(r, TOOLS) is r


def test_unknown_tool_is_its_own_typed_error() -> None:
    with pytest.raises(ModelCalledUnknownTool) as info:
        validate_tool_calls(reply(ToolCall("1", "time__tomorrow", {})), TOOLS)
    assert info.value.tool == "time__tomorrow" and "unknown tool 'time__tomorrow'" in str(info.value)
    assert isinstance(info.value, ModelToolCallError) and not isinstance(info.value, ProviderError)


def test_arguments_failing_the_schema_name_every_problem() -> None:
    with pytest.raises(ModelToolArgumentsInvalid) as info:
        validate_tool_calls(reply(ToolCall("1", "time__now", {"n": 0})), TOOLS)
    assert info.value.tool == "time__now"
    assert any("'tz' is a required property" in p for p in info.value.problems)
    assert any(p.startswith("n:") and "minimum" in p for p in info.value.problems)


def test_arguments_that_were_not_json_are_invalid_arguments() -> None:
    with pytest.raises(ModelToolArgumentsInvalid, match="not valid JSON"):
        validate_tool_calls(
            reply(ToolCall("1", "time__now", {}, "arguments are not valid JSON (Expecting value)")), TOOLS
        )


def test_names_are_made_provider_safe_and_mapped_back() -> None:
    long = "server." + "x" * 80
    tools = [ToolDef("git.log"), ToolDef("git_log"), ToolDef(long), ToolDef("ok-name_1")]
    names = ToolNames(tools)
    wires = [names.wire(t.name) for t in tools]
    assert len(set(wires)) == 4 and wires[3] == "ok-name_1" and wires[1] == "git_log"
    assert all(len(w) <= 64 and all(c.isalnum() or c in "_-" for c in w) for w in wires)
    assert [names.mcp(w) for w in wires] == [t.name for t in tools]
    assert names.mcp("invented") == "invented"  # left for validate_tool_calls to reject


def test_schema_translation_round_trips_for_both_providers() -> None:
    tools = [ToolDef.from_mcp(t) for t in TOOLS]
    names = ToolNames(tools)
    oa = to_openai_tools(tools, names)
    assert oa == [
        {"type": "function", "function": {"name": "time__now", "description": "current time", "parameters": SCHEMA}}
    ]
    an = to_anthropic_tools(tools, names)
    assert an == [{"name": "time__now", "description": "current time", "input_schema": SCHEMA}]
    assert from_openai_tools(oa) == tools and from_anthropic_tools(an) == tools
    assert [t.to_mcp() for t in tools] == TOOLS


@pytest.mark.anyio
async def test_a_real_reply_calling_a_missing_tool_raises_the_typed_error() -> None:
    async with fake_llm() as srv, http_client() as client:
        srv.queue(
            ok("", tool_calls=({"name": "time__now", "arguments": {"tz": 5}},)),
            ok("", tool_calls=({"name": "rm_rf", "arguments": {}},)),
        )
        pool = make_pool(
            {"models": {"quick": {"provider": "openai", "tier": "fast", "base_url": srv.openai_url}}}, client
        )
        request = ChatRequest.build([{"role": "user", "content": "time?"}], TOOLS)
        bad_args = await pool.chat(request, tier="fast")
        unknown = await pool.chat(request, tier="fast")
    with pytest.raises(ModelToolArgumentsInvalid, match="tz: 5 is not of type 'string'"):
        validate_tool_calls(bad_args.response, request.tools)
    with pytest.raises(ModelCalledUnknownTool):
        validate_tool_calls(unknown.response, request.tools)


def test_mcp_sdk_tool_objects_are_accepted() -> None:
    import mcp_types

    tool = mcp_types.Tool(name="time__now", description="current time", inputSchema=SCHEMA)
    assert ToolDef.from_mcp(tool) == ToolDef.from_mcp(TOOLS[0])
    with pytest.raises(ModelToolArgumentsInvalid):
        validate_tool_calls(reply(ToolCall("1", "time__now", {})), [tool])
