"""Span helpers for the gateway, the router's caller and the providers: `opentelemetry.trace` API only.

One step is one trace:

    tools/call <tool>   SERVER   the SDK's own span (mcp.server._otel); we only enrich it
    └── mcproute.route  INTERNAL the decision (decision.record_decision), linked to the previous step
        ├── chat <model>        CLIENT  one per provider attempt
        └── tools/call <tool>   CLIENT  the call to the downstream server
            └── MCP send tools/call <tool>  CLIENT  the SDK's client span; it injects `traceparent`
                                                    into the downstream `_meta`

`gen_ai.conversation.id` reaches every span through `conversation_context()` (a context value read
by the stamping processor that `telemetry.setup` installs) and through the parent span's own
attribute, so spans made by code that knows nothing about conversations (the SDK's, httpx's) get it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context, propagate, trace
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from mcproute.telemetry import semconv as sc

CONVERSATION_KEY = otel_context.create_key("mcproute.conversation_id")
CLIENT_KEY = otel_context.create_key("mcproute.client")

_tracer = trace.get_tracer(sc.TRACER_NAME)

# Whether prompt/response content may be recorded; `telemetry.setup` sets it from the config. The
# redacting exporter drops content attributes anyway when it is off: this flag only saves the work.
_capture = {"content": False}


def set_capture_content(enabled: bool) -> None:
    _capture["content"] = bool(enabled)


def capture_content() -> bool:
    return _capture["content"]


# ---------------------------------------------------------------- conversation identity


@contextmanager
def conversation_context(conversation_id: str) -> Iterator[None]:
    """Every span started inside gets `gen_ai.conversation.id` (needs the setup() pipeline)."""
    token = otel_context.attach(otel_context.set_value(CONVERSATION_KEY, conversation_id))
    try:
        yield
    finally:
        otel_context.detach(token)


@contextmanager
def client_context(client: str | None) -> Iterator[None]:
    """Every span started inside gets `mcproute.client` (the principal's name; needs setup())."""
    if client is None:
        yield
        return
    token = otel_context.attach(otel_context.set_value(CLIENT_KEY, client))
    try:
        yield
    finally:
        otel_context.detach(token)


def mark_client(client: str | None, span: Span | None = None) -> None:
    """Put the principal on a span already open (the SDK's server span, from a handler)."""
    if client is not None:
        (span or trace.get_current_span()).set_attribute(sc.CLIENT, client)


def current_conversation_id() -> str | None:
    value = otel_context.get_value(CONVERSATION_KEY)
    return value if isinstance(value, str) else None


def enrich_server_span(conversation_id: str, session_id: str | None = None, span: Span | None = None) -> Span:
    """Add conversation (and MCP session, where the protocol era has one) to the SDK's server span.

    Call it from a server middleware or handler: the SDK's `OpenTelemetryMiddleware` makes its
    span current before the rest of the chain runs, so `get_current_span()` is that span.
    """
    span = span or trace.get_current_span()
    span.set_attribute(sc.GEN_AI_CONVERSATION_ID, conversation_id)
    if session_id:
        span.set_attribute(sc.MCP_SESSION_ID, session_id)
    return span


# ---------------------------------------------------------------- step links


class _PreviousSteps:
    """conversation id -> span context of its latest route span, bounded (LRU), in this process.

    The gateway may pass `previous=` from its store instead (survives restarts); this is the
    fallback that makes the link work with no extra calls.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._items: OrderedDict[str, SpanContext] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, conversation_id: str) -> SpanContext | None:
        with self._lock:
            return self._items.get(conversation_id)

    def put(self, conversation_id: str, ctx: SpanContext) -> None:
        with self._lock:
            self._items[conversation_id] = ctx
            self._items.move_to_end(conversation_id)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)


previous_steps = _PreviousSteps()


def span_context_to_traceparent(ctx: SpanContext) -> str:
    """A W3C `traceparent` string: a compact way to store a step's span context (e.g. in the store)."""
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def traceparent_to_span_context(value: str | None) -> SpanContext | None:
    if not value:
        return None
    parts = value.strip().split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3][:2], 16)
    except ValueError:
        return None
    ctx = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags))
    return ctx if ctx.is_valid else None


