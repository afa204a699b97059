"""Provider replies as they arrive: neutral stream events, the SSE reader, and the accumulator
that turns a finished stream back into the same `ChatResponse` a whole reply gives.

An adapter's `stream(client, target, request)` is an async iterator of `TextDelta` and
`ToolCallDelta`, ending with one `StreamEnd` that carries the accumulated response (text, tool
calls, usage, stop reason), so usage and cost are accounted exactly as for a whole reply. A
provider without `stream` (the scripted one) is driven through `chat` and replayed
(`stream_of`), so every model can answer a streamed request.

Errors follow http.py: a non-2xx status raises the same typed error before any event (the
reliability layer may then retry elsewhere); an error *inside* the stream (OpenAI's
`data: {"error": ...}`, Anthropic's `event: error`) raises `ProviderServerError`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import httpx

from mcproute.errors import ProviderConnectionError, ProviderProtocolError, ProviderServerError, ProviderTimeout
from mcproute.providers.base import ChatRequest, ChatResponse, Provider, Target, ToolCall, Usage
from mcproute.providers.http import _decode, redact

_MAX_DETAIL = 300


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of tool call `index`: the first piece carries `id` and `name`, later ones more
    `arguments` text (the JSON arrives in fragments on both wires)."""

    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class StreamEnd:
    response: ChatResponse


StreamEvent = TextDelta | ToolCallDelta | StreamEnd


@dataclass
class Accumulator:
    """What the deltas add up to (mutable on purpose: it is filled one delta at a time)."""

    text: list[str] = field(default_factory=list)
    calls: dict[int, list[str]] = field(default_factory=dict)  # index -> [id, name, arguments]
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    stop_reason: str = ""
    thinking: list[Mapping[str, Any]] = field(default_factory=list)

    def add(self, delta: TextDelta | ToolCallDelta) -> None:
        if isinstance(delta, TextDelta):
            self.text.append(delta.text)
            return
        call = self.calls.setdefault(delta.index, ["", "", ""])
        call[0] = call[0] or delta.id
        call[1] = call[1] or delta.name
        call[2] += delta.arguments

    def response(self, provider: str, parse_call: Callable[[str, str, Any], ToolCall]) -> ChatResponse:
        calls = tuple(parse_call(cid or f"call_{i}", name, args) for i, (cid, name, args) in sorted(self.calls.items()))
        return ChatResponse(
            text="".join(self.text),
            tool_calls=calls,
            usage=self.usage,
            model=self.model,
            provider=provider,
            stop_reason=self.stop_reason,
            thinking=tuple(self.thinking),
        )


async def post_sse(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    timeout: float,
    provider: str,
    secrets: Iterable[str | None] = (),
) -> AsyncGenerator[tuple[str, dict[str, Any]], None]:
    """POST and yield `(event name, data object)` per server-sent event; `[DONE]` ends it.
    `timeout` bounds connecting and each read, so a stalled stream fails instead of hanging."""
    secrets = tuple(secrets)
    where = f"{provider} {httpx.URL(url).host}"
    try:
        async with client.stream(
            "POST", url, headers=dict(headers), json=dict(body), timeout=httpx.Timeout(timeout)
        ) as response:
            if response.status_code >= 300 or "text/event-stream" not in response.headers.get("content-type", ""):
                await response.aread()
                _decode(response, where, secrets)  # raises the typed error for a status
                raise ProviderProtocolError(
                    f"{where}: expected an event stream, got content-type "
                    f"{response.headers.get('content-type') or 'none'!r}"
                )
            event, data = "", []
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
                elif not line and data:
                    text = "\n".join(data)
                    if text == "[DONE]":
                        return
                    yield event, _load(text, where)
                    event, data = "", []
    except httpx.TimeoutException:
        raise ProviderTimeout(f"{where}: stream stalled for {timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise ProviderConnectionError(redact(f"{where}: {type(exc).__name__}: {exc}", secrets)[:_MAX_DETAIL]) from None


def _load(text: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProviderProtocolError(f"{where}: stream event is not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ProviderProtocolError(f"{where}: stream event is not a JSON object")
    return data


def stream_error(provider: str, error: Any, secrets: Iterable[str | None]) -> ProviderServerError:
    """An error event inside a stream: the provider failed after it started answering."""
    if isinstance(error, Mapping):
        kind, msg = error.get("type") or error.get("code") or "", str(error.get("message") or "")
        detail = f"{kind}: {msg}" if kind else msg
    else:
        detail = str(error)
    return ProviderServerError(redact(f"{provider}: error in the stream: {detail}", secrets)[:_MAX_DETAIL], 500)


async def stream_of(
    provider: Provider, client: httpx.AsyncClient, target: Target, request: ChatRequest
) -> AsyncGenerator[StreamEvent, None]:
    """The provider's own stream, or its whole reply replayed as one text delta and whole tool calls."""
    stream = getattr(provider, "stream", None)
    if stream is not None:
        async with aclosing(stream(client, target, request)) as events:
            async for event in events:
                yield event
        return
    response = await provider.chat(client, target, request)
    if response.text:
        yield TextDelta(response.text)
    for i, call in enumerate(response.tool_calls):
        yield ToolCallDelta(i, call.id, call.name, json.dumps(dict(call.arguments)))
    yield StreamEnd(response)
