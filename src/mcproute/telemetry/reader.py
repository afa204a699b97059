"""Read spans back (our JSONL file, or Jaeger's query API) into one neutral form, and turn them
into per-conversation decision timelines for `mcproute traces`.

Jaeger v2 answers in two dialects: `/api/v3/traces` returns OTLP/JSON (`resourceSpans`), the
legacy `/api/traces` returns Jaeger's own model (`operationName`, `references`, `tags`, times in
microseconds). Both are mapped to `SpanRecord`, the same shape `jsonl.py` writes.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcproute.errors import DataFileError
from mcproute.telemetry import semconv as sc


@dataclass(frozen=True, slots=True)
class SpanRecord:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    attributes: Mapping[str, Any]
    service: str | None = None
    status: str = "UNSET"
    status_description: str | None = None
    events: tuple[Mapping[str, Any], ...] = ()
    links: tuple[Mapping[str, Any], ...] = ()  # {"trace_id", "span_id", "attributes"}

    @property
    def duration_ms(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e6

    @property
    def conversation_id(self) -> str | None:
        v = self.attributes.get(sc.GEN_AI_CONVERSATION_ID)
        return v if isinstance(v, str) else None


# ---------------------------------------------------------------- JSONL


def record_from_dict(d: Mapping[str, Any]) -> SpanRecord:
    status = d.get("status") or {}
    return SpanRecord(
        trace_id=str(d["trace_id"]),
        span_id=str(d["span_id"]),
        parent_span_id=d.get("parent_span_id"),
        name=str(d["name"]),
        kind=str(d.get("kind", "INTERNAL")),
        start_ns=int(d.get("start_time_unix_nano") or 0),
        end_ns=int(d.get("end_time_unix_nano") or 0),
        attributes=dict(d.get("attributes") or {}),
        service=(d.get("resource") or {}).get("service.name"),
        status=str(status.get("code", "UNSET")),
        status_description=status.get("description"),
        events=tuple(d.get("events") or ()),
        links=tuple(d.get("links") or ()),
    )


def read_jsonl(path: str | Path) -> list[SpanRecord]:
    """Every span in the file; a malformed line raises DataFileError naming it (path:line)."""
    p = Path(path)
    out: list[SpanRecord] = []
    try:
        fh = p.open(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(str(p), 0, f"cannot read traces: {exc.strerror}") from None
    with fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                out.append(record_from_dict(data))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
                raise DataFileError(str(p), n, f"not a span record: {exc}") from None
    return out


# ---------------------------------------------------------------- Jaeger: OTLP/JSON (api v3)


def _otlp_id(value: Any, width: int) -> str | None:
    if not value:
        return None
    s = str(value)
    if len(s) == width * 2:
        try:
            int(s, 16)
            return s.lower()
        except ValueError:
            pass
    try:
        return base64.b64decode(s, validate=True).hex().rjust(width * 2, "0")
    except (binascii.Error, ValueError):
        return s


def _otlp_value(v: Mapping[str, Any]) -> Any:
    if "stringValue" in v:
        return v["stringValue"]
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "arrayValue" in v:
        return [_otlp_value(x) for x in (v["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in v:
        return _otlp_attrs((v["kvlistValue"] or {}).get("values", []))
    return None


def _otlp_attrs(items: Iterable[Mapping[str, Any]] | None) -> dict[str, Any]:
    return {a["key"]: _otlp_value(a.get("value") or {}) for a in items or ()}


_KINDS = {0: "INTERNAL", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


def _enum(value: Any, table: Mapping[int, str], prefix: str) -> str:
    if isinstance(value, int):
        return table.get(value, "INTERNAL")
    s = str(value or "").upper().removeprefix(prefix)
    return "INTERNAL" if s in ("", "UNSPECIFIED") and prefix == "SPAN_KIND_" else (s or "UNSET")


def parse_otlp_json(doc: Mapping[str, Any]) -> list[SpanRecord]:
    """OTLP/JSON TracesData, bare or wrapped in Jaeger's `{"result": ...}`."""
    root = doc.get("result", doc)
    out: list[SpanRecord] = []
    for rs in root.get("resourceSpans") or ():
        service = _otlp_attrs((rs.get("resource") or {}).get("attributes")).get("service.name")
        for ss in rs.get("scopeSpans") or ():
            for s in ss.get("spans") or ():
                status = s.get("status") or {}
                out.append(
                    SpanRecord(
                        trace_id=_otlp_id(s.get("traceId"), 16) or "",
                        span_id=_otlp_id(s.get("spanId"), 8) or "",
                        parent_span_id=_otlp_id(s.get("parentSpanId"), 8),
                        name=str(s.get("name", "")),
                        kind=_enum(s.get("kind"), _KINDS, "SPAN_KIND_"),
                        start_ns=int(s.get("startTimeUnixNano") or 0),
                        end_ns=int(s.get("endTimeUnixNano") or 0),
                        attributes=_otlp_attrs(s.get("attributes")),
                        service=service,
                        status=_enum(status.get("code"), _STATUS, "STATUS_CODE_"),
                        status_description=status.get("message") or None,
                        events=tuple(
                            {
                                "name": e.get("name"),
                                "time_unix_nano": int(e.get("timeUnixNano") or 0),
                                "attributes": _otlp_attrs(e.get("attributes")),
                            }
                            for e in s.get("events") or ()
                        ),
                        links=tuple(
                            {
                                "trace_id": _otlp_id(lk.get("traceId"), 16),
                                "span_id": _otlp_id(lk.get("spanId"), 8),
                                "attributes": _otlp_attrs(lk.get("attributes")),
                            }
                            for lk in s.get("links") or ()
                        ),
                    )
                )
    return out