# ---------------------------------------------------------------- spans


@contextmanager
def route_span(
    conversation_id: str,
    step_id: str,
    *,
    previous: SpanContext | str | None = None,
    source: str = sc.SOURCE_ROUTER,
) -> Iterator[Span]:
    """The INTERNAL span that carries one step's decision (see `decision.record_decision`).

    `previous`: the previous step's route span (a SpanContext or a traceparent string); default:
    the latest one this process saw for the conversation. It becomes a span Link, not a parent,
    because each step is its own trace.
    """
    prev = traceparent_to_span_context(previous) if isinstance(previous, str) else previous
    if prev is None:
        prev = previous_steps.get(conversation_id)
    links = [Link(prev, {sc.LINK_RELATION: sc.LINK_PREVIOUS_STEP})] if prev is not None and prev.is_valid else []
    attrs = {sc.GEN_AI_CONVERSATION_ID: conversation_id, sc.STEP_ID: step_id, sc.DECISION_SOURCE: source}
    with conversation_context(conversation_id):
        with _tracer.start_as_current_span(
            sc.ROUTE_SPAN_NAME, kind=SpanKind.INTERNAL, attributes=attrs, links=links
        ) as span:
            if span.get_span_context().is_valid:
                previous_steps.put(conversation_id, span.get_span_context())
            yield span


def _record_error(span: Span, exc: BaseException) -> None:
    error_type = getattr(exc, "error_type", None) or type(exc).__qualname__
    span.set_attribute(sc.ERROR_TYPE, str(error_type))
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, (int, float)):
        span.set_attribute(sc.RETRY_AFTER_S, float(retry_after))
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


