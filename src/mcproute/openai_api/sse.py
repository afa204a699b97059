"""Server-sent events in OpenAI's `chat.completion.chunk` format.

The provider layer returns whole replies (it has no streaming), so a stream is *synthesised* from
the full reply: the role, the text in word-aligned pieces, each tool call (id and name first, then
its arguments), a last chunk with `finish_reason`, an optional usage chunk
(`stream_options.include_usage`), then `data: [DONE]`. Clients see a correct stream; the first
byte simply arrives when the model has finished. The decision is known before the first chunk, so
it still travels in the response headers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mcproute.openai_api.wire import finish_reason, tool_calls, usage
from mcproute.providers import ChatResult

PIECE_CHARS = 24  # roughly a few tokens per delta, like a real stream


def pieces(text: str, size: int = PIECE_CHARS) -> Iterator[str]:
    """Split at whitespace after at least `size` characters; joining the pieces gives `text` back."""
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        while end < len(text) and not text[end].isspace():
            end += 1
        yield text[start:end]
        start = end


def chunks(chat: ChatResult, completion_id: str, created: int, *, include_usage: bool = False) -> Iterator[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": chat.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}

    yield chunk({"role": "assistant", "content": ""})
    for piece in pieces(chat.response.text):
        yield chunk({"content": piece})
    for i, call in enumerate(tool_calls(chat)):
        fn = call["function"]
        yield chunk({"tool_calls": [{"index": i, "id": call["id"], "type": "function", "function": {"name": fn["name"], "arguments": ""}}]})
        for piece in pieces(fn["arguments"]):
            yield chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
    yield chunk({}, finish_reason(chat))
    if include_usage:
        yield {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": chat.model,
               "choices": [], "usage": usage(chat)}


def encode(chunk: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


def event_stream(chat: ChatResult, completion_id: str, created: int, *, include_usage: bool = False) -> Iterator[bytes]:
    for c in chunks(chat, completion_id, created, include_usage=include_usage):
        yield encode(c)
    yield DONE
