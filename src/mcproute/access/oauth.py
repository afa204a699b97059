"""OAuth 2.1 access tokens: validated, then mapped to a client by their claims.

What a JWT must pass, in order (the first failure is the answer; none of it names the token):
its header's `alg` is one of `oauth.algorithms` (asymmetric only, so never `none` or HS*); a key
of the issuer's JWKS with the header's `kid` verifies the signature for that `alg`; `iss` is the
configured issuer; `aud` contains this gateway's resource URI (RFC 8707: a token minted for
another resource is refused, even from the same issuer); `exp` is present and not past, `nbf`
and `iat` not in the future (each with `oauth.leeway`); the `scope` (or `scp`) claim holds every
`required_scopes`. The token then belongs to the first client whose `match:` holds, else to
`oauth.default_client`, else it is refused (403): a valid token is not by itself a policy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from mcproute.access.introspect import Introspection
from mcproute.access.jwks import Jwks
from mcproute.access.keys import KeyRing
from mcproute.config_clients import ClientConfig
from mcproute.config_oauth import OAuthConfig


class AuthFailed(Exception):
    """Why a bearer credential is refused: 401 `invalid_token` (or no error code when none was
    sent), 403 `insufficient_scope`. `description` is safe to show: it never quotes the token."""

    def __init__(self, status: int, description: str, error: str | None = "invalid_token", scope: str | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.error = error
        self.scope = scope


def scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """RFC 9068 `scope` (space-separated) or the `scp` many servers send (a list or a string)."""
    found: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            found.update(value.split())
        elif isinstance(value, list):
            found.update(v for v in value if isinstance(v, str))
    return frozenset(found)


def claims_match(match: Mapping[str, str], claims: Mapping[str, Any]) -> bool:
    """Every `claim: value` holds: equal for a string claim; for a list claim, or the scope claims,
    every space-separated word of `value` is present."""
    for name, wanted in match.items():
        if name in ("scope", "scp"):
            have: Any = scopes_of(claims)
        else:
            have = claims.get(name)
        if isinstance(have, (list, frozenset)):
            if not set(wanted.split()) <= {str(v) for v in have}:
                return False
        elif have is None or str(have) != wanted:
            return False
    return True


_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet (nbf/iat in the future)"),
    (jwt.InvalidAudienceError, "the token is not for this resource (aud)"),
    (jwt.InvalidIssuerError, "the token is from another issuer (iss)"),
    (jwt.MissingRequiredClaimError, "the token lacks a required claim"),
    (jwt.InvalidSignatureError, "the token's signature does not verify"),
)


class OAuthValidator:
    def __init__(
        self,
        config: OAuthConfig,
        clients: Mapping[str, ClientConfig],
        jwks: Jwks | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.matchers = [(name, c.match) for name, c in clients.items() if c.match]
        self.jwks = jwks or Jwks(
            issuer=config.issuer,
            jwks_uri=config.jwks_uri,
            refresh_interval=config.jwks_refresh_interval,
            max_age=config.jwks_max_age,
            timeout=config.timeout,
        )
        self.clock = clock
        self.introspection = Introspection(config, self.jwks) if config.introspection is not None else None

    async def claims(self, token: str) -> dict[str, Any]:
        """The verified claims of a JWT access token, or of an opaque one by introspection
        (raises AuthFailed)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            if self.introspection is None:
                raise AuthFailed(401, "the bearer token is neither a known key nor a well-formed JWT") from None
            return await self._introspect(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.config.algorithms:
            raise AuthFailed(401, f"token algorithm {str(alg)[:20]!r} is not accepted")
        kid = header.get("kid")
        key = await self.jwks.key(kid if isinstance(kid, str) else None, alg)
        if key is None:
            raise AuthFailed(401, "no key of the issuer verifies this token (unknown kid)")
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.config.resource,
                issuer=self.config.issuer,
                leeway=self.config.leeway,
                options={"require": ["exp", "iss", "aud"], "verify_iat": True},
            )
        except jwt.PyJWTError as exc:
            reason = next((r for kind, r in _REASONS if isinstance(exc, kind)), "the token is invalid")
            raise AuthFailed(401, reason) from None

    async def _introspect(self, token: str) -> dict[str, Any]:
        assert self.introspection is not None
        found = await self.introspection.claims(token)
        if found is None:
            raise AuthFailed(401, "the authorization server says the token is not active for this resource")
        return found

    def client_for(self, claims: Mapping[str, Any]) -> str:
        """The client a verified token belongs to (raises AuthFailed 403)."""
        missing = [s for s in self.config.required_scopes if s not in scopes_of(claims)]
        if missing:
            raise AuthFailed(
                403,
                f"the token lacks required scope(s): {' '.join(missing)}",
                error="insufficient_scope",
                scope=" ".join(self.config.required_scopes),
            )
        for name, match in self.matchers:
            if match is not None and claims_match(match, claims):
                return name
        if self.config.default_client is not None:
            return self.config.default_client
        raise AuthFailed(403, "no client in clients: matches this token's claims", error="insufficient_scope")

    async def principal(self, token: str) -> str:
        return self.client_for(await self.claims(token))


@dataclass(frozen=True, slots=True)
class Authenticator:
    """Static keys first (a hash compare), then OAuth tokens. `principal` returns the client name,
    None when nothing is required (no key, no OAuth), or raises AuthFailed."""

    keys: KeyRing
    oauth: OAuthValidator | None = None

    @property
    def required(self) -> bool:
        return self.keys.required or self.oauth is not None

    async def principal(self, authorization: bytes | str | None) -> str | None:
        if not self.required:
            return None
        if isinstance(authorization, bytes):
            authorization = authorization.decode("latin-1", "replace")
        if not authorization or authorization[:7].lower() != "bearer ":
            raise AuthFailed(401, "missing bearer token", error=None)
        client = self.keys.authenticate(authorization)
        if client is not None:
            return client
        if self.oauth is None:
            raise AuthFailed(401, "missing or wrong bearer token")
        return await self.oauth.principal(authorization[7:].strip())
