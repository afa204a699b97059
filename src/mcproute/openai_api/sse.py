"""Server-sent events in OpenAI's `chat.completion.chunk` format, built from the provider's
deltas as they arrive (see live.py for the response that sends them).

The stream is: a role chunk when the answering deployment is known, one chunk per text delta,
per tool call its id and name first and then its argument fragments, a last chunk with
`finish_reason`, an optional usage chunk (`stream_options.include_usage`), then `data: [DONE]`.
A failure after the first chunk ends the stream with `data: {"error": {...}}` and no `[DONE]`
(the shape OpenAI's own streams use, which the official clients raise as an `APIError`).
"""

from __future__ import annotations

import json
from typing import Any

from mcproute.openai_api.wire import finish_reason, usage
from mcproute.providers import ChatResult
from mcproute.providers.streaming import TextDelta, ToolCallDelta

DONE = b"data: [DONE]\n\n"


def encode(chunk: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


class ChunkWriter:
    """One completion's chunks: the id, creation time and model are the same on every chunk."""

    def __init__(self, completion_id: str, created: int, model: str, *, include_usage: bool = False) -> None:
        self.completion_id, self.created, self.model = completion_id, created, model
        self.include_usage = include_usage
        self.tools_seen: set[int] = set()

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return encode(
            {
                "id": self.completion_id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            }
        )

    def start(self) -> bytes:
        return self.chunk({"role": "assistant", "content": ""})

    def delta(self, event: TextDelta | ToolCallDelta) -> bytes:
        if isinstance(event, TextDelta):
            return self.chunk({"content": event.text})
        call: dict[str, Any] = {"index": event.index, "function": {"arguments": event.arguments}}
        if event.index not in self.tools_seen:
            self.tools_seen.add(event.index)
            call = {
                "index": event.index,
                "id": event.id,
                "type": "function",
                "function": {"name": event.name, "arguments": event.arguments},
            }
        return self.chunk({"tool_calls": [call]})

    def finish(self, chat: ChatResult) -> bytes:
        out = self.chunk({}, finish_reason(chat))
        if self.include_usage:
            out += encode(
                {
                    "id": self.completion_id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "choices": [],
                    "usage": usage(chat),
                }
            )
        return out + DONE

    @staticmethod
    def error(body: dict[str, Any]) -> bytes:
        return encode(body)
