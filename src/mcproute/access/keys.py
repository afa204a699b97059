"""Who is calling: bearer keys checked against their stored hashes, and the principal's name.

`KeyRing.authenticate` hashes the presented key once and compares it with every stored hash in
constant time (`hmac.compare_digest`, no early exit on a match), so neither the answer's timing
nor any log line says which client's key was close. The result is the client's *name* — the only
thing about a caller that travels further (a header the HTTP guard sets, span attributes, limits).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from mcproute.config_clients import hash_key

# Set by the HTTP guard on every authenticated request after removing any copy the caller sent,
# so handlers, hooks and the engine read the principal from the request headers they already get.
CLIENT_HEADER = "x-mcproute-client"
# The principal of `gateway.http.token` (full access, as before clients existed).
DEFAULT_CLIENT = "default"
KEY_PREFIX = "mcpr_"


@dataclass(frozen=True, slots=True)
class KeyRing:
    """Stored key hashes by client name (the static token hashed in too, as `default`)."""

    hashes: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def build(cls, clients: Mapping[str, str], token: str | None = None) -> KeyRing:
        """`clients`: name -> hex sha256; `token`: the legacy `gateway.http.token`, if any."""
        pairs = [(name, bytes.fromhex(h)) for name, h in clients.items()]
        if token:
            pairs.append((DEFAULT_CLIENT, bytes.fromhex(hash_key(token))))
        return cls(tuple(pairs))

    @property
    def required(self) -> bool:
        return bool(self.hashes)

    def authenticate(self, authorization: bytes | str | None) -> str | None:
        """The client name for an `Authorization: Bearer <key>` value, or None."""
        if isinstance(authorization, str):
            authorization = authorization.encode("latin-1", "replace")
        if not authorization or authorization[:7].lower() != b"bearer ":
            return None
        digest = bytes.fromhex(hash_key(authorization[7:].strip().decode("latin-1")))
        found = None
        for name, stored in self.hashes:
            if hmac.compare_digest(digest, stored) and found is None:
                found = name
        return found


def new_key() -> str:
    """A fresh key: 256 random bits, URL-safe, with a prefix that secret scanners can spot."""
    return KEY_PREFIX + secrets.token_urlsafe(32)
