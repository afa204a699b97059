"""Fault-injecting OpenAI-compatible and Anthropic-compatible servers over real HTTP on loopback.

One Starlette app served by uvicorn on 127.0.0.1, port 0, in the test's own event loop:
- `POST /v1/chat/completions` answers in the OpenAI Chat Completions shape
  (`choices[0].message.tool_calls[].function.arguments` as a JSON string, `usage.prompt_tokens`
  including `prompt_tokens_details.cached_tokens`, errors as `{"error": {message, type, code}}`);
- either answers as an event stream when the request says `stream: true` (llm_stream.py);
- `POST /v1/messages` answers in the Anthropic Messages shape (`content` blocks of
  `text`/`tool_use`/`thinking`, `usage.input_tokens` excluding `cache_read_input_tokens`,
  errors as `{"type": "error", "error": {"type": "overloaded_error", ...}, "request_id": ...}`).

Each request consumes the next queued `Fault` (default: a normal reply) and is recorded, so a
test can assert exactly which server saw which call. `reset_server()` is a raw TCP listener
that resets every connection (SO_LINGER 0), because an HTTP framework cannot do that.
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import uvicorn
from anyio.abc import SocketAttribute, SocketStream
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes.llm_stream import anthropic_stream, openai_stream


@dataclass(frozen=True)
class Fault:
    kind: str = "ok"  # ok | status | slow | malformed | content_type | echo_key
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    text: str = "Hello."
    tool_calls: tuple[Mapping[str, Any], ...] = ()  # [{"name", "arguments", "id"?}]
    usage: Mapping[str, int] = field(default_factory=lambda: {"input": 12, "output": 5, "cached_input": 0})
    thinking: str | None = None
    error_type: str = ""
    # Streamed replies (llm_stream.py): the pace, a gate the last text piece waits for, a mid-stream failure.
    piece_delay: float = 0.0
    gate: anyio.Event | None = None
    fail_after: int | None = None
    hold: anyio.Event | None = None  # the reply (whole or streamed) is not sent before this is set


def streamed(
    text: str,
    *,
    gate: anyio.Event | None = None,
    piece_delay: float = 0.0,
    fail_after: int | None = None,
    tool_calls: tuple[Mapping[str, Any], ...] = (),
    usage: Mapping[str, int] | None = None,
    thinking: str | None = None,
) -> Fault:
    """A reply that, when the request asks to stream, arrives word by word (see llm_stream.py)."""
    return Fault(
        "ok",
        text=text,
        tool_calls=tool_calls,
        usage=usage or {"input": 12, "output": 5, "cached_input": 0},
        thinking=thinking,
        gate=gate,
        piece_delay=piece_delay,
        fail_after=fail_after,
    )


def ok(
    text: str = "Hello.",
    tool_calls: tuple[Mapping[str, Any], ...] = (),
    usage: Mapping[str, int] | None = None,
    thinking: str | None = None,
    hold: anyio.Event | None = None,
) -> Fault:
    return Fault(
        "ok",
        text=text,
        tool_calls=tool_calls,
        usage=usage or {"input": 12, "output": 5, "cached_input": 0},
        thinking=thinking,
        hold=hold,
    )


def rate_limited(retry_after: str | None = "2") -> Fault:
    return Fault(
        "status", 429, {"retry-after": retry_after} if retry_after is not None else {}, error_type="rate_limit"
    )


def server_error(status: int = 500) -> Fault:
    return Fault("status", status, error_type="server")


def overloaded() -> Fault:
    return Fault("status", 529, error_type="overloaded")


def bad_request() -> Fault:
    return Fault("status", 400, error_type="invalid_request")


def slow(seconds: float) -> Fault:
    return Fault("slow", delay=seconds)


def malformed_json() -> Fault:
    return Fault("malformed")


def wrong_content_type() -> Fault:
    return Fault("content_type")


def echo_key_401() -> Fault:
    """401 whose message quotes the key it received, as some providers do."""
    return Fault("echo_key", 401)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeLLM:
    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.requests: list[Recorded] = []
        self.closing = anyio.Event()
        self.port = 0
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._openai, methods=["POST"]),
                Route("/v1/messages", self._anthropic, methods=["POST"]),
            ]
        )

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def queue(self, *faults: Fault) -> FakeLLM:
        self.faults.extend(faults)
        return self

    async def _next(self, request: Request) -> tuple[Fault, Recorded]:
        body = await request.json()
        rec = Recorded(request.url.path, dict(request.headers), body)
        self.requests.append(rec)
        fault = self.faults.pop(0) if self.faults else ok()
        if fault.kind == "slow":
            with anyio.move_on_after(fault.delay):
                await self.closing.wait()
        if fault.hold is not None:
            await _either(fault.hold, self.closing)  # a failing test still shuts the server down
        return fault, rec

    async def _openai(self, request: Request) -> Response:
        fault, rec = await self._next(request)
        if fault.kind in ("status", "echo_key"):
            code = {
                "rate_limit": "rate_limit_exceeded",
                "server": "server_error",
                "invalid_request": "invalid_request_error",
            }.get(fault.error_type, "invalid_api_key")
            message = {
                429: "Rate limit reached for requests",
                400: "Invalid 'messages'",
                401: "Incorrect API key provided: " + rec.headers.get("authorization", "").removeprefix("Bearer "),
            }.get(fault.status, "The server had an error while processing your request.")
            return JSONResponse(
                {"error": {"message": message, "type": code, "param": None, "code": code}},
                fault.status,
                dict(fault.headers),
            )
        special = _special(fault)
        if special is not None:
            return special
        if rec.body.get("stream"):
            return openai_stream(fault, rec)
        u = fault.usage
        message: dict[str, Any] = {"role": "assistant", "content": fault.text or None, "refusal": None}
        if fault.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.get("id", f"call_{i}"),
                    "type": "function",
                    "function": {
                        "name": c["name"],
                        "arguments": c["arguments"] if isinstance(c["arguments"], str) else json.dumps(c["arguments"]),
                    },
                }
                for i, c in enumerate(fault.tool_calls)
            ]
        return JSONResponse(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 1700000000,
                "model": rec.body.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": "tool_calls" if fault.tool_calls else "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": u["input"],
                    "completion_tokens": u["output"],
                    "total_tokens": u["input"] + u["output"],
                    "prompt_tokens_details": {"cached_tokens": u.get("cached_input", 0), "audio_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
                },
            }
        )

    async def _anthropic(self, request: Request) -> Response:
        fault, rec = await self._next(request)
        if fault.kind in ("status", "echo_key"):
            kind = {
                429: "rate_limit_error",
                529: "overloaded_error",
                400: "invalid_request_error",
                401: "authentication_error",
            }.get(fault.status, "api_error")
            message = {
                529: "Overloaded",
                429: "Number of request tokens has exceeded your per-minute rate limit",
                401: "invalid x-api-key " + rec.headers.get("x-api-key", ""),
            }.get(fault.status, "Internal server error")
            return JSONResponse(
                {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"},
                fault.status,
                dict(fault.headers),
            )
        special = _special(fault)
        if special is not None:
            return special
        if rec.body.get("stream"):
            return anthropic_stream(fault, rec)
        u = fault.usage
        content: list[dict[str, Any]] = []
        if fault.thinking:
            content.append({"type": "thinking", "thinking": fault.thinking, "signature": "sig-fake"})
        if fault.text:
            content.append({"type": "text", "text": fault.text})
        content += [
            {"type": "tool_use", "id": c.get("id", f"toolu_{i}"), "name": c["name"], "input": c["arguments"]}
            for i, c in enumerate(fault.tool_calls)
        ]
        cached = u.get("cached_input", 0)
        return JSONResponse(
            {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": rec.body.get("model", ""),
                "content": content,
                "stop_reason": "tool_use" if fault.tool_calls else "end_turn",
                "stop_sequence": None,
                "usage": {
                    "input_tokens": u["input"] - cached,
                    "output_tokens": u["output"],
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": cached,
                },
            }
        )


async def _either(a: anyio.Event, b: anyio.Event) -> None:
    async with anyio.create_task_group() as tg:

        async def wait(event: anyio.Event) -> None:
            await event.wait()
            tg.cancel_scope.cancel()

        tg.start_soon(wait, a)
        tg.start_soon(wait, b)


def _special(fault: Fault) -> Response | None:
    if fault.kind == "malformed":
        return Response('{"choices": [{"message": ', 200, media_type="application/json")
    if fault.kind == "content_type":
        return Response("<html><body>502 Bad Gateway</body></html>", 200, media_type="text/html")
    return None


@asynccontextmanager
async def fake_llm() -> AsyncIterator[FakeLLM]:
    fake = FakeLLM()
    config = uvicorn.Config(
        fake.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none", access_log=False
    )
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        while not server.started:
            await anyio.sleep(0.01)
        fake.port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield fake
        finally:
            fake.closing.set()
            server.should_exit = True


@asynccontextmanager
async def reset_server() -> AsyncIterator[str]:
    """Accepts, reads the request, then resets the TCP connection. Yields its base URL."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)

    async def handle(stream: SocketStream) -> None:
        try:
            await stream.receive()
        except anyio.EndOfStream:
            pass
        sock = stream.extra(SocketAttribute.raw_socket)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await stream.aclose()

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            tg.cancel_scope.cancel()