# ---------------------------------------------------------------- Jaeger: legacy model


def _tag_value(tag: Mapping[str, Any]) -> Any:
    value = tag.get("value")
    if value is None:  # a tag without a value: int(None) would abort reading the whole trace
        return None
    kind = str(tag.get("type", "string")).lower()
    if kind == "int64":
        return int(value)
    if kind == "float64":
        return float(value)
    if kind == "bool":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    return value


def parse_jaeger_legacy(doc: Mapping[str, Any]) -> list[SpanRecord]:
    out: list[SpanRecord] = []
    for tr in doc.get("data") or ():
        processes = tr.get("processes") or {}
        for s in tr.get("spans") or ():
            tags = {t["key"]: _tag_value(t) for t in s.get("tags") or ()}
            kind = str(tags.pop("span.kind", "internal")).upper()
            code = tags.pop("otel.status_code", "UNSET")
            desc = tags.pop("otel.status_description", None)
            if tags.get("error") is True and code == "UNSET":
                code = "ERROR"
            parent, links = None, []
            for ref in s.get("references") or ():
                if ref.get("refType") == "CHILD_OF" and ref.get("traceID") == s.get("traceID") and parent is None:
                    parent = ref.get("spanID")
                else:
                    links.append({"trace_id": ref.get("traceID"), "span_id": ref.get("spanID"), "attributes": {}})
            start_us = int(s.get("startTime") or 0)
            proc = processes.get(s.get("processID")) or {}
            out.append(
                SpanRecord(
                    trace_id=str(s.get("traceID", "")).rjust(32, "0"),
                    span_id=str(s.get("spanID", "")).rjust(16, "0"),
                    parent_span_id=str(parent).rjust(16, "0") if parent else None,
                    name=str(s.get("operationName", "")),
                    kind=kind,
                    start_ns=start_us * 1000,
                    end_ns=(start_us + int(s.get("duration") or 0)) * 1000,
                    attributes=tags,
                    service=proc.get("serviceName"),
                    status=str(code).upper(),
                    status_description=desc,
                    events=tuple(
                        {
                            "name": next(
                                (f.get("value") for f in lg.get("fields") or () if f.get("key") == "event"), "log"
                            ),
                            "time_unix_nano": int(lg.get("timestamp") or 0) * 1000,
                            "attributes": {
                                f["key"]: _tag_value(f) for f in lg.get("fields") or () if f.get("key") != "event"
                            },
                        }
                        for lg in s.get("logs") or ()
                    ),
                    links=tuple(links),
                )
            )
    return out


def fetch_jaeger(
    base_url: str,
    service: str,
    *,
    start_ns: int,
    end_ns: int,
    limit: int = 100,
    timeout: float = 10.0,
    api: str = "auto",
) -> list[SpanRecord]:
    """Spans of traces touching `service` between two instants, via api v3 (`auto` falls back to
    the legacy API when v3 answers with anything but 200/404)."""
    import httpx

    base = base_url.rstrip("/")
    with httpx.Client(timeout=timeout) as client:
        if api == "legacy":
            return _fetch_legacy(client, base, service, start_ns, end_ns, limit)
        r = client.get(
            f"{base}/api/v3/traces",
            params={
                "query.service_name": service,
                "query.start_time_min": _rfc3339(start_ns),
                "query.start_time_max": _rfc3339(end_ns),
                "query.search_depth": str(limit),
            },
        )
        if r.status_code == 404 and "not found" in r.text.lower():
            return []
        if r.status_code == 200:
            return parse_otlp_json(r.json())
        if api == "v3":
            raise RuntimeError(f"Jaeger query at {base}/api/v3/traces failed: HTTP {r.status_code} {r.text[:200]!r}")
        return _fetch_legacy(client, base, service, start_ns, end_ns, limit)


def _fetch_legacy(client: Any, base: str, service: str, start_ns: int, end_ns: int, limit: int) -> list[SpanRecord]:
    r = client.get(
        f"{base}/api/traces",
        params={
            "service": service,
            "start": str(start_ns // 1000),
            "end": str(end_ns // 1000),
            "limit": str(limit),
        },
    )
    if r.status_code != 200:
        raise RuntimeError(f"Jaeger query at {base}/api/traces failed: HTTP {r.status_code} {r.text[:200]!r}")
    return parse_jaeger_legacy(r.json())


def _rfc3339(ns: int) -> str:
    from datetime import UTC, datetime

    dt = datetime.fromtimestamp(ns / 1e9, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ns % 1_000_000_000:09d}Z"


# Timelines live in telemetry/timeline.py; re-exported so `reader.timeline(...)` keeps working.
from mcproute.telemetry.timeline import ConversationSummary, TimelineRow, conversations, timeline  # noqa: E402

__all__ = [
    "ConversationSummary",
    "SpanRecord",
    "TimelineRow",
    "conversations",
    "fetch_jaeger",
    "parse_jaeger_legacy",
    "parse_otlp_json",
    "read_jsonl",
    "record_from_dict",
    "timeline",
]
