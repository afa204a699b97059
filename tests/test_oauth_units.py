"""OAuth pieces on their own: config errors that name what is wrong, the JWKS cache's fetch
budget (an httpx MockTransport plays the issuer, a fake clock the time), issuer metadata that
names another issuer, and an unreachable issuer (503, not the client's fault).
The end-to-end behaviour against a real authorization server is in tests/test_oauth.py."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest

from fakes.clock import FakeClock
from mcproute.access import authenticator
from mcproute.access.jwks import AuthServerUnavailable, Jwks, metadata_urls
from mcproute.access.oauth import AuthFailed, claims_match
from mcproute.config import parse_config
from mcproute.errors import ConfigError
from oauth_support import SigningKey, claims, free_port

pytestmark = pytest.mark.anyio
ISSUER = "http://127.0.0.1:9/"
RESOURCE = "http://127.0.0.1:8765/mcp"


def loaded(oauth: dict[str, Any] | None, clients: dict[str, Any] | None = None) -> Any:
    http = {"oauth": {"issuer": ISSUER, "resource": RESOURCE, **oauth}} if oauth is not None else {}
    return parse_config(json.dumps({"gateway": {"http": http}, "clients": clients or {}})).config


@pytest.mark.parametrize(
    ("oauth", "clients", "message"),
    [
        ({"algorithms": ["RS256", "HS256"]}, None, "refused: 'HS256'"),
        ({"algorithms": ["none"]}, None, "refused: 'none'"),
        ({"issuer": "http://auth.example.com"}, None, "must use https"),
        ({"resource": "https://gw.example.com/mcp#x"}, None, "must not carry a fragment"),
        ({"jwks_uri": "ftp://x/jwks"}, None, "absolute http(s) URL"),
        ({"default_client": "ghost"}, {"a": {"match": {"sub": "a"}}}, "default_client 'ghost' is not a name"),
        (None, {"a": {"match": {"client_id": "x"}}}, "gateway.http.oauth is not set"),
        ({}, {"a": {"servers": {"allow": ["time"]}}}, "needs key_sha256 (or key) and/or match"),
        ({}, {"a": {"match": {"sub": " "}}}, "non-empty name and value"),
    ],
)
def test_bad_oauth_config_is_an_error_naming_what_is_wrong(
    oauth: dict[str, Any] | None, clients: dict[str, Any] | None, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        loaded(oauth, clients)
    assert message in str(info.value), str(info.value)


def test_claims_match_equality_lists_and_scopes() -> None:
    token = {"sub": "alice", "groups": ["ops", "dev"], "scope": "tools read", "n": 3}
    assert claims_match({"sub": "alice", "scope": "tools"}, token)
    assert claims_match({"groups": "dev ops", "n": "3"}, token)
    assert not claims_match({"scope": "tools admin"}, token)
    assert not claims_match({"sub": "alic"}, token)
    assert not claims_match({"azp": "alice"}, token)
    assert claims_match({"scope": "a"}, {"scp": ["a", "b"]})
    assert metadata_urls("https://a.example/tenant/") == [
        "https://a.example/.well-known/oauth-authorization-server/tenant",
        "https://a.example/tenant/.well-known/openid-configuration",
    ]


class Issuer:
    """An httpx MockTransport playing the issuer's metadata and JWKS endpoints, counting calls."""

    def __init__(self, keys: list[SigningKey], issuer: str = ISSUER) -> None:
        self.keys = keys
        self.issuer = issuer
        self.calls: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request.url.path)
        if request.url.path == "/.well-known/oauth-authorization-server":
            return httpx.Response(200, json={"issuer": self.issuer, "jwks_uri": "http://127.0.0.1:9/jwks"})
        if request.url.path == "/jwks":
            # Public parts only, and no `alg`: which algorithms a key serves is then its family's.
            public = [
                {k: v for k, v in key.private_jwk().items() if k in ("kty", "n", "e", "kid", "use")}
                for key in self.keys
            ]
            return httpx.Response(200, json={"keys": public})
        return httpx.Response(404)


async def test_unknown_kids_cost_one_fetch_per_interval_and_concurrent_misses_share_it() -> None:
    k1 = SigningKey("k1")
    issuer = Issuer([k1])
    clock = FakeClock()
    jwks = Jwks(
        issuer=ISSUER, refresh_interval=30, max_age=3600, clock=clock, transport=httpx.MockTransport(issuer.handle)
    )
    assert await jwks.key("k1", "RS256") is not None
    assert await jwks.key("k1", "PS256") is not None  # an RSA key without an `alg` serves PS256 too...
    assert issuer.calls == ["/.well-known/oauth-authorization-server", "/jwks"]
    assert await jwks.key("k1", "ES256") is None  # ...but never another family
    clock.advance(31)

    async def miss(kid: str) -> None:
        assert await jwks.key(kid, "RS256") is None

    async with anyio.create_task_group() as tg:  # 50 concurrent junk kids: one fetch between them
        for i in range(50):
            tg.start_soon(miss, f"junk{i}")
    assert issuer.calls.count("/jwks") == 2
    for i in range(50):  # and none more inside the interval
        await miss(f"more{i}")
    assert issuer.calls.count("/jwks") == 2
    issuer.keys = [SigningKey("k2"), k1]  # rotation
    assert await jwks.key("k2", "RS256") is None  # still inside the interval
    clock.advance(30)
    assert await jwks.key("k2", "RS256") is not None
    assert issuer.calls.count("/jwks") == 3 and jwks.fetches == 3


async def test_metadata_naming_another_issuer_and_an_unreachable_issuer_are_not_the_clients_fault() -> None:
    jwks = Jwks(issuer=ISSUER, transport=httpx.MockTransport(Issuer([], issuer="http://127.0.0.1:9/evil").handle))
    with pytest.raises(AuthServerUnavailable, match="names issuer 'http://127.0.0.1:9/evil'"):
        await jwks.key("k1", "RS256")
    port = free_port()  # nothing listens there
    auth = authenticator(loaded({"issuer": f"http://127.0.0.1:{port}", "jwks_refresh_interval": 0}, {}))
    token = SigningKey("k1").sign(claims(f"http://127.0.0.1:{port}", RESOURCE))
    with pytest.raises(AuthServerUnavailable, match="cannot read"):
        await auth.principal(f"Bearer {token}")
    with pytest.raises(AuthFailed) as info:
        await auth.principal(None)
    assert info.value.status == 401 and info.value.error is None  # no token sent: no error code (RFC 6750 3.1)


def test_the_introspection_secret_is_known_to_the_redactor() -> None:
    from mcproute.telemetry.redact import redactor_for

    secret = "introspect-secret-literal-1"
    cfg = loaded({"introspection": {"client_id": "gw", "client_secret": secret}})
    assert secret not in redactor_for(cfg).scrub(f"posting with {secret} to the issuer")
