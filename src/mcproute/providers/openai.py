"""OpenAI-compatible Chat Completions (`POST {base_url}/chat/completions`): OpenAI, vLLM, Ollama,
llama.cpp server, OpenRouter. `base_url` includes the version segment, as in the OpenAI SDK
(default `https://api.openai.com/v1`).

Choices where servers differ: reasoning models get `max_completion_tokens` and
`reasoning_effort` and never `temperature` (OpenAI rejects it for them); other models get the
older `max_tokens`, which every compatible server understands.

Streaming (`stream`) asks for `stream: true` with `stream_options: {include_usage: true}`, so the
last chunk carries the usage that cost is computed from; a server that ignores the option simply
leaves usage at zero.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any

import httpx

from mcproute.providers.base import ChatRequest, ChatResponse, Message, Target, ToolCall, Usage
from mcproute.providers.http import post_json, shape_error
from mcproute.providers.streaming import (
    Accumulator,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    post_sse,
    stream_error,
)
from mcproute.providers.tools import ToolNames, to_openai_tools

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIProvider:
    name = "openai"

    async def chat(self, client: httpx.AsyncClient, target: Target, request: ChatRequest) -> ChatResponse:
        names = ToolNames(request.tools)
        headers = {"content-type": "application/json", "accept": "application/json"}
        if target.api_key:
            headers["authorization"] = f"Bearer {target.api_key}"
        data = await post_json(
            client,
            target.base_url.rstrip("/") + "/chat/completions",
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
        headers = {"content-type": "application/json", "accept": "text/event-stream"}
        if target.api_key:
            headers["authorization"] = f"Bearer {target.api_key}"
        body = {**build_body(target, request, names), "stream": True, "stream_options": {"include_usage": True}}
        acc = Accumulator()
        async with aclosing(
            post_sse(
                client,
                target.base_url.rstrip("/") + "/chat/completions",
                headers=headers,
                body=body,
                timeout=target.timeout,
                provider=self.name,
                secrets=(target.api_key,),
            )
        ) as events:
            async for _, chunk in events:
                if chunk.get("error"):
                    raise stream_error(self.name, chunk["error"], (target.api_key,))
                acc.model = acc.model or str(chunk.get("model") or "")
                if isinstance(chunk.get("usage"), dict):
                    acc.usage = _usage(chunk["usage"])
                for choice in chunk.get("choices") or []:
                    for delta in _deltas(choice.get("delta") or {}, names):
                        acc.add(delta)
                        yield delta
                    if choice.get("finish_reason"):
                        acc.stop_reason = str(choice["finish_reason"])
        yield StreamEnd(acc.response(self.name, _tool_call))


def build_body(target: Target, request: ChatRequest, names: ToolNames) -> dict[str, Any]:
    body: dict[str, Any] = {"model": target.model, "messages": [_message(m, names) for m in request.messages]}
    if target.reasoning:
        body["max_completion_tokens"] = request.max_tokens
        effort = request.reasoning_effort or target.default_reasoning_effort
        if effort:
            body["reasoning_effort"] = effort
    else:
        body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
    if request.tools:
        body["tools"] = to_openai_tools(request.tools, names)
        if request.tool_choice:
            body["tool_choice"] = request.tool_choice
    return body


def _message(m: Message, names: ToolNames) -> dict[str, Any]:
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content}
    if m.role == "assistant" and m.tool_calls:
        return {
            "role": "assistant",
            "content": m.content or None,
            "tool_calls": [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": names.wire(c.name), "arguments": json.dumps(dict(c.arguments))},
                }
                for c in m.tool_calls
            ],
        }
    return {"role": m.role, "content": m.content}


def parse_response(data: Mapping[str, Any], names: ToolNames) -> ChatResponse:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise shape_error("openai", "no 'choices[0]'")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise shape_error("openai", "no 'choices[0].message'")
    calls = []
    for i, raw in enumerate(message.get("tool_calls") or []):
        fn = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise shape_error("openai", f"tool_calls[{i}] has no function name")
        calls.append(_tool_call(str(raw.get("id") or f"call_{i}"), names.mcp(fn["name"]), fn.get("arguments")))
    return ChatResponse(
        text=message.get("content") or "",
        tool_calls=tuple(calls),
        usage=_usage(data.get("usage") or {}),
        model=str(data.get("model") or ""),
        provider="openai",
        stop_reason=str(choices[0].get("finish_reason") or ""),
    )


def _usage(usage: Mapping[str, Any]) -> Usage:
    details = usage.get("prompt_tokens_details") or {}
    return Usage(
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
        int(details.get("cached_tokens") or 0),
    )


def _deltas(delta: Mapping[str, Any], names: ToolNames) -> list[TextDelta | ToolCallDelta]:
    out: list[TextDelta | ToolCallDelta] = []
    if delta.get("content"):
        out.append(TextDelta(str(delta["content"])))
    for i, call in enumerate(delta.get("tool_calls") or []):
        fn = call.get("function") or {}
        name = fn.get("name")
        out.append(
            ToolCallDelta(
                int(call.get("index", i)),
                str(call.get("id") or ""),
                names.mcp(name) if name else "",
                str(fn.get("arguments") or ""),
            )
        )
    return out


def _tool_call(call_id: str, name: str, arguments: Any) -> ToolCall:
    # OpenAI sends arguments as a JSON *string* the model wrote; it may be broken JSON.
    if isinstance(arguments, dict):
        return ToolCall(call_id, name, arguments)
    try:
        parsed = json.loads(arguments or "{}")
    except (json.JSONDecodeError, TypeError) as exc:
        return ToolCall(
            call_id,
            name,
            {},
            f"arguments are not valid JSON ({exc.msg if isinstance(exc, json.JSONDecodeError) else exc})",
        )
    if not isinstance(parsed, dict):
        return ToolCall(call_id, name, {}, f"arguments must be a JSON object, got {type(parsed).__name__}")
    return ToolCall(call_id, name, parsed)