@contextmanager
def _client_span(name: str, attrs: dict[str, Any]) -> Iterator[Span]:
    """A CLIENT span whose failure is recorded our way (`error.type`), not the SDK's default."""
    with _tracer.start_as_current_span(
        name,
        kind=SpanKind.CLIENT,
        attributes=attrs,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except BaseException as exc:
            _record_error(span, exc)
            raise


@contextmanager
def chat_span(
    model: str,
    provider: str,
    *,
    request_model: str | None = None,
    attempt: int | None = None,
    deployment: str | None = None,
    fallback_from: str | None = None,
    circuit_state: str | None = None,
    server_address: str | None = None,
) -> Iterator[Span]:
    """A CLIENT span for one provider attempt, named `chat {model}` (model = the provider's model id).

    Exceptions are recorded with `error.type` from `ProviderError.error_type` (rate_limited, timeout,
    ...) and re-raised. Call `record_usage` on success.
    """
    attrs: dict[str, Any] = {
        sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
        sc.GEN_AI_PROVIDER_NAME: provider,
        sc.GEN_AI_REQUEST_MODEL: request_model or model,
    }
    for key, value in (
        (sc.ATTEMPT, attempt),
        (sc.DEPLOYMENT, deployment),
        (sc.FALLBACK_FROM, fallback_from),
        (sc.CIRCUIT_STATE, circuit_state),
        (sc.SERVER_ADDRESS, server_address),
    ):
        if value is not None:
            attrs[key] = value
    with _client_span(f"{sc.CHAT_SPAN_PREFIX} {model}", attrs) as span:
        yield span


def record_usage(
    span: Span,
    *,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    cost_usd: float | None = None,
    response_model: str | None = None,
    response_id: str | None = None,
    finish_reasons: list[str] | None = None,
) -> None:
    for key, value in (
        (sc.GEN_AI_USAGE_INPUT_TOKENS, input_tokens),
        (sc.GEN_AI_USAGE_OUTPUT_TOKENS, output_tokens),
        (sc.COST_USD, cost_usd),
        (sc.GEN_AI_RESPONSE_MODEL, response_model),
        (sc.GEN_AI_RESPONSE_ID, response_id),
    ):
        if value is not None:
            span.set_attribute(key, value)
    if finish_reasons:
        span.set_attribute(sc.GEN_AI_RESPONSE_FINISH_REASONS, list(finish_reasons))


def record_content(span: Span, *, input_messages: str | None = None, output_messages: str | None = None) -> None:
    """Prompt/response content (JSON strings): recorded only when `capture_content` is on."""
    if not capture_content():
        return
    if input_messages is not None:
        span.set_attribute(sc.GEN_AI_INPUT_MESSAGES, input_messages)
    if output_messages is not None:
        span.set_attribute(sc.GEN_AI_OUTPUT_MESSAGES, output_messages)


MAX_STEP_TEXT = 2000  # characters of a step's text kept on its route span


def record_step_text(span: Span, text: str) -> None:
    """The step's request text on its route span: content, so only when `capture_content` is on."""
    if capture_content():
        span.set_attribute(sc.STEP_TEXT, text if len(text) <= MAX_STEP_TEXT else text[: MAX_STEP_TEXT - 1] + "\u2026")


@contextmanager
def tool_call_span(
    tool: str,
    server: str,
    *,
    downstream_tool: str | None = None,
    request_id: str | int | None = None,
    call_id: str | None = None,
) -> Iterator[Span]:
    """A CLIENT span `tools/call {tool}` around one downstream call (tool = the namespaced name).

    The SDK's client adds its own `MCP send tools/call ...` span underneath and injects that
    span's context into the downstream `_meta`, so an SDK-built downstream becomes a child here.
    """
    attrs: dict[str, Any] = {
        sc.MCP_METHOD_NAME: sc.METHOD_TOOLS_CALL,
        sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
        sc.GEN_AI_TOOL_NAME: tool,
        sc.SERVER: server,
    }
    if downstream_tool is not None:
        attrs[sc.DOWNSTREAM_TOOL] = downstream_tool
    if request_id is not None:
        attrs[sc.JSONRPC_REQUEST_ID] = str(request_id)
    if call_id is not None:
        attrs[sc.GEN_AI_TOOL_CALL_ID] = call_id
    with _client_span(f"{sc.TOOLS_CALL_SPAN_PREFIX} {tool}", attrs) as span:
        yield span


def record_tool_result(span: Span, *, is_error: bool) -> None:
    span.set_attribute(sc.TOOL_IS_ERROR, is_error)
    if is_error:
        # Same value the SDK's server span uses for a tool-level error.
        span.set_attribute(sc.ERROR_TYPE, "tool_error")
        span.set_status(Status(StatusCode.ERROR))


# ---------------------------------------------------------------- propagation


def _lower_keys(headers: Mapping[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in headers.items() if isinstance(v, (str, bytes))}


def extract_context(
    meta: Mapping[str, Any] | None = None, headers: Mapping[str, Any] | None = None
) -> otel_context.Context | None:
    """The caller's W3C context: from `_meta` first (SEP-414), else from HTTP headers.

    Returns None when neither carries a valid `traceparent`, so the caller falls back to ambient
    parenting (an empty Context would orphan the span instead).
    """
    for carrier in (dict(meta) if meta else None, _lower_keys(headers) if headers else None):
        if not carrier or not isinstance(carrier.get("traceparent"), str):
            continue
        try:
            ctx = propagate.extract(carrier)
        except (ValueError, TypeError):
            continue
        if trace.get_current_span(ctx).get_span_context().is_valid:
            return ctx
    return None


def inject_into_meta(meta: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Write the current span's `traceparent`/`tracestate` into a downstream `_meta` dict."""
    propagate.inject(meta)
    return meta


def inject_headers(headers: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Write the current span's `traceparent`/`tracestate` into provider HTTP request headers."""
    propagate.inject(headers)
    return headers
