"""`gateway.http.oauth` in servers.yaml: the gateway as an OAuth 2.1 resource server.

Beside `config_clients.py` (the keys and policies it shares `clients:` with); the validation
itself lives in `mcproute.access.oauth` and `mcproute.access.jwks` (docs/security.md, "OAuth").
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from mcproute._config_model import ConfigModel as _Model

# Asymmetric signatures only. `none` is never a signature, and an HS* algorithm would let anyone
# who holds the issuer's *public* key (everyone: it is published) mint tokens if a library ever
# confused the two (the classic "alg confusion"); refusing them here closes that door for good.
ASYMMETRIC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


def _loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(value: str, what: str, *, path_ok: bool = True) -> str:
    """An absolute https URL (http only on loopback, for tests and local servers), no fragment."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an absolute http(s) URL, got {value!r}")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ValueError(f"{what} must use https (http is allowed only on a loopback host), got {value!r}")
    if parts.fragment or (not path_ok and parts.query):
        raise ValueError(f"{what} must not carry a fragment{'' if path_ok else ' or query'}, got {value!r}")
    return value


class IntrospectionConfig(_Model):
    """RFC 7662: opaque (non-JWT) tokens are sent to the authorization server to be checked."""

    endpoint: str | None = Field(
        default=None, description="introspection URL; default: `introspection_endpoint` from the issuer's metadata"
    )
    client_id: str = Field(description="this gateway's client id at the authorization server")
    client_secret: str = Field(description='its secret (use "${ENV}"); sent with HTTP Basic authentication')

    @field_validator("endpoint")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else check_url(v, "introspection.endpoint")


class OAuthConfig(_Model):
    """Bearer tokens from an OAuth 2.1 authorization server, accepted beside the static keys."""

    issuer: str = Field(
        description="the authorization server's issuer URL: tokens must carry it as `iss`; its "
        "metadata (RFC 8414, else OpenID discovery) gives the JWKS unless jwks_uri is set"
    )
    resource: str = Field(
        description="this gateway's resource URI (RFC 8707), e.g. https://mcp.example.com/mcp: "
        "tokens must carry it in `aud`; advertised at /.well-known/oauth-protected-resource"
    )
    jwks_uri: str | None = Field(default=None, description="the issuer's JWKS URL; default: from its metadata")
    algorithms: list[str] = Field(
        default=["RS256", "PS256", "ES256", "EdDSA"],
        description="signature algorithms accepted (asymmetric only: `none` and HS* are refused)",
    )
    required_scopes: list[str] = Field(
        default_factory=list, description="scopes every token must hold (else 403 insufficient_scope)"
    )
    leeway: float = Field(default=30.0, ge=0, le=300, description="seconds of clock skew allowed on exp/nbf/iat")
    jwks_refresh_interval: float = Field(
        default=30.0,
        ge=0,
        description="least seconds between JWKS fetches caused by an unknown `kid` (a stream of junk "
        "kids costs the issuer one fetch per interval)",
    )
    jwks_max_age: float = Field(default=3600.0, gt=0, description="seconds a fetched JWKS is used before it is re-read")
    default_client: str | None = Field(
        default=None,
        description="the client (a name in `clients`) for a valid token no client's `match` fits; "
        "default: such a token is refused (403)",
    )
    introspection: IntrospectionConfig | None = Field(
        default=None, description="check opaque (non-JWT) tokens by RFC 7662 introspection; default: refuse them"
    )
    timeout: float = Field(default=10.0, gt=0, description="seconds for one request to the authorization server")

    @field_validator("issuer", "jwks_uri")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else check_url(v, "an OAuth URL", path_ok=True)

    @field_validator("resource")
    @classmethod
    def _resource(cls, v: str) -> str:
        return check_url(v, "oauth.resource", path_ok=False)

    @field_validator("algorithms")
    @classmethod
    def _algorithms(cls, v: list[str]) -> list[str]:
        bad = [a for a in v if a not in ASYMMETRIC_ALGORITHMS]
        if bad or not v:
            raise ValueError(
                f"oauth.algorithms may list only asymmetric signature algorithms "
                f"({', '.join(ASYMMETRIC_ALGORITHMS)}); refused: {', '.join(map(repr, bad)) or 'an empty list'}"
            )
        return v
