"""The metrics half of `telemetry.setup()`: the SDK MeterProvider and its readers.

Only setup.py imports this module (with setup.py, the only places that import the OpenTelemetry
SDK); library code records through `telemetry.metrics`, which uses the API alone.

Readers:
- OTLP, whenever traces go to OTLP (`telemetry.exporter: otlp` or the OTEL_* variables) and
  `telemetry.metrics.otlp` is on (the default), to the same collector over the same protocol;
  `OTEL_METRICS_EXPORTER=none` turns it off, `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` redirects it.
- Prometheus, when `telemetry.metrics.prometheus: true`: opentelemetry-exporter-prometheus's
  reader on a private registry (not prometheus_client's global one, so two gateways in one process
  never mix their metrics), rendered by prometheus_client for `GET /metrics`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from mcproute.config import ConfigIssue, TelemetryConfig
from mcproute.errors import ConfigError
from mcproute.telemetry import metrics

if TYPE_CHECKING:
    from mcproute.telemetry.setup import ExporterChoice

log = logging.getLogger(__name__)


@dataclass
class MetricsPipeline:
    provider: MeterProvider
    registry: Any = None  # prometheus_client CollectorRegistry, when /metrics is on
    otlp: bool = False
    _remove: Callable[[], None] = field(default=lambda: None, repr=False)

    def prometheus_text(self) -> bytes | None:
        if self.registry is None:
            return None
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    def flush(self, timeout_millis: int = 10_000) -> None:
        self.provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self._remove()
        self.provider.shutdown()  # the OTLP reader exports once more on the way out


def build(cfg: TelemetryConfig, choice: ExporterChoice, env: Mapping[str, str]) -> MetricsPipeline | None:
    """The pipeline `cfg` asks for, made current for `telemetry.metrics`; None when nothing reads metrics."""
    readers: list[MetricReader] = []
    registry = None
    if cfg.metrics.prometheus:
        registry, reader = _prometheus_reader()
        readers.append(reader)
    otlp = _otlp_wanted(cfg, choice, env)
    if otlp:
        readers.append(
            PeriodicExportingMetricReader(
                _otlp_exporter(choice.protocol, env, cfg.endpoint),
                export_interval_millis=cfg.metrics.export_interval * 1000,
            )
        )
    if not readers:
        return None
    provider = MeterProvider(metric_readers=readers, resource=Resource.create({"service.name": choice.service_name}))
    pipeline = MetricsPipeline(provider, registry, otlp)
    pipeline._remove = metrics.use_provider(provider)
    log.debug(
        "telemetry: metrics to %s",
        ", ".join(n for n, on in (("prometheus", registry is not None), ("otlp", otlp)) if on),
    )
    return pipeline


def _otlp_wanted(cfg: TelemetryConfig, choice: ExporterChoice, env: Mapping[str, str]) -> bool:
    chosen = env.get("OTEL_METRICS_EXPORTER", "").split(",")[0].strip().lower()
    if chosen == "none":
        return False
    if chosen == "otlp":
        return True
    return cfg.metrics.otlp and choice.exporter == "otlp"


def _otlp_exporter(protocol: str, env: Mapping[str, str], cfg_endpoint: str | None) -> Any:
    endpoint = env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or cfg_endpoint
    if endpoint is None and base:
        endpoint = base if protocol == "grpc" else base.rstrip("/").removesuffix("/v1/traces") + "/v1/metrics"
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcExporter
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
        return GrpcExporter(endpoint=endpoint) if endpoint else GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpExporter

    return HttpExporter(endpoint=endpoint) if endpoint else HttpExporter()


def _prometheus_reader() -> tuple[Any, MetricReader]:
    try:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import CollectorRegistry
    except ImportError:
        raise ConfigError(
            [
                ConfigIssue(
                    "telemetry.metrics.prometheus",
                    "the /metrics endpoint needs the package opentelemetry-exporter-prometheus: pip install opentelemetry-exporter-prometheus",
                )
            ]
        ) from None
    registry = CollectorRegistry(auto_describe=True)
    return registry, PrometheusMetricReader(registry=registry)
