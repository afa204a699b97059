"""The one place where HTTP outcomes become typed provider errors (httpx's own habit:
map transport exceptions at the boundary, never let them leak upward).

Error messages carry the provider's own `error.message` (useful: "model not found") but are
scrubbed of the API key first, because some providers echo part or all of a bad key back.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from mcproute.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderProtocolError,
    ProviderRequestRejected,
    ProviderServerError,
    ProviderTimeout,
    RateLimited,
)
from mcproute.telemetry.redact import Redactor

_MAX_DETAIL = 300


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """The one redaction (telemetry/redact.py), with this deployment's key known to it."""
    return Redactor(s for s in secrets if s).scrub(text)


def parse_retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds to wait: `retry-after-ms` (OpenAI), `retry-after` as seconds or an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _detail(response: httpx.Response) -> str:
    """The provider's error message if the body has the usual `{"error": {"message": ...}}`."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return ""
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        kind = err.get("type") or err.get("code") or ""
        msg = str(err.get("message") or "")
        return (f"{kind}: {msg}" if kind else msg)[:_MAX_DETAIL]
    if isinstance(err, str):
        return err[:_MAX_DETAIL]
    return ""


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    timeout: float,
    provider: str,
    secrets: Iterable[str | None] = (),
) -> dict[str, Any]:
    """POST a JSON body; return the JSON object reply or raise a `ProviderError` subclass."""
    secrets = tuple(secrets)
    where = f"{provider} {httpx.URL(url).host}"
    try:
        response = await client.post(url, headers=dict(headers), json=dict(body), timeout=httpx.Timeout(timeout))
    except httpx.TimeoutException:
        raise ProviderTimeout(f"{where}: no reply within {timeout:g}s") from None
    except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        # Keep only the exception's class and text: the request (with its headers) stays out.
        raise ProviderConnectionError(redact(f"{where}: {type(exc).__name__}: {exc}", secrets)[:_MAX_DETAIL]) from None
    except httpx.HTTPError as exc:
        raise ProviderConnectionError(redact(f"{where}: {type(exc).__name__}: {exc}", secrets)[:_MAX_DETAIL]) from None
    return _decode(response, where, secrets)


def _decode(response: httpx.Response, where: str, secrets: tuple[str | None, ...]) -> dict[str, Any]:
    status = response.status_code
    if status >= 300:
        detail = redact(_detail(response), secrets)
        text = f"{where}: HTTP {status}" + (f": {detail}" if detail else "")
        if status == 429:
            raise RateLimited(text, parse_retry_after(response.headers))
        if status >= 500:
            exc: ProviderError = ProviderServerError(text, status)
            exc.retry_after = parse_retry_after(response.headers)  # type: ignore[attr-defined]
            raise exc
        if status in (408, 409):  # request timeout / conflict: transient by definition
            raise ProviderServerError(text, status)
        raise ProviderRequestRejected(text, status)
    ctype = response.headers.get("content-type", "")
    if "json" not in ctype.lower():
        raise ProviderProtocolError(f"{where}: expected a JSON reply, got content-type {ctype or 'none'!r}")
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise ProviderProtocolError(f"{where}: reply is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ProviderProtocolError(f"{where}: expected a JSON object, got {type(data).__name__}")
    return data


def shape_error(provider: str, what: str) -> ProviderProtocolError:
    return ProviderProtocolError(f"{provider}: unexpected reply shape: {what}")
