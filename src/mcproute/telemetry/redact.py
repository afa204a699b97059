"""The one redaction function: nothing secret leaves the process or reaches a person's screen.

`Redactor.scrub` replaces, in any string: every configured secret value (see `secrets_of`: each
`${VAR}` value, every `api_key`, the HTTP `token`, secret-named `headers:`/`env:` values and
secret query parameters of configured URLs), anything shaped like a bearer token or an API key,
and the value of a secret-named URL query parameter (`?key=…`, `&api_key=…`, `&sig=…`).

It is applied wherever text leaves: exported spans (`redact_spans.RedactingExporter`), log records
(`RedactingLogFilter`, installed by every CLI command), the health reasons a downstream's stderr
feeds (`Downstream`), error text sent to MCP clients, `GET /status`, `mcproute tools` and serve's
start-up lines. `redactor_for(loaded)` builds it from a loaded config; the gateway keeps one.

No OpenTelemetry SDK import here: library code (the gateway, `/status`) uses this module.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from mcproute.telemetry import semconv as sc

if TYPE_CHECKING:
    from mcproute.config import Config, LoadedConfig

REDACTED = "[REDACTED]"
# A secret shorter than this is only redacted where it is a whole value: replacing every "1234"
# or "true" inside every string would shred the traces and protect nothing worth protecting.
MIN_SUBSTRING_SECRET = 8

_PATTERNS = [
    re.compile(r"(?i)\b(?:bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}"),  # OpenAI / Anthropic style keys
    re.compile(r"\b(?:AIza[0-9A-Za-z_-]{30,}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abpr]-[A-Za-z0-9-]{10,})"),
    # A secret-named query parameter in a URL (a model's base_url `?key=…` shows up in httpx's logs).
    re.compile(
        r"(?i)([?&;](?:key|api[_-]?key|apikey|x-api-key|token|access[_-]?token|auth|sig|signature|secret|"
        r"client[_-]?secret|password|code)=)[^&#\s\"'<>]+"
    ),
    re.compile(
        r"(?i)\b((?:api[_-]?key|x-api-key|access[_-]?token|auth[_-]?token|password|secret)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]{6,}"
    ),
]
_SENSITIVE_KEY = re.compile(
    r"(?i)(authorization|api[_-]?key|x-api-key|password|passwd|secret|(?<![a-z])token(?!s)|cookie)"
)


def _keep_name(m: re.Match[str]) -> str:
    return m.group(1) + REDACTED


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
        for pattern in _PATTERNS:
            text = pattern.sub(_keep_name if pattern.groups else REDACTED, text)
        return text

    def scrub_json(self, value: Any) -> Any:
        """A copy of a JSON-like value with every string scrubbed (keys too: a header name is harmless,
        but a key can be anything a downstream chose)."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, Mapping):
            return {self.scrub(str(k)): self.scrub_json(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.scrub_json(v) for v in value]
        return value

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


def install_log_redaction(redactor: Redactor) -> RedactingLogFilter:
    """Put a redacting filter on every root handler (filters on loggers miss propagated records)."""
    log_filter = RedactingLogFilter(redactor)
    for h in logging.getLogger().handlers:
        h.addFilter(log_filter)
    return log_filter


# ---------------------------------------------------------------- what the config holds


_SECRET_QUERY = re.compile(
    r"(?i)^(key|api[_-]?key|apikey|x-api-key|token|access[_-]?token|auth|sig|signature|secret|client[_-]?secret|password|code)$"
)


def secrets_of(config: Config) -> set[str]:
    """Every secret value written in the config itself (literal or interpolated): keys, tokens,
    secret-named header and env values, secret query parameters of URLs."""
    out: set[str] = set()

    def url(u: str | None) -> None:
        if u:
            try:
                out.update(
                    v for k, v in parse_qsl(urlsplit(u).query, keep_blank_values=False) if _SECRET_QUERY.match(k)
                )
            except ValueError:
                pass

    def named(values: Mapping[str, str]) -> None:
        for k, v in values.items():
            if _SENSITIVE_KEY.search(k) and v:
                out.add(v)
                scheme, _, rest = v.partition(" ")  # "Bearer abc…": the token alone too
                if rest and scheme.lower() in ("bearer", "basic", "token"):
                    out.add(rest.strip())

    if config.gateway.http.token:
        out.add(config.gateway.http.token)
    oauth = config.gateway.http.oauth
    if oauth is not None and oauth.introspection is not None:
        out.add(oauth.introspection.client_secret)  # the gateway's own credential at the issuer
    for m in config.models.values():
        out.update(k for k in [m.api_key, *(d.api_key for d in m.deployments)] if k)
        for u in [m.base_url, *(d.base_url for d in m.deployments)]:
            url(u)
    for s in config.servers.values():
        named(s.headers)
        named(s.env)
        for u in s.replica_urls:
            url(u)
    return out


def redactor_for(loaded: LoadedConfig | Config | None, extra: Iterable[str] = ()) -> Redactor:
    """The redactor for a config: its `${VAR}` values plus everything `secrets_of` finds."""
    if loaded is None:
        return Redactor(extra)
    from mcproute.config import LoadedConfig

    if isinstance(loaded, LoadedConfig):
        return Redactor(set(loaded.secrets) | secrets_of(loaded.config) | set(extra))
    return Redactor(secrets_of(loaded) | set(extra))
