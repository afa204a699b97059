"""`setup()`: the one place that builds the OpenTelemetry SDK pipeline.

    with setup(loaded.config.telemetry, loaded) as handle:
        ...  # spans from spans.py, from the MCP SDK and from anything else using the global API

Which exporter (first match wins):
1. `OTEL_SDK_DISABLED=true`                  -> none
2. `OTEL_TRACES_EXPORTER=otlp|console|none`  -> that one
3. `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` set -> otlp
4. `telemetry.exporter` in servers.yaml      (default `jsonl` at <data_dir>/traces.jsonl)
Protocol: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL`
(`http/protobuf`, `grpc`), else `telemetry.protocol`. Service name: `OTEL_SERVICE_NAME`, then
`service.name` in `OTEL_RESOURCE_ATTRIBUTES`, then `telemetry.service_name`.

The global tracer provider can be set only once per process (the API refuses a second one), yet
tests and config reloads need fresh pipelines. So the global is a small delegating provider,
installed once, that forwards to whichever SDK provider the innermost open handle owns. Tracers
obtained before setup (the MCP SDK grabs its tracer at import time) follow along.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span as SdkSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from mcproute.config import ConfigIssue, LoadedConfig, TelemetryConfig
from mcproute.errors import ConfigError
from mcproute.telemetry import metrics_sdk, semconv as sc, spans
from mcproute.telemetry.jsonl import JsonlSpanExporter
from mcproute.telemetry.redact import RedactingLogFilter, Redactor, redactor_for
from mcproute.telemetry.redact_spans import RedactingExporter

log = logging.getLogger(__name__)

_TRUE = {"true", "1", "yes", "on"}


# ---------------------------------------------------------------- the switchable global provider


class _DelegatingTracer(trace.Tracer):
    def __init__(self, owner: _SwitchableProvider, args: tuple[Any, ...]) -> None:
        self._owner = owner
        self._args = args
        # The active provider's tracer, kept until the provider switches: `get_tracer` builds a
        # new SDK Tracer each call (~8 us), and every span of every step and proxied call came here.
        self._cached: tuple[trace.TracerProvider, trace.Tracer] | None = None

    def _target(self) -> trace.Tracer:
        provider = self._owner.active()
        cached = self._cached
        if cached is None or cached[0] is not provider:
            cached = self._cached = (provider, provider.get_tracer(*self._args))
        return cached[1]

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._target().start_span(*args, **kwargs)

    @contextmanager
    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Iterator[trace.Span]:  # type: ignore[override]
        # A generator context manager, so that used as a decorator it picks the provider active
        # at each call, not the one active when the function was decorated.
        with self._target().start_as_current_span(*args, **kwargs) as span:
            yield span


class _SwitchableProvider(trace.TracerProvider):
    def __init__(self) -> None:
        self._stack: list[trace.TracerProvider] = []
        self._noop = trace.NoOpTracerProvider()
        self._lock = threading.Lock()

    def active(self) -> trace.TracerProvider:
        stack = self._stack
        return stack[-1] if stack else self._noop

    def push(self, provider: trace.TracerProvider) -> None:
        with self._lock:
            self._stack.append(provider)

    def remove(self, provider: trace.TracerProvider) -> None:
        with self._lock:
            self._stack = [p for p in self._stack if p is not provider]

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        names = ("instrumenting_module_name", "instrumenting_library_version", "schema_url", "attributes")
        full = list(args) + [None] * (4 - len(args))
        for i, n in enumerate(names):
            if n in kwargs:
                full[i] = kwargs[n]
        return _DelegatingTracer(self, tuple(full))


_switch = _SwitchableProvider()
_install_lock = threading.Lock()


def _install_global() -> bool:
    """Install the switchable provider as the global one; False if someone else already set one."""
    with _install_lock:
        current = trace.get_tracer_provider()
        if current is _switch:
            return True
        if not isinstance(current, trace.ProxyTracerProvider):
            return False
        trace.set_tracer_provider(_switch)
        return trace.get_tracer_provider() is _switch


# ---------------------------------------------------------------- conversation stamping


class ConversationStamper(SpanProcessor):
    """Puts `gen_ai.conversation.id` and `mcproute.client` (the principal, never a key) on every
    span: from the context value set by `spans.conversation_context` / `spans.client_context`,
    else from the in-process parent span's own attribute."""

    _STAMPS = ((sc.GEN_AI_CONVERSATION_ID, spans.CONVERSATION_KEY), (sc.CLIENT, spans.CLIENT_KEY))

    def on_start(self, span: SdkSpan, parent_context: Context | None = None) -> None:
        from opentelemetry import context as otel_context

        for attribute, key in self._STAMPS:
            if span.attributes and attribute in span.attributes:
                continue
            value = otel_context.get_value(key, parent_context)
            if not isinstance(value, str):
                parent = trace.get_current_span(parent_context)
                attrs = getattr(parent, "attributes", None)
                value = attrs.get(attribute) if attrs else None
            if isinstance(value, str):
                span.set_attribute(attribute, value)

    def on_end(self, span: ReadableSpan) -> None:
        pass


