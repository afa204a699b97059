"""What authenticating one HTTP request costs: a static key versus an OAuth JWT access token.

    .venv/bin/python benchmarks/oauth.py [--n 2000] [--json]

`Authenticator.principal` as the HTTP guard calls it, on one event loop, with the issuer's JWKS
already cached (an httpx MockTransport serves it once; the steady state fetches nothing): a
static key (one SHA-256 and a constant-time compare per stored key), an RS256 token (2048-bit
RSA verify), an ES256 token (P-256 verify), then claims → client matching. p50/p99 in ms.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import anyio
import httpx
import jwt
from benchlib import summary_ms
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mcproute.access import authenticator
from mcproute.access.jwks import Jwks
from mcproute.access.keys import new_key
from mcproute.config import parse_config

ISSUER = "https://auth.example.test"
RESOURCE = "https://mcp.example.test/mcp"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    print(json.dumps(anyio.run(run, args.n)) if args.json else _table(anyio.run(run, args.n)))


async def run(n: int) -> dict[str, Any]:
    key = new_key()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwks = {
        "keys": [
            {**jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True), "kid": "r1"},
            {**jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True), "kid": "e1"},
        ]
    }
    config = {
        "gateway": {"http": {"oauth": {"issuer": ISSUER, "resource": RESOURCE, "jwks_uri": f"{ISSUER}/jwks"}}},
        "clients": {
            "ci": {"key": key, "match": {"client_id": "ci-bot"}},
            **{f"c{i}": {"match": {"client_id": f"bot-{i}"}} for i in range(20)},
        },
    }
    auth = authenticator(parse_config(json.dumps(config)).config)
    assert auth.oauth is not None
    auth.oauth.jwks = Jwks(
        issuer=ISSUER,
        jwks_uri=f"{ISSUER}/jwks",
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json=jwks)),
    )
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": RESOURCE, "client_id": "ci-bot", "scope": "tools", "iat": now, "exp": now + 3600}
    cases = {
        "static key": f"Bearer {key}",
        "JWT RS256": "Bearer " + jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "r1"}),
        "JWT ES256": "Bearer " + jwt.encode(claims, ec_key, algorithm="ES256", headers={"kid": "e1"}),
    }
    out: dict[str, Any] = {}
    for name, header in cases.items():
        assert await auth.principal(header) == "ci"  # also warms the JWKS cache
        samples = []
        for _ in range(n):
            t = time.perf_counter()
            await auth.principal(header)
            samples.append(time.perf_counter() - t)
        out[name] = summary_ms(samples)
    out["jwks_fetches"] = auth.oauth.jwks.fetches
    return out


def _table(result: dict[str, Any]) -> str:
    rows = [
        f"{name:<12} p50 {v['p50_ms']:.3f} ms  p99 {v['p99_ms']:.3f} ms  (n={v['n']})"
        for name, v in result.items()
        if isinstance(v, dict)
    ]
    return "\n".join([*rows, f"JWKS fetches: {result['jwks_fetches']}"])


if __name__ == "__main__":
    main()
