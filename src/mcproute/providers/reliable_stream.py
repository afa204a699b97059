"""Streamed model calls under the reliability layer's policy, with one rule added: a reply can
be retried or moved to another deployment only until its first delta has arrived.

    async with aclosing(stream_chat(pool.engine, request, tier="fast")) as events:
        async for event in events:   # StreamStarted, then TextDelta/ToolCallDelta..., then StreamFinished

Before the first delta an attempt fails exactly as `ReliableChat.chat` sees it fail (status,
timeout, refused connection, a stream that errors at once) and the next deployment is tried, with
the same breakers, rate-limit pauses, backoff and deadline. Once the first delta is out, the
caller may already have sent it on, so a later failure is recorded against the deployment (its
breaker counts it) and raised as `StreamInterrupted`; nothing is retried. The time to the first
delta is kept on the attempt (`first_chunk_s`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, replace

import anyio

from mcproute.errors import (
    ProviderError,
    ProviderProtocolError,
    ProviderRequestRejected,
    ProviderTimeout,
    ProviderUnavailable,
    StreamInterrupted,
)
from mcproute.providers.base import ChatRequest
from mcproute.providers.reliability import (
    _STOP_STATUSES,
    Attempt,
    ChatResult,
    ReliableChat,
    Route,
    Tier,
    _summary,
    usable,
)
from mcproute.providers.streaming import StreamEnd, StreamEvent, TextDelta, ToolCallDelta, stream_of


@dataclass(frozen=True, slots=True)
class StreamStarted:
    """The deployment that is answering: known before its first delta is passed on."""

    model: str
    deployment: str
    tier: str
    provider: str
    cached: str = ""  # "exact" | "similar": a reply cache hit replayed as a stream


@dataclass(frozen=True, slots=True)
class StreamFinished:
    result: ChatResult


async def stream_chat(
    rc: ReliableChat,
    request: ChatRequest,
    *,
    tier: Tier | None = None,
    model: str | None = None,
    preferred_deployment: str | None = None,
    deadline: float | None = None,
) -> AsyncGenerator[StreamStarted | TextDelta | ToolCallDelta | StreamFinished, None]:
    chain = rc.chain(tier, model)
    deadline = rc.deadline_in() if deadline is None else deadline
    attempts: list[Attempt] = []
    live, unusable = usable(chain, request)
    async with aclosing(rc.routes(live, preferred_deployment, deadline, attempts)) as routes:
        async for route in routes:
            failed: list[ProviderError] = []
            async for item in _attempt(rc, route, request, deadline, attempts, failed):
                yield item
            if not failed:
                return
            error = failed[0]
            if isinstance(error, ProviderRequestRejected) and error.status in _STOP_STATUSES:
                error.attempts = tuple(attempts)  # type: ignore[attr-defined]
                raise error
    raise ProviderUnavailable(_summary(chain, attempts, deadline <= rc.clock(), unusable), list[object](attempts))


async def _attempt(
    rc: ReliableChat,
    route: Route,
    request: ChatRequest,
    deadline: float,
    attempts: list[Attempt],
    failed: list[ProviderError],
) -> AsyncGenerator[StreamStarted | TextDelta | ToolCallDelta | StreamFinished, None]:
    """One deployment: yields nothing if it failed before its first delta (the attempt is
    appended and its error put in `failed`: a generator cannot return it), else the whole stream."""
    health = route.health
    start, start_unix = rc.clock(), rc.wall()
    circuit = "half_open" if health.breaker.probing else "closed"
    timeout = max(0.001, min(route.target.timeout, deadline - start))
    events = stream_of(route.provider, rc.client, replace(route.target, timeout=timeout), request)
    health.in_flight += 1
    verdict = False
    try:
        try:
            with anyio.fail_after(timeout):
                first = await anext(events)
        except Exception as exc:  # noqa: BLE001 - typed below; an adapter bug must not crash the gateway
            verdict = True
            error = _as_provider_error(route, exc, timeout)
            attempts.append(replace(rc._failed(route, error, start, rc.clock(), start_unix), circuit=circuit))
            failed.append(error)
            return
        first_chunk_s = rc.clock() - start
        yield StreamStarted(route.model, route.key, route.tier, route.provider_name)
        event: StreamEvent = first
        while not isinstance(event, StreamEnd):
            yield event
            try:
                event = await anext(events)
            except Exception as exc:  # noqa: BLE001 - every failure after the first delta ends the stream
                verdict = True
                error = _as_provider_error(route, exc, timeout)
                attempts.append(
                    replace(
                        rc._failed(route, error, start, rc.clock(), start_unix),
                        circuit=circuit,
                        first_chunk_s=first_chunk_s,
                    )
                )
                raise StreamInterrupted(
                    f"{route.key}: the reply broke off after it began streaming: {error}"[:400], list[object](attempts)
                ) from None
        verdict = True
        attempt, response = rc._succeeded(route, event.response, start, rc.clock(), start_unix)
        attempts.append(replace(attempt, circuit=circuit, first_chunk_s=first_chunk_s))
        yield StreamFinished(ChatResult(response, tuple(attempts), route.model, route.key, route.tier))
    finally:
        health.in_flight -= 1
        if not verdict:  # cancelled from outside (the client went away): no verdict on the deployment
            health.breaker.release()
        await events.aclose()


def _as_provider_error(route: Route, exc: BaseException, timeout: float) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, TimeoutError):
        return ProviderTimeout(f"{route.key}: no first chunk within {timeout:g}s")
    if isinstance(exc, StopAsyncIteration):
        return ProviderProtocolError(f"{route.key}: the stream ended without a reply")
    # an adapter or script bug must not crash the gateway
    return ProviderProtocolError(f"{route.key}: {type(exc).__name__}: {exc}"[:300])