# ---------------------------------------------------------------- choosing the exporter


@dataclass(frozen=True)
class ExporterChoice:
    exporter: str  # jsonl | otlp | console | none
    protocol: str  # http | grpc
    endpoint: str | None
    path: Path | None
    service_name: str
    why: str  # which setting decided it, for `mcproute check` and the log


def choose_exporter(
    cfg: TelemetryConfig, loaded: LoadedConfig | None, environ: Mapping[str, str] | None = None
) -> ExporterChoice:
    env = os.environ if environ is None else environ
    service = (
        env.get("OTEL_SERVICE_NAME") or _resource_service(env.get("OTEL_RESOURCE_ATTRIBUTES", "")) or cfg.service_name
    )
    endpoint_env = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    proto_env = (
        (env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "").strip().lower()
    )
    if proto_env in ("", "http/protobuf", "http"):
        protocol = "http" if proto_env else cfg.protocol
    elif proto_env == "grpc":
        protocol = "grpc"
    else:
        raise ConfigError(
            [
                ConfigIssue(
                    "OTEL_EXPORTER_OTLP_PROTOCOL", f"unsupported protocol {proto_env!r}: use 'http/protobuf' or 'grpc'"
                )
            ]
        )

    if env.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE:
        exporter, why = "none", "OTEL_SDK_DISABLED"
    elif env.get("OTEL_TRACES_EXPORTER"):
        exporter, why = env["OTEL_TRACES_EXPORTER"].split(",")[0].strip().lower(), "OTEL_TRACES_EXPORTER"
        if exporter not in ("otlp", "console", "none"):
            raise ConfigError(
                [ConfigIssue("OTEL_TRACES_EXPORTER", f"unsupported exporter {exporter!r}: use otlp, console or none")]
            )
    elif endpoint_env:
        exporter, why = "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT"
    else:
        exporter, why = cfg.exporter, "telemetry.exporter"

    path = None
    if exporter == "jsonl":
        if cfg.path:
            path = Path(cfg.path)
            if not path.is_absolute() and loaded is not None:
                path = _relative_to_config(loaded, path)
        else:
            path = loaded.data_path("traces.jsonl") if loaded is not None else Path(".mcproute") / "traces.jsonl"
    # Resolved here rather than left to the exporter, so an `environ` passed in is honoured too.
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        endpoint: str | None = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    elif env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        base = env["OTEL_EXPORTER_OTLP_ENDPOINT"]
        endpoint = _http_traces_url(base) if protocol == "http" else base
    elif cfg.endpoint:
        endpoint = _http_traces_url(cfg.endpoint) if protocol == "http" else cfg.endpoint
    else:
        endpoint = None
    return ExporterChoice(exporter, protocol, endpoint, path, service, why)


def _relative_to_config(loaded: LoadedConfig, path: Path) -> Path:
    return Path(loaded.source).resolve().parent / path if loaded.source else path


def _resource_service(text: str) -> str | None:
    for part in text.split(","):
        key, _, value = part.partition("=")
        if key.strip() == "service.name" and value.strip():
            return value.strip()
    return None


