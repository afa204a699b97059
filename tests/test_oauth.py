"""The gateway as an OAuth 2.1 resource server, against a real authorization server.

oidc-provider (npm, OpenID Certified; tests/oauth_server.mjs) issues the tokens: client
credentials for `ci-bot` and `ops-bot`, JWT access tokens whose `aud` is the RFC 8707 resource
requested. `mcproute serve --transport http` runs in front of the real time and git servers with
two clients matched by the tokens' `client_id`. Tokens the real server will not mint (expired,
another issuer, `alg: none`, tampered, HS256 keyed with the public key, an unknown kid) are
crafted with the very keys the test handed the server, so each is refused for its one fault.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from mcp.shared.exceptions import MCPError
from pydantic import AnyUrl

from oauth_support import (
    OTHER_RESOURCE,
    SigningKey,
    authorization_server,
    claims,
    client_credentials,
    fetch_counts,
    free_port,
    serve_on,
    unsigned,
)
from test_access import git_repo

pytestmark = pytest.mark.anyio

MODERN = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2026-07-28",
    "Mcp-Method": "tools/list",
}
LIST = {
    "jsonrpc": "2.0",
    "id": 7,
    "method": "tools/list",
    "params": {
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "test_oauth", "version": "1"},
        }
    },
}


def write_config(tmp: Path, issuer: str, resource: str, **oauth: Any) -> Path:
    config = {
        "data_dir": str(tmp / "data"),
        "servers": {
            "time": {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]},
            "git": {
                "command": sys.executable,
                "args": ["-m", "mcp_server_git", "--repository", str(git_repo(tmp / "repo"))],
            },
        },
        "gateway": {
            "http": {
                "oauth": {
                    "issuer": issuer,
                    "resource": resource,
                    "required_scopes": ["tools"],
                    "jwks_refresh_interval": 1.0,
                    "leeway": 5,
                    **oauth,
                }
            }
        },
        "clients": {
            "ci": {"match": {"client_id": "ci-bot"}, "servers": {"allow": ["time"]}},
            "ops": {"match": {"client_id": "ops-bot", "scope": "tools"}, "servers": {"allow": ["git"]}},
        },
        "routing": {"encoder": {"enabled": False}},
        "telemetry": {"exporter": "jsonl"},
    }
    path = tmp / "servers.yaml"
    path.write_text(json.dumps(config))
    return path


async def tool_names(url: str, token: str) -> set[str]:
    async with create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            return {t.name for t in (await client.list_tools()).tools if not t.name.startswith("mcproute__")}


async def call_error(url: str, token: str, name: str) -> MCPError:
    async with create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            with pytest.raises(MCPError) as info:
                await client.call_tool(name, {})
            return info.value


async def list_raw(url: str, token: str | None) -> httpx.Response:
    headers = dict(MODERN)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(url, json=LIST, headers=headers)


def challenge(response: httpx.Response) -> dict[str, str]:
    value = response.headers["www-authenticate"]
    assert value.startswith("Bearer "), value
    return dict((k.strip(), v.strip('"')) for k, v in (p.split("=", 1) for p in value[len("Bearer ") :].split('", ')))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(payload: dict[str, Any], secret: bytes, kid: str) -> str:
    """The "alg confusion" forgery: HMAC keyed with the issuer's published public key. Built by hand
    because PyJWT (rightly) refuses to use an asymmetric key as an HMAC secret."""
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = _b64(json.dumps(payload).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}"


def tampered(token: str, **changes: Any) -> str:
    """The same header and signature over a payload with `changes` (a different client, say)."""
    head, body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload.update(changes)
    return f"{head}.{_b64(json.dumps(payload).encode())}.{sig}"


async def test_tokens_from_a_real_authorization_server_get_their_clients_tools_and_bad_ones_are_refused(
    tmp_path: Path,
) -> None:
    as_port, gw_port = free_port(), free_port()
    resource = f"http://127.0.0.1:{gw_port}/mcp"
    k1 = SigningKey("k1")
    log: list[bytes] = []
    async with authorization_server(as_port, [k1], [resource, OTHER_RESOURCE], tmp_path) as issuer:
        config = write_config(tmp_path, issuer, resource)
        async with serve_on(config, gw_port, log) as url:
            base = url.removesuffix("/mcp")
            # Unauthenticated: 401 pointing at the RFC 9728 metadata, on every guarded route.
            for method, path in (("POST", "/mcp"), ("GET", "/status"), ("GET", "/v1/models")):
                async with httpx.AsyncClient(timeout=30) as http:
                    r = await http.request(method, base + path, json=LIST if method == "POST" else None)
                assert r.status_code == 401, (path, r.text)
                params = challenge(r)
                assert params == {"resource_metadata": f"{base}/.well-known/oauth-protected-resource/mcp"}, params
            async with httpx.AsyncClient(timeout=30) as http:
                for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
                    meta = (await http.get(base + path)).json()
                    assert meta["resource"] == resource and meta["authorization_servers"] == [issuer]
                    assert meta["scopes_supported"] == ["tools"] and meta["bearer_methods_supported"] == ["header"]

            # Client credentials from the real server: each client sees only its own servers' tools.
            ci = await client_credentials(issuer, "ci-bot", resource)
            ops = await client_credentials(issuer, "ops-bot", resource)
            ci_tools, ops_tools = await tool_names(url, ci), await tool_names(url, ops)
            assert ci_tools and all(n.startswith("time__") for n in ci_tools), ci_tools
            assert ops_tools and all(n.startswith("git__") for n in ops_tools), ops_tools
            assert "unknown tool" in str(await call_error(url, ci, "git__git_status")).lower()
            async with httpx.AsyncClient(timeout=30) as http:
                assert (await http.get(base + "/status", headers={"Authorization": f"Bearer {ci}"})).status_code == 200

            # Refused, each with invalid_token and a reason that names the fault (never the token).
            other = await client_credentials(issuer, "ci-bot", OTHER_RESOURCE)
            opaque = await client_credentials(issuer, "ci-bot", None)  # no resource: an opaque token
            public_pem = k1.private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            stranger = SigningKey("k1")  # the issuer's kid, someone else's key
            now_claims = claims(issuer, resource)
            bad = {
                "another audience": (other, "aud"),
                "expired": (k1.sign(claims(issuer, resource, iat=0, exp=1000)), "expired"),
                "not yet valid": (k1.sign(claims(issuer, resource, nbf=int(time.time()) + 3600)), "not valid yet"),
                "wrong issuer": (k1.sign(claims("http://127.0.0.1:1", resource)), "issuer"),
                "alg none": (unsigned(now_claims), "algorithm 'none'"),
                "tampered": (tampered(ci, client_id="ops-bot"), "signature"),
                "forged with the issuer's kid": (stranger.sign(now_claims), "signature"),
                "HS256 keyed with the public key": (
                    hs256(now_claims, public_pem, kid="k1"),
                    "algorithm 'HS256'",
                ),
                "no exp": (k1.sign({k: v for k, v in now_claims.items() if k != "exp"}), "required claim"),
                "opaque": (opaque, "well-formed JWT"),
            }
            for what, (token, reason) in bad.items():
                r = await list_raw(url, token)
                assert r.status_code == 401, (what, r.status_code, r.text)
                params = challenge(r)
                assert params["error"] == "invalid_token", (what, params)
                assert reason in params["error_description"], (what, params)
                assert token not in r.text
            # Valid, but short of the required scope, or nobody's client: 403 insufficient_scope.
            r = await list_raw(url, k1.sign(claims(issuer, resource, scope="openid")))
            assert r.status_code == 403 and challenge(r)["error"] == "insufficient_scope"
            assert challenge(r)["scope"] == "tools"
            r = await list_raw(url, k1.sign(claims(issuer, resource, client_id="nobody")))
            assert r.status_code == 403 and "no client" in challenge(r)["error_description"]

            # A stream of unknown kids costs the issuer at most one JWKS fetch per interval (1 s).
            junk = [SigningKey(f"junk{i}").sign(now_claims) for i in range(4)]
            before = (await fetch_counts(issuer)).get("/jwks", 0)
            started = time.monotonic()
            with anyio.fail_after(60):
                for i in range(60):
                    assert (await list_raw(url, junk[i % 4])).status_code == 401
            elapsed = time.monotonic() - started
            fetched = (await fetch_counts(issuer)).get("/jwks", 0) - before
            assert 1 <= fetched <= math.ceil(elapsed) + 1, (
                f"{fetched} JWKS fetches for 60 unknown kids in {elapsed:.1f} s"
            )

    # Rotation: a fresh gateway learns {k1}; the server restarts signing with a new key k2 (k1
    # still published); a k2 token is accepted after one re-fetch.
    k2 = SigningKey("k2")
    async with serve_on(config, gw_port, log) as url:
        async with authorization_server(as_port, [k1], [resource], tmp_path) as issuer:
            ci_old = await client_credentials(issuer, "ci-bot", resource)
            assert (await list_raw(url, ci_old)).status_code == 200
        async with authorization_server(as_port, [k2, k1], [resource], tmp_path) as issuer:
            assert (await list_raw(url, ci_old)).status_code == 200  # from the cache: no fetch
            await anyio.sleep(1.1)  # past the refresh interval since the first fetch
            ci_new = await client_credentials(issuer, "ci-bot", resource)
            assert jwt.get_unverified_header(ci_new)["kid"] == "k2"
            assert (await list_raw(url, ci_new)).status_code == 200
            assert (await fetch_counts(issuer)).get("/jwks", 0) == 1

    # The principal on the spans is the client's name; no token is on disk or in the log.
    data = tmp_path / "data"
    spans = [json.loads(line) for f in data.glob("*.jsonl") for line in f.read_text().splitlines() if line.strip()]
    assert {"ci", "ops"} <= {s.get("attributes", {}).get("mcproute.client") for s in spans}
    blobs = {str(f): f.read_bytes() for f in data.rglob("*") if f.is_file()}
    blobs["the gateway's log"] = b"".join(log)
    for where, blob in blobs.items():
        for token in (ci, ops, ci_new):
            assert token.encode() not in blob and token.split(".")[2].encode() not in blob, where


class Memory:
    """The SDK's TokenStorage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class Person:
    """The browser half of the authorization-code flow: follows the authorization server's
    redirects and submits its (dev) login and consent forms as a person would, until it is sent
    to the redirect URI; the SDK's callback handler then gets the code from there."""

    def __init__(self, redirect: str, login: str) -> None:
        self.redirect = redirect
        self.login = login
        self.result: AuthorizationCodeResult | None = None
        self.pages: list[str] = []

    async def open(self, url: str) -> None:
        async with httpx.AsyncClient(timeout=30) as browser:  # keeps the provider's cookies
            response = await browser.get(url)
            for _ in range(20):
                if response.is_redirect:
                    target = str(response.url.join(response.headers["location"]))
                    if target.startswith(self.redirect):
                        query = dict(parse_qsl(urlsplit(target).query))
                        assert "code" in query, f"the authorization server refused: {query}"
                        self.result = AuthorizationCodeResult(
                            code=query["code"], state=query.get("state"), iss=query.get("iss")
                        )
                        return
                    response = await browser.get(target)
                    continue
                page = response.text
                self.pages.append(page)
                action = re.search(r'<form[^>]*action="([^"]+)"', page)
                prompt = re.search(r'name="prompt" value="([^"]+)"', page)
                assert response.status_code == 200 and action and prompt, page[:2000]
                form = {"prompt": prompt.group(1)}
                if prompt.group(1) == "login":
                    form |= {"login": self.login, "password": "any"}
                response = await browser.post(str(response.url.join(action.group(1))), data=form)
        raise AssertionError(f"no redirect to {self.redirect} after 20 steps")

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result


