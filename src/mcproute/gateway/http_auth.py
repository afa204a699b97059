"""HTTP side of OAuth: the RFC 9728 metadata document and the `WWW-Authenticate` challenges.

With `gateway.http.oauth` set, `GET /.well-known/oauth-protected-resource` (and the form with the
resource's path appended, `/.well-known/oauth-protected-resource/mcp`, which RFC 9728 section 3.1
and the MCP clients ask for first) answer without a token: the resource URI, the authorization
server, the scopes and `bearer_methods_supported: ["header"]`. Every 401/403 the guard sends then
carries `WWW-Authenticate: Bearer resource_metadata="<that URL>"`, with `error="invalid_token"`
when a token was sent and refused, or `error="insufficient_scope"` and the `scope` needed (403);
that header is how an MCP client finds where to get a token (MCP authorization spec).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from starlette.types import Send

from mcproute.access.oauth import AuthFailed
from mcproute.config_oauth import OAuthConfig

WELL_KNOWN = "/.well-known/oauth-protected-resource"


@dataclass(frozen=True, slots=True)
class ProtectedResource:
    document: bytes
    paths: frozenset[str]
    metadata_url: str

    @classmethod
    def of(cls, oauth: OAuthConfig) -> ProtectedResource:
        parts = urlsplit(oauth.resource)
        suffixed = WELL_KNOWN + parts.path.rstrip("/")
        document: dict[str, object] = {
            "resource": oauth.resource,
            "authorization_servers": [oauth.issuer],
            "bearer_methods_supported": ["header"],
            "resource_signing_alg_values_supported": list(oauth.algorithms),
            "resource_name": "mcproute",
        }
        if oauth.required_scopes:
            document["scopes_supported"] = list(oauth.required_scopes)
        return cls(
            document=json.dumps(document).encode(),
            paths=frozenset({WELL_KNOWN, suffixed}),
            metadata_url=urlunsplit((parts.scheme, parts.netloc, suffixed, "", "")),
        )

    async def serve(self, send: Send) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.document)).encode()),
            # Public and the same for everyone; browsers-based clients fetch it cross-origin.
            (b"cache-control", b"public, max-age=3600"),
            (b"access-control-allow-origin", b"*"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.document})

    def challenge(self, failed: AuthFailed) -> bytes:
        params = [f'resource_metadata="{self.metadata_url}"']
        if failed.error is not None:
            params.append(f'error="{failed.error}"')
            params.append(f'error_description="{_quoted(failed.description)}"')
        if failed.scope:
            params.append(f'scope="{_quoted(failed.scope)}"')
        return ("Bearer " + ", ".join(params)).encode("latin-1", "replace")


def _quoted(text: str) -> str:
    """A quoted-string's content (RFC 9110): no `"` or `\\`, printable ASCII only."""
    return "".join(c for c in text if 0x20 <= ord(c) < 0x7F and c not in '"\\')
