"""A SpanExporter writing one JSON object per span, one per line (the default exporter).

The format is the neutral span form `reader.SpanRecord` reads back:

    {"trace_id": "<32 hex>", "span_id": "<16 hex>", "parent_span_id": "<16 hex>" | null,
     "name": ..., "kind": "SERVER"|"CLIENT"|"INTERNAL"|"PRODUCER"|"CONSUMER",
     "start_time_unix_nano": int, "end_time_unix_nano": int,
     "attributes": {...}, "events": [{"name", "time_unix_nano", "attributes"}],
     "links": [{"trace_id", "span_id", "attributes"}],
     "status": {"code": "UNSET"|"OK"|"ERROR", "description": str | null},
     "resource": {"service.name": ...}, "scope": "<instrumentation scope name>"}

Writes are appended under a lock and flushed per batch, so a reader never sees half a batch
from this process (a crash can still leave a truncated last line; the reader names it).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


def _attrs(attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in (attrs or {}).items()}


def span_to_dict(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.context
    resource = span.resource.attributes if span.resource is not None else {}
    return {
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_span_id": f"{span.parent.span_id:016x}" if span.parent is not None else None,
        "name": span.name,
        "kind": span.kind.name,
        "start_time_unix_nano": span.start_time,
        "end_time_unix_nano": span.end_time,
        "attributes": _attrs(span.attributes),
        "events": [
            {"name": e.name, "time_unix_nano": e.timestamp, "attributes": _attrs(e.attributes)} for e in span.events
        ],
        "links": [
            {
                "trace_id": f"{link.context.trace_id:032x}",
                "span_id": f"{link.context.span_id:016x}",
                "attributes": _attrs(link.attributes),
            }
            for link in span.links
        ],
        "status": {"code": span.status.status_code.name, "description": span.status.description},
        "resource": {"service.name": resource.get("service.name")},
        "scope": span.instrumentation_scope.name if span.instrumentation_scope is not None else None,
    }


class JsonlSpanExporter(SpanExporter):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._closed = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._closed:
            return SpanExportResult.FAILURE
        data = "".join(json.dumps(span_to_dict(s), ensure_ascii=False, default=str) + "\n" for s in spans).encode()
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # One write(2) on an O_APPEND descriptor per batch: processes sharing the file
                # (`serve --workers N`) append whole batches, never interleaved lines.
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._closed = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