async def test_authorization_code_flow_with_the_sdk_oauth_client(tmp_path: Path) -> None:
    """The official SDK's OAuthClientProvider finds the authorization server from the gateway's
    401 and RFC 9728 metadata, registers itself (RFC 7591), runs authorization code + PKCE with
    the gateway as the RFC 8707 resource, and lists the tools its person's client may use."""
    as_port, gw_port = free_port(), free_port()
    resource = f"http://127.0.0.1:{gw_port}/mcp"
    redirect = f"http://127.0.0.1:{free_port()}/callback"
    async with authorization_server(as_port, [SigningKey("k1")], [resource], tmp_path, redirect=redirect) as issuer:
        config = write_config(tmp_path, issuer, resource)
        raw = json.loads(config.read_text())
        raw["clients"]["person"] = {"match": {"sub": "alice"}, "tools": {"allow": ["time__get_current_time"]}}
        config.write_text(json.dumps(raw))
        async with serve_on(config, gw_port, []) as url:
            person, storage = Person(redirect, "alice"), Memory()
            provider = OAuthClientProvider(
                server_url=url,
                client_metadata=OAuthClientMetadata(
                    client_name="test_oauth",
                    redirect_uris=[AnyUrl(redirect)],
                    grant_types=["authorization_code", "refresh_token"],
                    response_types=["code"],
                    token_endpoint_auth_method="none",
                ),
                storage=storage,
                redirect_handler=person.open,
                callback_handler=person.callback,
            )
            async with create_mcp_http_client(auth=provider) as http:
                async with Client(streamable_http_client(url, http_client=http)) as client:
                    listed = {t.name for t in (await client.list_tools()).tools}
            assert {n for n in listed if not n.startswith("mcproute__")} == {"time__get_current_time"}
            assert storage.tokens is not None and storage.client is not None
            token_claims = jwt.decode(storage.tokens.access_token, options={"verify_signature": False})
            assert token_claims["aud"] == resource and token_claims["sub"] == "alice"
            assert token_claims["client_id"] == storage.client.client_id  # registered by the SDK


