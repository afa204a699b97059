"""The switchable global tracer caches the active provider's tracer (one `get_tracer` per switch,
not per span): spans must still follow every switch — setup, a second setup, shutdown."""

from __future__ import annotations

from pathlib import Path

from opentelemetry import trace

from mcproute.config import TelemetryConfig
from mcproute.telemetry.setup import setup


def test_a_tracer_taken_before_setup_follows_every_provider_switch(tmp_path: Path) -> None:
    tracer = trace.get_tracer("mcproute.test.cache")  # taken once, as library modules do at import
    with tracer.start_as_current_span("before-any-setup") as span:
        first_valid = span.get_span_context().is_valid
    with setup(TelemetryConfig(path=str(tmp_path / "a.jsonl")), None, environ={}):
        with tracer.start_as_current_span("in-a") as span:
            assert span.is_recording()
    with setup(TelemetryConfig(path=str(tmp_path / "b.jsonl")), None, environ={}):
        with tracer.start_as_current_span("in-b") as span:
            assert span.is_recording()
        started = tracer.start_span("started-in-b")
        started.end()
    with tracer.start_as_current_span("after-shutdown") as span:
        assert not span.is_recording()
    a, b = (tmp_path / "a.jsonl").read_text(), (tmp_path / "b.jsonl").read_text()
    assert "in-a" in a and "in-b" not in a and "started-in-b" not in a
    assert "in-b" in b and "started-in-b" in b and "in-a" not in b
    assert "before-any-setup" not in a + b and "after-shutdown" not in a + b
    assert first_valid is False


def test_start_as_current_span_still_works_as_a_decorator(tmp_path: Path) -> None:
    tracer = trace.get_tracer("mcproute.test.cache")

    @tracer.start_as_current_span("decorated")
    def work() -> bool:
        return trace.get_current_span().is_recording()

    with setup(TelemetryConfig(path=str(tmp_path / "d.jsonl")), None, environ={}):
        assert work() is True
    assert "decorated" in (tmp_path / "d.jsonl").read_text()
