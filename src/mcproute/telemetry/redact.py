"""Secrets never leave the process in a span or a log line.

`Redactor.scrub` replaces, in any string: every value that came from an environment variable
(`LoadedConfig.secrets`), and anything shaped like a bearer token or an API key. `RedactingExporter`
applies it to every exported span (name, attributes, events, links, status) just before the real
exporter sees it, and drops prompt/response content unless `capture_content` is on. It sits at the
export boundary rather than in a SpanProcessor because a finished SDK span is read-only: the only
safe place to rewrite it is on its way out. `RedactingLogFilter` does the same for log records.

Like `setup.py` and `jsonl.py`, this is the SDK side of telemetry; library code never imports it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status

from mcproute.telemetry import semconv as sc

REDACTED = "[REDACTED]"
# A secret shorter than this is only redacted where it is a whole value: replacing every "1234"
# or "true" inside every string would shred the traces and protect nothing worth protecting.
MIN_SUBSTRING_SECRET = 8

_PATTERNS = [
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}"),  # OpenAI / Anthropic style keys
    re.compile(r"\b(?:AIza[0-9A-Za-z_-]{30,}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abpr]-[A-Za-z0-9-]{10,})"),
    re.compile(r"(?i)\b((?:api[_-]?key|x-api-key|access[_-]?token|auth[_-]?token|password|secret)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]{6,}"),
]
_SENSITIVE_KEY = re.compile(r"(?i)(authorization|api[_-]?key|x-api-key|password|passwd|secret|(?<![a-z])token(?!s)|cookie)")


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        clean = {s for s in secrets if s}
        self._whole = frozenset(clean)
        long_ones = sorted((s for s in clean if len(s) >= MIN_SUBSTRING_SECRET), key=len, reverse=True)
        self._secret_re = re.compile("|".join(re.escape(s) for s in long_ones)) if long_ones else None

    def scrub(self, text: str) -> str:
        if text in self._whole:
            return REDACTED
        if self._secret_re is not None:
            text = self._secret_re.sub(REDACTED, text)
        for i, pattern in enumerate(_PATTERNS):
            if i == len(_PATTERNS) - 1:
                text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
            else:
                text = pattern.sub(REDACTED, text)
        return text

    def value(self, key: str, value: Any) -> Any:
        if _SENSITIVE_KEY.search(key) and not key.startswith(("gen_ai.usage", "mcproute.")):
            return REDACTED
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, (list, tuple)):
            return tuple(self.scrub(v) if isinstance(v, str) else v for v in value)
        return value

    def attributes(self, attrs: Mapping[str, Any] | None, *, capture_content: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in (attrs or {}).items():
            if not capture_content and k in sc.CONTENT_ATTRIBUTES:
                continue
            out[k] = self.value(k, v)
        return out


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


class RedactingLogFilter(logging.Filter):
    """Scrubs a log record's formatted message (install on handlers: filters on loggers miss propagated records)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        clean = self.redactor.scrub(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            # Format the traceback now, scrubbed, so handlers print the clean text.
            record.exc_text = self.redactor.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