async def test_opaque_tokens_are_checked_by_introspection(tmp_path: Path) -> None:
    """RFC 7662 against the real server issuing opaque tokens: one bound to this gateway lists its
    client's tools (one introspection call for repeated use); one bound to another resource, or to
    none, is refused; a made-up one is refused."""
    as_port, gw_port = free_port(), free_port()
    resource = f"http://127.0.0.1:{gw_port}/mcp"
    async with authorization_server(
        as_port, [SigningKey("k1")], [resource, OTHER_RESOURCE], tmp_path, opaque=True
    ) as issuer:
        introspection = {"client_id": "gateway", "client_secret": "gateway-secret"}
        config = write_config(tmp_path, issuer, resource, introspection=introspection)
        async with serve_on(config, gw_port, []) as url:
            ci = await client_credentials(issuer, "ci-bot", resource)
            with pytest.raises(jwt.DecodeError):
                jwt.get_unverified_header(ci)  # really opaque
            before = (await fetch_counts(issuer)).get("/token/introspection", 0)
            for _ in range(3):
                r = await list_raw(url, ci)
                assert r.status_code == 200, r.text
            names = {t["name"] for t in r.json()["result"]["tools"] if not t["name"].startswith("mcproute__")}
            assert names and all(n.startswith("time__") for n in names), names
            assert (await fetch_counts(issuer)).get("/token/introspection", 0) - before == 1
            for what, token in {
                "another resource": await client_credentials(issuer, "ci-bot", OTHER_RESOURCE),
                "no resource": await client_credentials(issuer, "ci-bot", None),
                "made up": "x" * 43,
            }.items():
                r = await list_raw(url, token)
                assert r.status_code == 401, (what, r.text)
                assert "not active for this resource" in challenge(r)["error_description"], what
