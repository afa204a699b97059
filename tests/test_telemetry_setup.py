"""Which exporter `setup()` picks from OTEL_* variables and servers.yaml, and bounded decisions."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from mcproute.config import TelemetryConfig, parse_config
from mcproute.errors import ConfigError
from mcproute.router.step import Candidate
from mcproute.telemetry import decision as tdecision, spans
from mcproute.telemetry.setup import choose_exporter, setup
from telemetry_steps import make_decision


@pytest.mark.parametrize(
    ("environ", "cfg", "exporter", "why"),
    [
        ({}, TelemetryConfig(), "jsonl", "telemetry.exporter"),
        ({}, TelemetryConfig(exporter="console"), "console", "telemetry.exporter"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
            TelemetryConfig(),
            "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ),
        (
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://h:4318/v1/traces"},
            TelemetryConfig(exporter="none"),
            "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:4318", "OTEL_TRACES_EXPORTER": "console"},
            TelemetryConfig(),
            "console",
            "OTEL_TRACES_EXPORTER",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:4318", "OTEL_SDK_DISABLED": "true"},
            TelemetryConfig(),
            "none",
            "OTEL_SDK_DISABLED",
        ),
    ],
)
def test_exporter_precedence(environ: dict[str, str], cfg: TelemetryConfig, exporter: str, why: str) -> None:
    choice = choose_exporter(cfg, None, environ)
    assert (choice.exporter, choice.why) == (exporter, why)


def test_endpoint_protocol_and_service_name() -> None:
    c = choose_exporter(TelemetryConfig(exporter="otlp", endpoint="http://jaeger:4318"), None, {})
    assert (c.endpoint, c.protocol) == ("http://jaeger:4318/v1/traces", "http")
    c = choose_exporter(
        TelemetryConfig(), None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    )
    assert (c.endpoint, c.protocol) == ("http://h:4317", "grpc")
    c = choose_exporter(
        TelemetryConfig(service_name="cfg-name"), None, {"OTEL_RESOURCE_ATTRIBUTES": "team=x,service.name=res-name"}
    )
    assert c.service_name == "res-name"
    c = choose_exporter(
        TelemetryConfig(service_name="cfg-name"),
        None,
        {"OTEL_SERVICE_NAME": "env-name", "OTEL_RESOURCE_ATTRIBUTES": "service.name=res"},
    )
    assert c.service_name == "env-name"
    assert choose_exporter(TelemetryConfig(service_name="cfg-name"), None, {}).service_name == "cfg-name"
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL: unsupported protocol 'http/json'"):
        choose_exporter(TelemetryConfig(), None, {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER: unsupported exporter 'zipkin'"):
        choose_exporter(TelemetryConfig(), None, {"OTEL_TRACES_EXPORTER": "zipkin"})


def test_jsonl_path_resolves_against_the_config_file(tmp_path: Path) -> None:
    loaded = parse_config("telemetry:\n  path: logs/t.jsonl\n", source=str(tmp_path / "servers.yaml"), environ={})
    assert choose_exporter(loaded.config.telemetry, loaded, {}).path == tmp_path / "logs" / "t.jsonl"
    loaded = parse_config("data_dir: d\n", source=str(tmp_path / "servers.yaml"), environ={})
    assert choose_exporter(loaded.config.telemetry, loaded, {}).path == tmp_path / "d" / "traces.jsonl"


def test_grpc_is_an_optional_extra_with_a_clear_error() -> None:
    cfg = TelemetryConfig(exporter="otlp", protocol="grpc", endpoint="http://127.0.0.1:9")
    if importlib.util.find_spec("opentelemetry.exporter.otlp.proto.grpc") is None:
        with pytest.raises(
            ConfigError,
            match=r"telemetry\.protocol: grpc export needs the package opentelemetry-exporter-otlp-proto-grpc",
        ):
            setup(cfg, None, environ={})
    else:
        with setup(cfg, None, environ={}) as handle:
            assert type(handle.provider).__name__ == "TracerProvider"


def test_disabled_sdk_installs_nothing_and_spans_are_noops(tmp_path: Path) -> None:
    with setup(TelemetryConfig(path=str(tmp_path / "t.jsonl")), None, environ={"OTEL_SDK_DISABLED": "true"}) as handle:
        assert handle.provider is None
        with spans.route_span("conv-off", "s") as span:
            assert not span.get_span_context().is_valid
    assert not (tmp_path / "t.jsonl").exists()


def test_sequential_setups_each_get_their_own_pipeline(tmp_path: Path) -> None:
    for name in ("a", "b"):
        with setup(TelemetryConfig(path=str(tmp_path / f"{name}.jsonl")), None, environ={}):
            with spans.route_span(f"conv-{name}", "s"):
                pass
    assert "conv-a" in (tmp_path / "a.jsonl").read_text() and "conv-b" not in (tmp_path / "a.jsonl").read_text()
    assert "conv-b" in (tmp_path / "b.jsonl").read_text()


def test_decision_attributes_are_bounded() -> None:
    many = tuple(Candidate("srv__" + "x" * 300 + str(i), 1.0 / (i + 1)) for i in range(100))
    d = make_decision(
        "c", "s", alternatives=many, signals={f"signal_{i}": float(i) for i in range(100)}, reason="r" * 5000
    )
    attrs = tdecision.decision_attributes(d)
    alts = json.loads(attrs["mcproute.decision.alternatives"])
    assert len(attrs["mcproute.decision.alternatives"]) <= tdecision.MAX_JSON_CHARS
    assert alts[-1] == tdecision.TRUNCATED and 1 <= len(alts) - 1 <= tdecision.MAX_ALTERNATIVES
    assert all(len(name) <= tdecision.MAX_NAME_CHARS for name, _ in alts[:-1])
    signals = json.loads(attrs["mcproute.decision.signals"])
    assert len(signals) <= tdecision.MAX_SIGNALS + 1 and signals[tdecision.TRUNCATED] == 100 - tdecision.MAX_SIGNALS
    assert len(attrs["mcproute.decision.reason"]) == tdecision.MAX_REASON_CHARS
    assert "mcproute.decision.tool" in attrs
    assert "mcproute.decision.tool" not in tdecision.decision_attributes(make_decision("c", "s", tool=None))
