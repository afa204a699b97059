"""The authorization server's signing keys: discovered, fetched with httpx, cached, rotated.

`Jwks.key(kid, alg)` answers from the cached key set. A `kid` it does not know triggers one
re-fetch (the issuer rotated its keys), but at most one per `refresh_interval` however many
requests carry unknown kids, and concurrent misses share that one fetch (an `anyio.Lock`): a
stream of tokens with junk kids cannot make the gateway hammer the issuer. The set is also
re-read after `max_age`. The JWKS URL is configured or read from the issuer's metadata
(RFC 8414 `/.well-known/oauth-authorization-server`, then OpenID discovery), whose `issuer` must
equal the configured one (RFC 8414 section 3.3), so a metadata document cannot swap issuers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx
import jwt

from mcproute.errors import UpstreamUnavailable

# Which JWK key types can verify which JWS algorithms; anything else is skipped, so a key can
# never be used with an algorithm of another family (an RSA key for HS256, say).
_FAMILY = {"RSA": ("RS", "PS"), "EC": ("ES",), "OKP": ("EdDSA",)}
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


class AuthServerUnavailable(UpstreamUnavailable):
    """The authorization server's metadata or keys could not be read: the gateway answers 503,
    never blaming the client's token for the issuer's outage."""


def metadata_urls(issuer: str) -> list[str]:
    """RFC 8414 section 3.1 (the well-known segment goes before the issuer's path), then OpenID
    Connect Discovery (appended after it)."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    rfc8414 = urlunsplit((parts.scheme, parts.netloc, "/.well-known/oauth-authorization-server" + path, "", ""))
    oidc = urlunsplit((parts.scheme, parts.netloc, path + "/.well-known/openid-configuration", "", ""))
    return [rfc8414, oidc]


def _usable(jwk: Mapping[str, Any], alg: str) -> bool:
    if jwk.get("use", "sig") != "sig" or ("alg" in jwk and jwk["alg"] != alg):
        return False
    family = _FAMILY.get(str(jwk.get("kty")), ())
    if not any(alg.startswith(f) for f in family):
        return False
    return jwk.get("kty") != "EC" or jwk.get("crv") == _EC_CURVES.get(alg)


@dataclass
class Jwks:
    issuer: str
    jwks_uri: str | None = None
    refresh_interval: float = 30.0
    max_age: float = 3600.0
    timeout: float = 10.0
    clock: Callable[[], float] = time.monotonic
    # Tests hand in an httpx transport; the gateway uses httpx's default one.
    transport: httpx.AsyncBaseTransport | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    fetches: int = 0
    _keys: list[dict[str, Any]] = field(default_factory=list)
    _fetched_at: float | None = None
    _attempted_at: float | None = None
    _last_error: str | None = None
    _lock: anyio.Lock = field(default_factory=anyio.Lock)

    async def key(self, kid: str | None, alg: str) -> Any | None:
        """The public key for a token's `kid` and `alg`, or None when no usable key has that kid
        (even after the re-fetch this miss was allowed)."""
        if self._fetched_at is None or self.clock() - self._fetched_at > self.max_age:
            await self._refresh(kid, force=True)
        found = self._find(kid, alg)
        if found is None and kid is not None and not any(k.get("kid") == kid for k in self._keys):
            await self._refresh(kid, force=False)
            found = self._find(kid, alg)
        return found

    def _find(self, kid: str | None, alg: str) -> Any | None:
        candidates = [k for k in self._keys if _usable(k, alg) and (kid is None or k.get("kid") == kid)]
        if len(candidates) != 1:  # none, or (without a kid) ambiguous: refuse rather than guess
            return None
        try:
            return jwt.PyJWK(candidates[0], algorithm=alg).key
        except jwt.PyJWKError:
            return None

    async def _refresh(self, kid: str | None, *, force: bool) -> None:
        async with self._lock:
            now = self.clock()
            if force and self._fetched_at is not None and now - self._fetched_at <= self.max_age:
                return  # another request refreshed it while this one waited
            if not force and any(k.get("kid") == kid for k in self._keys):
                return  # fetched by another request while this one waited
            if self._attempted_at is not None and now - self._attempted_at < self.refresh_interval:
                # Rate-limited: an unknown kid stays unknown (stale keys stay in use) until the
                # interval passes; with no keys at all the last failure is the answer.
                if self._fetched_at is None:
                    raise AuthServerUnavailable(
                        self._last_error or "the authorization server's keys are not loaded yet"
                    )
                return
            self._attempted_at = now
            try:
                self._keys = await self._fetch_keys()
            except AuthServerUnavailable as exc:
                self._last_error = str(exc)
                if self._fetched_at is None or not force:
                    raise
                return  # a failed periodic re-read keeps the keys it has
            self._fetched_at = self.clock()

    async def _fetch_keys(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as http:
            uri = self.jwks_uri or await self._discover(http)
            document = await _get_json(http, uri, "JWKS")
        self.fetches += 1
        keys = document.get("keys")
        if not isinstance(keys, list):
            raise AuthServerUnavailable(f"the JWKS at {uri} has no `keys` list")
        return [k for k in keys if isinstance(k, dict)]

    async def discover(self, http: httpx.AsyncClient) -> dict[str, Any]:
        """The issuer's metadata (read once; its `issuer` must be the configured one)."""
        if not self.metadata:
            problems = []
            for url in metadata_urls(self.issuer):
                try:
                    metadata = await _get_json(http, url, "authorization server metadata")
                    break
                except AuthServerUnavailable as exc:
                    problems.append(str(exc))
            else:
                raise AuthServerUnavailable("; ".join(problems))
            if metadata.get("issuer") != self.issuer:
                raise AuthServerUnavailable(
                    f"the authorization server's metadata names issuer {metadata.get('issuer')!r}, "
                    f"not the configured {self.issuer!r}"
                )
            self.metadata = metadata
        return self.metadata

    async def _discover(self, http: httpx.AsyncClient) -> str:
        uri = (await self.discover(http)).get("jwks_uri")
        if not isinstance(uri, str):
            raise AuthServerUnavailable(f"the metadata of {self.issuer} has no jwks_uri")
        return uri


async def _get_json(http: httpx.AsyncClient, url: str, what: str) -> dict[str, Any]:
    try:
        response = await http.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise AuthServerUnavailable(f"cannot read the {what} at {url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise AuthServerUnavailable(f"the {what} at {url} answered HTTP {response.status_code}")
    try:
        document = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise AuthServerUnavailable(f"the {what} at {url} is not JSON") from None
    if not isinstance(document, dict):
        raise AuthServerUnavailable(f"the {what} at {url} is not a JSON object")
    return document