def _http_traces_url(endpoint: str) -> str:
    # Like OTEL_EXPORTER_OTLP_ENDPOINT: a base URL gets the signal path appended.
    return endpoint if endpoint.rstrip("/").endswith("/v1/traces") else endpoint.rstrip("/") + "/v1/traces"


def _make_exporter(choice: ExporterChoice) -> SpanExporter | None:
    if choice.exporter == "none":
        return None
    if choice.exporter == "console":
        return ConsoleSpanExporter(service_name=choice.service_name)
    if choice.exporter == "jsonl":
        assert choice.path is not None
        return JsonlSpanExporter(choice.path)
    if choice.protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
        except ImportError:
            raise ConfigError(
                [
                    ConfigIssue(
                        "telemetry.protocol",
                        "grpc export needs the package opentelemetry-exporter-otlp-proto-grpc: "
                        "pip install 'mcproute[grpc]' (or use protocol: http)",
                    )
                ]
            ) from None
        return GrpcExporter(endpoint=choice.endpoint) if choice.endpoint else GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=choice.endpoint) if choice.endpoint else HttpExporter()


# ---------------------------------------------------------------- the handle


@dataclass
class TelemetryHandle:
    """What `setup()` built. A context manager: leaving it flushes and shuts the pipeline down."""

    choice: ExporterChoice
    provider: TracerProvider | None
    redactor: Redactor
    log_filter: RedactingLogFilter
    installed: bool = False
    metrics: metrics_sdk.MetricsPipeline | None = None
    _closed: bool = field(default=False, repr=False)
    _filtered_handlers: list[logging.Handler] = field(default_factory=list, repr=False)

    def flush(self, timeout_millis: int = 10_000) -> bool:
        if self.metrics is not None:
            self.metrics.flush(timeout_millis)
        return self.provider.force_flush(timeout_millis) if self.provider is not None else True

    def prometheus_text(self) -> bytes | None:
        """The current metrics in the Prometheus text format; None unless `telemetry.metrics.prometheus`."""
        return self.metrics.prometheus_text() if self.metrics is not None else None

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        for h in self._filtered_handlers:
            h.removeFilter(self.log_filter)
        if self.metrics is not None:
            self.metrics.shutdown()
        if self.provider is not None:
            self.provider.force_flush()
            _switch.remove(self.provider)
            self.provider.shutdown()
        spans.set_capture_content(False)

    def __enter__(self) -> TelemetryHandle:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.shutdown()


def setup(
    telemetry_config: TelemetryConfig | None = None,
    loaded_config: LoadedConfig | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    extra_secrets: frozenset[str] = frozenset(),
) -> TelemetryHandle:
    """Build and install the tracing pipeline; close the returned handle to flush (short CLI runs)."""
    cfg = telemetry_config or (loaded_config.config.telemetry if loaded_config else TelemetryConfig())
    choice = choose_exporter(cfg, loaded_config, environ)
    redactor = redactor_for(loaded_config, extra_secrets)
    log_filter = RedactingLogFilter(redactor)
    handle = TelemetryHandle(choice, None, redactor, log_filter)
    for h in logging.getLogger().handlers:
        h.addFilter(log_filter)
        handle._filtered_handlers.append(h)

    env = os.environ if environ is None else environ
    handle.metrics = metrics_sdk.build(cfg, choice, env)
    exporter = _make_exporter(choice)
    if exporter is None:
        return handle
    if not _install_global():
        log.warning(
            "a tracer provider was already installed by someone else; mcproute's %s exporter is not used",
            choice.exporter,
        )
        return handle
    provider = TracerProvider(resource=Resource.create({"service.name": choice.service_name}))
    provider.add_span_processor(ConversationStamper())
    provider.add_span_processor(
        BatchSpanProcessor(RedactingExporter(exporter, redactor, capture_content=cfg.capture_content))
    )
    spans.set_capture_content(cfg.capture_content)
    _switch.push(provider)
    handle.provider = provider
    handle.installed = True
    log.debug("telemetry: %s exporter (chosen by %s)", choice.exporter, choice.why)
    return handle
