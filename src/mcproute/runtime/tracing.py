"""The engine's spans, built from the telemetry helpers (OpenTelemetry API only).

Provider attempts are recorded by the reliability layer as data (`ChatResult.attempts`, with wall
clock start and end), not as spans: the engine turns each attempt into a `chat {model}` CLIENT
span afterwards, with the attempt's own timestamps, so retries, rate limits, skipped open
circuits and fallbacks all appear under the step's route span exactly as they happened.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from mcproute.providers import Attempt
from mcproute.telemetry import metrics, semconv as sc, spans

_tracer = trace.get_tracer(sc.TRACER_NAME)


@contextmanager
def continued(meta: Mapping[str, Any] | None, headers: Mapping[str, Any] | None) -> Iterator[None]:
    """Continue the caller's W3C context when no span is current yet.

    Inside an MCP request the SDK's server span is already current (it continued `_meta`
    itself), so nothing changes; a programmatic caller (the OpenAI endpoint, a test) gets its
    `_meta`/header `traceparent` continued here.
    """
    if trace.get_current_span().get_span_context().is_valid:
        yield
        return
    ctx = spans.extract_context(meta, headers)
    if ctx is None:
        yield
        return
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


def _ns(unix_seconds: float) -> int:
    return int(unix_seconds * 1e9)


def record_attempts(attempts: Sequence[Attempt], *, first_model: str | None = None) -> None:
    """One `chat {model}` CLIENT span per provider attempt, children of the current span.

    `mcproute.fallback.from` on an attempt names the model the call fell back *from*: the model
    of the attempt before it when that differs, or, for the first attempt, the decided model
    (`first_model`) when the pool had to start elsewhere (the decided one could not be called)."""
    metrics.record_attempts(attempts)  # duration, tokens and cost as metrics too
    previous = first_model
    for i, a in enumerate(attempts, start=1):
        attrs: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
            sc.GEN_AI_PROVIDER_NAME: a.provider,
            sc.GEN_AI_REQUEST_MODEL: a.upstream_model or a.model,
            sc.ATTEMPT: i,
            sc.DEPLOYMENT: a.deployment,
            sc.CIRCUIT_STATE: a.circuit,
            sc.DECISION_MODEL: a.model,
            sc.DECISION_TIER: a.tier,
        }
        if a.endpoint:
            attrs[sc.SERVER_ADDRESS] = a.endpoint
        if a.first_chunk_s is not None:
            attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = float(a.first_chunk_s)
        if previous and a.model != previous:
            attrs[sc.FALLBACK_FROM] = previous
        previous = a.model
        if a.outcome == "ok":
            attrs[sc.GEN_AI_RESPONSE_MODEL] = a.upstream_model or a.model
            attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] = a.input_tokens
            attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = a.output_tokens
            attrs[sc.COST_USD] = float(a.cost_usd)
        start = _ns(a.started_unix)
        end = max(start, _ns(a.started_unix + max(0.0, a.duration)))
        span = _tracer.start_span(
            f"{sc.CHAT_SPAN_PREFIX} {a.upstream_model or a.model}",
            kind=SpanKind.CLIENT,
            attributes=attrs,
            start_time=start,
        )
        if a.outcome != "ok":
            span.set_attribute(sc.ERROR_TYPE, a.error_type or a.outcome)
            if a.retry_after is not None:
                span.set_attribute(sc.RETRY_AFTER_S, float(a.retry_after))
            span.set_status(Status(StatusCode.ERROR, (a.message or a.error_type or a.outcome)[:200]))
        span.end(end_time=end)


def current_traceparent() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return spans.span_context_to_traceparent(ctx) if ctx.is_valid else None


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else None


async def inject_request(request: Any) -> None:
    """httpx request hook: the current span's `traceparent`/`tracestate` on a provider request."""
    if trace.get_current_span().get_span_context().is_valid:
        headers: dict[str, str] = {}
        spans.inject_headers(headers)
        request.headers.update(headers)


def downstream_meta() -> dict[str, Any]:
    """A fresh `_meta` carrying the current span's context for a downstream call."""
    meta: dict[str, Any] = {}
    spans.inject_into_meta(meta)
    return meta
