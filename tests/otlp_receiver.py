"""A plain OTLP/HTTP trace receiver for tests: a loopback HTTP server decoding opentelemetry-proto.

It keeps every raw request body and header (so a test can scan *everything* exported for secrets)
and every decoded span in the neutral `SpanRecord` form. It also answers a minimal OpenAI-style
`POST /v1/chat/completions`, recording that request's headers, so one server can stand in for a
provider when a test checks that `traceparent` reaches provider HTTP requests.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from mcproute.telemetry.reader import SpanRecord

_KINDS = {0: "INTERNAL", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


def _value(v: AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which == "array_value":
        return [_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, which) if which else None


def decode(body: bytes) -> list[SpanRecord]:
    req = ExportTraceServiceRequest()
    req.ParseFromString(body)
    out = []
    for rs in req.resource_spans:
        service = next((_value(a.value) for a in rs.resource.attributes if a.key == "service.name"), None)
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append(
                    SpanRecord(
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_span_id=s.parent_span_id.hex() or None,
                        name=s.name,
                        kind=_KINDS[s.kind],
                        start_ns=s.start_time_unix_nano,
                        end_ns=s.end_time_unix_nano,
                        attributes={a.key: _value(a.value) for a in s.attributes},
                        service=service,
                        status=_STATUS[s.status.code],
                        status_description=s.status.message or None,
                        events=tuple(
                            {"name": e.name, "attributes": {a.key: _value(a.value) for a in e.attributes}}
                            for e in s.events
                        ),
                        links=tuple(
                            {
                                "trace_id": lk.trace_id.hex(),
                                "span_id": lk.span_id.hex(),
                                "attributes": {a.key: _value(a.value) for a in lk.attributes},
                            }
                            for lk in s.links
                        ),
                    )
                )
    return out


def decode_metrics(body: bytes) -> list[tuple[str, str, dict[str, Any], float]]:
    """(service, metric name, point attributes, value) per data point; a histogram's value is its count."""
    req = ExportMetricsServiceRequest()
    req.ParseFromString(body)
    out = []
    for rm in req.resource_metrics:
        service = next((_value(a.value) for a in rm.resource.attributes if a.key == "service.name"), "")
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                for p in getattr(m, kind).data_points:
                    attrs = {a.key: _value(a.value) for a in p.attributes}
                    value = (
                        p.count
                        if kind == "histogram"
                        else (p.as_double if p.WhichOneof("value") == "as_double" else p.as_int)
                    )
                    out.append((service, m.name, attrs, float(value)))
    return out


@dataclass
class Receiver:
    url: str = ""
    spans: list[SpanRecord] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)  # every OTLP export: headers + decoded body
    chat_headers: list[dict[str, str]] = field(default_factory=list)
    metrics: list[tuple[str, str, dict[str, Any], float]] = field(default_factory=list)  # from /v1/metrics
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        return self.url

    def wait_for(self, predicate: Callable[[list[SpanRecord]], bool], timeout: float = 20.0) -> list[SpanRecord]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                snapshot = list(self.spans)
            if predicate(snapshot):
                return snapshot
            if time.monotonic() > deadline:
                names = sorted({s.name for s in snapshot})
                raise AssertionError(f"receiver did not get the expected spans within {timeout}s; got {names}")
            time.sleep(0.05)


def _handler(rx: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path == "/v1/chat/completions":
                with rx.lock:
                    rx.chat_headers.append({k.lower(): v for k, v in self.headers.items()})
                reply = json.dumps(
                    {
                        "id": "chatcmpl-test",
                        "object": "chat.completion",
                        "model": "gpt-test-2026",
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
                        ],
                        "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
                    }
                ).encode()
                self._send(200, "application/json", reply)
                return
            if self.path not in ("/v1/traces", "/v1/metrics"):
                self._send(404, "text/plain", b"not found")
                return
            encoding = self.headers.get("Content-Encoding", "")
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            if self.path == "/v1/metrics":
                points = decode_metrics(body)
                with rx.lock:
                    rx.raw.append(str(self.headers).encode() + b"\n" + body)
                    rx.metrics.extend(points)
                self._send(200, "application/x-protobuf", ExportMetricsServiceResponse().SerializeToString())
                return
            try:
                spans = decode(body)
            except Exception as exc:  # a malformed export is a test failure, reported by status
                self._send(400, "text/plain", str(exc).encode())
                return
            with rx.lock:
                rx.raw.append(str(self.headers).encode() + b"\n" + body)
                rx.spans.extend(spans)
            self._send(200, "application/x-protobuf", ExportTraceServiceResponse().SerializeToString())

        def _send(self, code: int, ctype: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    rx = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rx))
    server.daemon_threads = True
    rx.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield rx
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
