"""A real Jaeger v2 (all-in-one, in-memory) on free loopback ports, for end-to-end trace tests.

Use it from any test module:

    from jaeger_fixture import jaeger  # noqa: F401  (a pytest fixture)

    def test_x(jaeger: Jaeger) -> None:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_http}
        ... export through mcproute.telemetry.setup(...) ...
        spans = jaeger.wait_for_spans("mcproute", lambda s: ...)

The binary comes from `scripts/install-jaeger.sh` (run by `make test`) at `.jaeger/jaeger`, or from
$MCPROUTE_JAEGER_BIN. When it is missing the test FAILS with the installer's reason instead of
skipping: an interop test that silently skips proves nothing in CI.

Jaeger v2 is an OpenTelemetry Collector distribution, so its ports live in a collector YAML given
with `--config`: OTLP in `receivers.otlp.protocols.{grpc,http}.endpoint`, the query API in
`extensions.jaeger_query.http.endpoint` (gRPC query in `.grpc.endpoint`), and the collector's own
metrics are switched off so nothing listens on the default 8888.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mcproute.telemetry.reader import SpanRecord, fetch_jaeger

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BIN = ROOT / ".jaeger" / "jaeger"
REASON_FILE = ROOT / ".jaeger" / "UNAVAILABLE"

CONFIG = """
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{query_http}
    grpc:
      endpoint: 127.0.0.1:{query_grpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{otlp_grpc}
      http:
        endpoint: 127.0.0.1:{otlp_http}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


@dataclass(frozen=True)
class Jaeger:
    query_url: str  # e.g. http://127.0.0.1:PORT — give it to `mcproute traces --jaeger`
    otlp_http: str  # OTEL_EXPORTER_OTLP_ENDPOINT for protocol http/protobuf
    otlp_grpc: str  # OTEL_EXPORTER_OTLP_ENDPOINT for protocol grpc
    log_path: Path

    def spans(self, service: str, *, since_ns: int, limit: int = 50) -> list[SpanRecord]:
        return fetch_jaeger(
            self.query_url, service, start_ns=since_ns, end_ns=time.time_ns() + 60_000_000_000, limit=limit
        )

    def wait_for_spans(
        self, service: str, predicate: Callable[[list[SpanRecord]], bool], *, since_ns: int, timeout: float = 30.0
    ) -> list[SpanRecord]:
        deadline = time.monotonic() + timeout
        got: list[SpanRecord] = []
        while time.monotonic() < deadline:
            got = self.spans(service, since_ns=since_ns)
            if predicate(got):
                return got
            time.sleep(0.2)
        raise AssertionError(
            f"Jaeger did not return the expected spans for {service!r} within {timeout}s; got {sorted(s.name for s in got)}"
        )


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def jaeger_binary() -> Path:
    path = Path(os.environ.get("MCPROUTE_JAEGER_BIN") or DEFAULT_BIN)
    if not path.is_file() or not os.access(path, os.X_OK):
        why = (
            REASON_FILE.read_text().strip() if REASON_FILE.exists() else "run `make jaeger` (scripts/install-jaeger.sh)"
        )
        pytest.fail(f"Jaeger v2 binary not found at {path}: {why}", pytrace=False)
    return path


def _wait_ready(proc: subprocess.Popen[bytes], query_url: str, log_path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jaeger exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{query_url}/api/services", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"jaeger did not answer on {query_url} within {timeout}s: {log_path.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jaeger]:
    binary = jaeger_binary()
    work = tmp_path_factory.mktemp("jaeger")
    last_error: Exception | None = None
    for attempt in range(3):  # a free port can be taken between probing and binding
        query_http, query_grpc, otlp_grpc, otlp_http = _free_ports(4)
        config = work / f"config-{attempt}.yaml"
        config.write_text(
            CONFIG.format(query_http=query_http, query_grpc=query_grpc, otlp_grpc=otlp_grpc, otlp_http=otlp_http)
        )
        log_path = work / f"jaeger-{attempt}.log"
        log = log_path.open("wb")
        proc = subprocess.Popen(
            [str(binary), "--config", str(config)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        inst = Jaeger(
            f"http://127.0.0.1:{query_http}", f"http://127.0.0.1:{otlp_http}", f"http://127.0.0.1:{otlp_grpc}", log_path
        )
        try:
            _wait_ready(proc, inst.query_url, log_path)
        except RuntimeError as exc:
            last_error = exc
            _stop(proc)
            log.close()
            continue
        try:
            yield inst
        finally:
            _stop(proc)
            log.close()
        return
    pytest.fail(f"could not start Jaeger: {last_error}", pytrace=False)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
