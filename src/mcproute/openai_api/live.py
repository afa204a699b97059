"""The response of a streamed `/v1/chat/completions` or `/v1/responses`: an ASGI app that runs the routed step
while it sends the reply, so each provider delta goes out as it arrives.

It runs the whole step in the one task Starlette calls it in (the step holds the conversation's
lock and the current span between deltas, and both must be released by the task that took
them), and closes the step's iterator on every way out, a client that went away included.

Until the first delta the step can still fail cleanly, so it does: a refused request, an
unknown conversation id or "no model answered" (after the reliability layer's retries and
fallbacks) answer with a real HTTP status and OpenAI's error body, exactly as without
`stream`. After the status line and the first chunk are out, a failure (the provider broke off,
the store failed) ends the stream with an `error` event; the gateway itself is unaffected.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Protocol

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from mcproute.errors import McprouteError
from mcproute.openai_api.sse import ChunkWriter
from mcproute.openai_api.wire import ApiError, new_completion_id
from mcproute.providers import ChatResult
from mcproute.providers.reliable_stream import StreamStarted
from mcproute.providers.streaming import TextDelta, ToolCallDelta
from mcproute.runtime.streaming import StepFinished, StepStarted

if TYPE_CHECKING:
    from mcproute.gateway.identity import ConversationIdentity

logger = logging.getLogger(__name__)

Events = AsyncGenerator[StepStarted | TextDelta | ToolCallDelta | StepFinished, None]


class Writer(Protocol):
    """One wire format's frames (sse.py: chat completions; responses_live.py: Responses API)."""

    def start(self) -> bytes: ...
    def delta(self, event: TextDelta | ToolCallDelta) -> bytes: ...
    def finish(self, chat: ChatResult) -> bytes: ...
    def error(self, body: dict[str, Any]) -> bytes: ...


def chat_writer(include_usage: bool) -> Callable[[StreamStarted], Writer]:
    return lambda started: ChunkWriter(
        new_completion_id(), int(time.time()), started.model, include_usage=include_usage
    )


class LiveCompletion(Response):
    def __init__(
        self, events: Events, identity: ConversationIdentity, writer: Callable[[StreamStarted], Writer]
    ) -> None:
        super().__init__(media_type="text/event-stream")  # headers and body are sent by __call__
        self.events = events
        self.identity = identity
        self.make_writer = writer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from mcproute.openai_api.app import _map_error, error_response, step_headers

        async with aclosing(self.events) as events:
            try:
                first = await anext(events)
            except ApiError as err:
                await error_response(err)(scope, receive, send)
                return
            except McprouteError as exc:
                await error_response(_map_error(exc))(scope, receive, send)
                return
            except Exception as exc:  # a bug must still answer in OpenAI's shape
                logger.exception("streamed chat completion failed")
                await error_response(
                    ApiError(500, f"internal error: {type(exc).__name__}", type="server_error", code="internal_error")
                )(scope, receive, send)
                return
            assert isinstance(first, StepStarted)
            started = first.started
            headers = step_headers(
                first.decision, started.model, started.tier, started.deployment, self.identity, cached=started.cached
            )
            headers.update({"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"})
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
                }
            )
            writer = self.make_writer(started)

            async def body(data: bytes, more: bool = True) -> None:
                await send({"type": "http.response.body", "body": data, "more_body": more})

            await body(writer.start())
            try:
                async for event in events:
                    if isinstance(event, StepFinished):
                        await body(writer.finish(event.chat))
                    elif isinstance(event, TextDelta | ToolCallDelta):
                        await body(writer.delta(event))
            except OSError:  # a server that raises when the client went away: the step is closed, unsaved
                # (uvicorn drops such writes instead, so the reply is read to its end and saved)
                return
            except McprouteError as exc:
                mapped = _map_error(exc)
                await body(
                    writer.error(
                        ApiError(
                            mapped.status, mapped.message, type="server_error", code=mapped.code or "stream_error"
                        ).body()
                    )
                )
            except Exception as exc:
                logger.exception("streamed chat completion failed after it began")
                await body(
                    writer.error(
                        ApiError(
                            500, f"internal error: {type(exc).__name__}", type="server_error", code="internal_error"
                        ).body()
                    )
                )
            await body(b"", more=False)
