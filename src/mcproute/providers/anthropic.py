"""Anthropic Messages API (`POST {base_url}/v1/messages`, default base `https://api.anthropic.com`).

Mapping from the neutral types:
- system messages are joined into the top-level `system` string;
- an assistant turn with tool calls becomes `text` + `tool_use` blocks (after any `thinking`
  blocks it carried, which the API requires to be sent back unchanged);
- a `tool` message becomes a user turn holding one `tool_result` block (the API merges
  consecutive user turns, so several results in a row stay one turn);
- `thinking_budget` becomes `thinking: {type: enabled, budget_tokens}`; `max_tokens` then
  counts on top of the budget, because the API requires `max_tokens > budget_tokens`.

Usage: Anthropic's `input_tokens` excludes cache reads and cache writes, so the neutral total is
`input_tokens + cache_creation_input_tokens + cache_read_input_tokens`, and cached = cache reads.
Cache writes are billed at the plain input price here (the price table has no write price).

Streaming (`stream`) reads the Messages event stream: `message_start` (input usage),
`content_block_start/delta/stop` (text, `tool_use` with `input_json_delta` fragments, thinking
with its signature), `message_delta` (stop reason, output tokens), `error`. Only text and tool-call
pieces become deltas; thinking blocks are kept whole for the next turn, as in a whole reply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any

import httpx

from mcproute.providers.base import ChatRequest, ChatResponse, Message, Target, ToolCall, Usage
from mcproute.providers.http import post_json, shape_error
from mcproute.providers.openai import _tool_call
from mcproute.providers.streaming import (
    Accumulator,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    post_sse,
    stream_error,
)
from mcproute.providers.tools import ToolNames, to_anthropic_tools

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"


class AnthropicProvider:
    name = "anthropic"

    async def chat(self, client: httpx.AsyncClient, target: Target, request: ChatRequest) -> ChatResponse:
        names = ToolNames(request.tools)
        headers = {"content-type": "application/json", "accept": "application/json", "anthropic-version": API_VERSION}
        if target.api_key:
            headers["x-api-key"] = target.api_key
        data = await post_json(
            client,
            target.base_url.rstrip("/") + "/v1/messages",
            headers=headers,
            body=build_body(target, request, names),
            timeout=target.timeout,
            provider=self.name,
            secrets=(target.api_key,),
        )
        return parse_response(data, names)

    async def stream(
        self, client: httpx.AsyncClient, target: Target, request: ChatRequest
    ) -> AsyncIterator[StreamEvent]:
        names = ToolNames(request.tools)
        headers = {"content-type": "application/json", "accept": "text/event-stream", "anthropic-version": API_VERSION}
        if target.api_key:
            headers["x-api-key"] = target.api_key
        acc = Accumulator()
        tools: dict[int, int] = {}  # content block index -> tool call index
        blocks: dict[int, dict[str, Any]] = {}  # thinking blocks being assembled
        usage: dict[str, int] = {}
        async with aclosing(
            post_sse(
                client,
                target.base_url.rstrip("/") + "/v1/messages",
                headers=headers,
                body={**build_body(target, request, names), "stream": True},
                timeout=target.timeout,
                provider=self.name,
                secrets=(target.api_key,),
            )
        ) as events:
            async for name, data in events:
                kind = data.get("type") or name
                if kind == "error":
                    raise stream_error(self.name, data.get("error"), (target.api_key,))
                if kind == "message_start":
                    message = data.get("message") or {}
                    acc.model = str(message.get("model") or "")
                    usage.update({k: int(v) for k, v in (message.get("usage") or {}).items() if isinstance(v, int)})
                elif kind == "content_block_start":
                    index, block = int(data.get("index", 0)), data.get("content_block") or {}
                    if block.get("type") == "tool_use":
                        tools[index] = len(tools)
                        delta: TextDelta | ToolCallDelta = ToolCallDelta(
                            tools[index], str(block.get("id") or ""), names.mcp(str(block.get("name")))
                        )
                        acc.add(delta)
                        yield delta
                    elif block.get("type") in ("thinking", "redacted_thinking"):
                        blocks[index] = dict(block)
                        acc.thinking.append(blocks[index])
                    elif block.get("type") == "text" and block.get("text"):
                        acc.add(TextDelta(str(block["text"])))
                        yield TextDelta(str(block["text"]))
                elif kind == "content_block_delta":
                    index, d = int(data.get("index", 0)), data.get("delta") or {}
                    if d.get("type") == "text_delta":
                        delta = TextDelta(str(d.get("text") or ""))
                    elif d.get("type") == "input_json_delta" and index in tools:
                        delta = ToolCallDelta(tools[index], arguments=str(d.get("partial_json") or ""))
                    else:
                        if index in blocks:  # thinking_delta / signature_delta: extend the block in place
                            for key in ("thinking", "signature"):
                                if key in d:
                                    blocks[index][key] = str(blocks[index].get(key) or "") + str(d[key])
                        continue
                    acc.add(delta)
                    yield delta
                elif kind == "message_delta":
                    acc.stop_reason = str((data.get("delta") or {}).get("stop_reason") or acc.stop_reason)
                    usage.update({k: int(v) for k, v in (data.get("usage") or {}).items() if isinstance(v, int)})
        acc.usage = _usage(usage)
        yield StreamEnd(acc.response(self.name, _tool_call))


def build_body(target: Target, request: ChatRequest, names: ToolNames) -> dict[str, Any]:
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    body: dict[str, Any] = {
        "model": target.model,
        "max_tokens": request.max_tokens,
        "messages": [_message(m, names) for m in request.messages if m.role != "system"],
    }
    if system:
        body["system"] = system
    budget = (request.thinking_budget or target.default_thinking_budget) if target.reasoning else None
    if budget:
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        body["max_tokens"] = budget + request.max_tokens
    elif request.temperature is not None:
        body["temperature"] = request.temperature  # not allowed together with thinking
    if request.tools:
        body["tools"] = to_anthropic_tools(request.tools, names)
        if request.tool_choice:
            # With thinking on, the API accepts only auto/none; "required" degrades to auto.
            choice = {"auto": "auto", "none": "none", "required": "auto" if budget else "any"}[request.tool_choice]
            body["tool_choice"] = {"type": choice}
    return body


def _message(m: Message, names: ToolNames) -> dict[str, Any]:
    if m.role == "tool":
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": m.tool_call_id or "", "content": m.content}
        if m.is_error:
            block["is_error"] = True
        return {"role": "user", "content": [block]}
    if m.role == "assistant" and (m.tool_calls or m.thinking):
        blocks: list[dict[str, Any]] = [dict(b) for b in m.thinking]
        if m.content:
            blocks.append({"type": "text", "text": m.content})
        blocks += [
            {"type": "tool_use", "id": c.id, "name": names.wire(c.name), "input": dict(c.arguments)}
            for c in m.tool_calls
        ]
        return {"role": "assistant", "content": blocks}
    return {"role": m.role, "content": m.content}


def parse_response(data: Mapping[str, Any], names: ToolNames) -> ChatResponse:
    content = data.get("content")
    if not isinstance(content, list):
        raise shape_error("anthropic", "no 'content' list")
    texts: list[str] = []
    calls: list[ToolCall] = []
    thinking: list[Mapping[str, Any]] = []
    for i, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "tool_use":
            if not isinstance(block.get("name"), str):
                raise shape_error("anthropic", f"content[{i}] tool_use has no name")
            args = block.get("input")
            if isinstance(args, dict):
                calls.append(ToolCall(str(block.get("id") or f"toolu_{i}"), names.mcp(block["name"]), args))
            else:
                calls.append(
                    ToolCall(
                        str(block.get("id") or f"toolu_{i}"),
                        names.mcp(block["name"]),
                        {},
                        f"arguments must be a JSON object, got {type(args).__name__}",
                    )
                )
        elif kind in ("thinking", "redacted_thinking"):
            thinking.append(dict(block))
    return ChatResponse(
        text="".join(texts),
        tool_calls=tuple(calls),
        usage=_usage(data.get("usage") or {}),
        model=str(data.get("model") or ""),
        provider="anthropic",
        stop_reason=str(data.get("stop_reason") or ""),
        thinking=tuple(thinking),
    )


def _usage(usage: Mapping[str, Any]) -> Usage:
    cache_read = int(usage.get("cache_read_input_tokens") or 0)
    total_in = int(usage.get("input_tokens") or 0) + int(usage.get("cache_creation_input_tokens") or 0) + cache_read
    return Usage(total_in, int(usage.get("output_tokens") or 0), cache_read)
