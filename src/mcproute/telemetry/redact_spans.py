"""The span side of redaction: every exported span goes through `Redactor` on its way out.

It sits at the export boundary rather than in a SpanProcessor because a finished SDK span is
read-only: the only safe place to rewrite it is on its way out. Like `setup.py` and `jsonl.py`
this module imports the OpenTelemetry SDK, so only `setup()` imports it; the `Redactor` itself
lives in `redact.py`, which has no SDK import and is used by the gateway, `/status` and the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status

from mcproute.telemetry.redact import Redactor


class RedactingExporter(SpanExporter):
    """Wraps a real exporter; every span is scrubbed before it is handed on."""

    def __init__(self, inner: SpanExporter, redactor: Redactor, *, capture_content: bool = False) -> None:
        self.inner = inner
        self.redactor = redactor
        self.capture_content = capture_content

    def _clean(self, span: ReadableSpan) -> ReadableSpan:
        r = self.redactor
        events = [
            Event(r.scrub(e.name), r.attributes(e.attributes, capture_content=self.capture_content), e.timestamp)
            for e in span.events
            if self.capture_content or not e.name.startswith("gen_ai.content")
        ]
        links = [Link(link.context, r.attributes(link.attributes)) for link in span.links]
        status = span.status
        if status.description:
            status = Status(status.status_code, r.scrub(status.description))
        return ReadableSpan(
            name=r.scrub(span.name),
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=r.attributes(span.attributes, capture_content=self.capture_content),
            events=events,
            links=links,
            kind=span.kind,
            status=status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([self._clean(s) for s in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)
