"""Helpers for the OAuth tests: the real authorization server (oidc-provider, tests/oauth_server.mjs),
the signing keys the tests hand it, tokens crafted with those keys, and `mcproute serve` on a
known port (the resource URI, which tokens carry as `aud`, must be known before it starts)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from runtime_support import serve_http

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / ".peers"
NODE = PEERS / "node_modules" / ".bin" / "node"
PROVIDER = PEERS / "node_modules" / "oidc-provider" / "package.json"
SCRIPT = Path(__file__).with_name("oauth_server.mjs")
OTHER_RESOURCE = "http://other.test/mcp"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SigningKey:
    """An RSA key with a kid: its private JWK is what the authorization server signs with."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def private_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(self.private, as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": self.kid, "typ": "at+jwt", **header})


def claims(issuer: str, audience: str, client_id: str = "ci-bot", **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": issuer, "aud": audience, "sub": client_id, "client_id": client_id, "scope": "tools"}
    return {**base, "iat": now, "exp": now + 300, **extra}


def unsigned(payload: dict[str, Any]) -> str:
    """`alg: none`: PyJWT writes it on request, with an empty signature."""
    return jwt.encode(payload, None, algorithm="none")


@asynccontextmanager
async def authorization_server(
    port: int, keys: list[SigningKey], resources: list[str], workdir: Path, redirect: str = "", opaque: bool = False
) -> AsyncIterator[str]:
    """oidc-provider on 127.0.0.1:port signing with keys[0]; yields the issuer URL."""
    if not PROVIDER.exists():
        raise AssertionError("oidc-provider is not installed: run `make peers` (scripts/install-peers.sh)")
    jwks = workdir / f"jwks-{port}-{keys[0].kid}.json"
    jwks.write_text(json.dumps({"keys": [k.private_jwk() for k in keys]}))
    env = {
        "PEERS": str(PEERS),
        "PORT": str(port),
        "JWKS": str(jwks),
        "RESOURCES": ",".join(resources),
        "REDIRECT": redirect,
        "OPAQUE": "1" if opaque else "",
        "PATH": "/usr/bin:/bin",
    }
    proc = await anyio.open_process([str(NODE), str(SCRIPT)], env=env, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    try:
        seen = b""
        with anyio.fail_after(30):
            while b"listening on" not in seen:
                try:
                    seen += await proc.stdout.receive()
                except anyio.EndOfStream:
                    raise AssertionError(f"oidc-provider exited early: {seen.decode(errors='replace')}") from None
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.returncode is None:
            proc.terminate()
        with anyio.move_on_after(10):
            await proc.wait()
        await proc.aclose()


async def client_credentials(issuer: str, client_id: str, resource: str | None) -> str:
    form = {"grant_type": "client_credentials", "scope": "tools"}
    if resource is not None:
        form["resource"] = resource
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(f"{issuer}/token", data=form, auth=(client_id, f"{client_id}-secret"))
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def fetch_counts(issuer: str) -> dict[str, int]:
    async with httpx.AsyncClient(timeout=30) as http:
        return dict((await http.get(f"{issuer}/_count")).json())


@asynccontextmanager
async def serve_on(config: Path, port: int, log: list[bytes]) -> AsyncIterator[str]:
    """`mcproute serve --transport http --port PORT`; yields the /mcp URL (runtime_support.serve_http)."""
    async with serve_http(config, port=port, log=log, graceful=True, PYTHONWARNINGS="ignore") as (_, url):
        yield url
