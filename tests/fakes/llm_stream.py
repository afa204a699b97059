"""Streamed replies of the fake LLM server (llm_server.py): OpenAI `chat.completion.chunk`
events and the Anthropic Messages event stream, sent one piece at a time.

A `Fault` controls the pace: `piece_delay` between pieces, and `gate` (an `anyio.Event` the test
holds) that the *last* text piece waits for, so a test can prove the client already has the
first pieces while the provider has not finished. `fail_after=n` sends an error event after n
text pieces instead of finishing (a provider failing mid-reply).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
from starlette.responses import StreamingResponse

if TYPE_CHECKING:
    from fakes.llm_server import Fault, Recorded


def text_pieces(text: str) -> list[str]:
    """Word by word, spaces kept, so the pieces join back to `text`."""
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)] if text else []


def _sse(data: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return (head + "data: " + json.dumps(data) + "\n\n").encode()


async def _paced(fault: Fault, pieces: list[str]) -> AsyncIterator[tuple[int, str]]:
    for i, piece in enumerate(pieces):
        if i and fault.piece_delay:
            await anyio.sleep(fault.piece_delay)
        if i == len(pieces) - 1 and fault.gate is not None:
            await fault.gate.wait()
        yield i, piece


def openai_stream(fault: Fault, rec: Recorded) -> StreamingResponse:
    model = rec.body.get("model", "")
    include_usage = bool((rec.body.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _sse(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )

    async def events() -> AsyncIterator[bytes]:
        yield chunk({"role": "assistant", "content": ""})
        async for i, piece in _paced(fault, text_pieces(fault.text)):
            if fault.fail_after is not None and i == fault.fail_after:
                yield _sse(
                    {
                        "error": {
                            "message": "The server had an error while processing your request.",
                            "type": "server_error",
                        }
                    }
                )
                return
            yield chunk({"content": piece})
        for n, c in enumerate(fault.tool_calls):
            args = c["arguments"] if isinstance(c["arguments"], str) else json.dumps(c["arguments"])
            half = len(args) // 2
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": n,
                            "id": c.get("id", f"call_{n}"),
                            "type": "function",
                            "function": {"name": c["name"], "arguments": args[:half]},
                        }
                    ]
                }
            )
            yield chunk({"tool_calls": [{"index": n, "function": {"arguments": args[half:]}}]})
        yield chunk({}, "tool_calls" if fault.tool_calls else "stop")
        if include_usage:
            u = fault.usage
            yield _sse(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 1700000000,
                    "model": model,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": u["input"],
                        "completion_tokens": u["output"],
                        "total_tokens": u["input"] + u["output"],
                        "prompt_tokens_details": {"cached_tokens": u.get("cached_input", 0)},
                    },
                }
            )
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


def anthropic_stream(fault: Fault, rec: Recorded) -> StreamingResponse:
    u = fault.usage
    cached = u.get("cached_input", 0)

    async def events() -> AsyncIterator[bytes]:
        yield _sse(
            {
                "type": "message_start",
                "message": {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": rec.body.get("model", ""),
                    "stop_reason": None,
                    "usage": {
                        "input_tokens": u["input"] - cached,
                        "output_tokens": 1,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": cached,
                    },
                },
            },
            "message_start",
        )
        yield _sse({"type": "ping"}, "ping")
        index = 0
        if fault.thinking:  # a thinking block arrives in pieces, its signature last
            yield _sse(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                },
                "content_block_start",
            )
            for piece in text_pieces(fault.thinking):
                yield _sse(
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": piece}},
                    "content_block_delta",
                )
            yield _sse(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "signature_delta", "signature": "sig-fake"},
                },
                "content_block_delta",
            )
            yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
            index = 1
        if fault.text:
            yield _sse(
                {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
                "content_block_start",
            )
            async for i, piece in _paced(fault, text_pieces(fault.text)):
                if fault.fail_after is not None and i == fault.fail_after:
                    yield _sse(
                        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "error"
                    )
                    return
                yield _sse(
                    {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}},
                    "content_block_delta",
                )
            yield _sse({"type": "content_block_stop", "index": index}, "content_block_stop")
            index += 1
        for n, c in enumerate(fault.tool_calls):
            args = json.dumps(c["arguments"])
            yield _sse(
                {
                    "type": "content_block_start",
                    "index": index + n,
                    "content_block": {
                        "type": "tool_use",
                        "id": c.get("id", f"toolu_{n}"),
                        "name": c["name"],
                        "input": {},
                    },
                },
                "content_block_start",
            )
            for part in (args[: len(args) // 2], args[len(args) // 2 :]):
                yield _sse(
                    {
                        "type": "content_block_delta",
                        "index": index + n,
                        "delta": {"type": "input_json_delta", "partial_json": part},
                    },
                    "content_block_delta",
                )
            yield _sse({"type": "content_block_stop", "index": index + n}, "content_block_stop")
        yield _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use" if fault.tool_calls else "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": u["output"]},
            },
            "message_delta",
        )
        yield _sse({"type": "message_stop"}, "message_stop")

    return StreamingResponse(events(), media_type="text/event-stream")
