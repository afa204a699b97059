"""RFC 7662 token introspection, for opaque (non-JWT) access tokens.

The gateway posts the token to the authorization server's introspection endpoint (configured,
or `introspection_endpoint` from the issuer's metadata) with its own client credentials (HTTP
Basic) and gets the token's claims back. A token counts only when the answer says `active: true`,
names this issuer (when it names one), holds this gateway's resource in `aud` (RFC 8707: an
opaque token bound to no resource, or to another, is refused like a JWT would be) and is not
expired. Answers are cached by the token's SHA-256 for at most `CACHE_SECONDS` (and never past
the token's `exp`), so a busy client costs the issuer one call per token per interval.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from mcproute.access.jwks import AuthServerUnavailable, Jwks
from mcproute.config_oauth import OAuthConfig

CACHE_SECONDS = 30.0
CACHE_ENTRIES = 1024


class Introspection:
    def __init__(
        self,
        config: OAuthConfig,
        jwks: Jwks,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        assert config.introspection is not None
        self.config = config
        self.settings = config.introspection
        self.jwks = jwks  # shares its metadata discovery
        self.clock = clock
        self.transport = transport
        self.calls = 0
        self._cache: dict[bytes, tuple[float, dict[str, Any] | None]] = {}

    async def claims(self, token: str) -> dict[str, Any] | None:
        """The claims of an active token meant for this gateway, or None (inactive, or not ours)."""
        digest = hashlib.sha256(token.encode()).digest()
        now = self.clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        answer = await self._ask(token)
        claims = answer if self._acceptable(answer, now) else None
        until = now + CACHE_SECONDS
        if claims is not None and isinstance(claims.get("exp"), (int, float)):
            until = min(until, float(claims["exp"]))
        if len(self._cache) >= CACHE_ENTRIES:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= CACHE_ENTRIES:
                self._cache.clear()
        self._cache[digest] = (until, claims)
        return claims

    def _acceptable(self, answer: dict[str, Any], now: float) -> bool:
        if answer.get("active") is not True:
            return False
        if "iss" in answer and answer["iss"] != self.config.issuer:
            return False
        aud = answer.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self.config.resource not in audiences:
            return False
        exp = answer.get("exp")
        return not (isinstance(exp, (int, float)) and exp + self.config.leeway < now)

    async def _ask(self, token: str) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=self.config.timeout, transport=self.transport) as http:
            endpoint = self.settings.endpoint or await self._endpoint(http)
            try:
                response = await http.post(
                    endpoint,
                    data={"token": token, "token_type_hint": "access_token"},
                    auth=(self.settings.client_id, self.settings.client_secret),
                    headers={"Accept": "application/json"},
                )
            except httpx.HTTPError as exc:
                raise AuthServerUnavailable(f"cannot reach the introspection endpoint: {type(exc).__name__}") from None
        self.calls += 1
        if response.status_code != 200:
            raise AuthServerUnavailable(f"the introspection endpoint answered HTTP {response.status_code}")
        try:
            answer = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise AuthServerUnavailable("the introspection endpoint's answer is not JSON") from None
        if not isinstance(answer, dict):
            raise AuthServerUnavailable("the introspection endpoint's answer is not a JSON object")
        return answer

    async def _endpoint(self, http: httpx.AsyncClient) -> str:
        metadata = await self.jwks.discover(http)
        endpoint = metadata.get("introspection_endpoint")
        if not isinstance(endpoint, str):
            raise AuthServerUnavailable(
                f"{self.config.issuer} advertises no introspection_endpoint; set gateway.http.oauth.introspection.endpoint"
            )
        return endpoint
