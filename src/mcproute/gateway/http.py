"""Streamable HTTP serving: the SDK's `/mcp` app behind a guard, plus extra routes.

The guard runs before every route (including ones other modules attach, such as
`/v1/chat/completions`): Host and Origin are checked against DNS rebinding, a bearer token is
required when configured (a named client key from `clients:` or `gateway.http.token`; the configuration must have one
for a non-loopback bind; the principal's name then travels as the `x-mcproute-client` header, which a caller cannot set), every
POST must be `Content-Type: application/json` (else 415), and a declared body larger than `max_request_bytes` is refused with 413 before it is read (the SDK's
own limit also covers chunked bodies on `/mcp`). Behind it, `JsonGuard` holds every `/mcp` body
to the gateway's JSON depth limit before anything parses it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from collections.abc import Sequence

from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from mcproute.access import Authenticator, AuthFailed
from mcproute.access.jwks import AuthServerUnavailable
from mcproute.access.keys import CLIENT_HEADER, KeyRing
from mcproute.config import HttpConfig
from mcproute.errors import InvalidRequest
from mcproute.gateway._fast_http import read_body, replay
from mcproute.gateway.http_auth import ProtectedResource
from mcproute.gateway.http_limits import SessionLimit
from mcproute.gateway.http_quota import LimitGuard
from mcproute.gateway.limits import JsonLimits, request_id
from mcproute.gateway.upstream import Upstream
from mcproute.gateway.worker_env import worker_link

_CLIENT = CLIENT_HEADER.encode()
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None | bool) -> None:
    """`token`: the static token, or whether any key (token or `clients:`) is configured."""
    if not is_loopback(host) and not token:
        raise InvalidRequest(
            f'refusing to bind {host!r} without a bearer token: set gateway.http.token (e.g. "${{MCPROUTE_TOKEN}}"), client keys (clients:) or gateway.http.oauth, '
            "or bind 127.0.0.1"
        )


class Guard:
    """ASGI middleware: Host/Origin validation, bearer token, declared body size."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str,
        token: str | None,
        max_bytes: int,
        allowed_origins: Sequence[str],
        keys: KeyRing | None = None,
        auth: Authenticator | None = None,
    ) -> None:
        self.app = app
        # Named client keys (stored hashed) plus the legacy token as the `default` client, and
        # OAuth access tokens when `gateway.http.oauth` is set.
        self.auth = auth if auth is not None else Authenticator(keys if keys is not None else KeyRing.build({}, token))
        oauth = self.auth.oauth
        self.resource = ProtectedResource.of(oauth.config) if oauth is not None else None
        self.max_bytes = max_bytes
        self.any_host = host in ("0.0.0.0", "::", "")
        names = set(LOOPBACK_NAMES) | ({host} if host else set())
        self.hosts = {n.lower() for n in names}
        self.origins = {o.rstrip("/").lower() for o in allowed_origins}

    def _host_ok(self, value: str) -> bool:
        if self.any_host:
            return True
        name = value.lower()
        if name.startswith("["):
            name = name[: name.find("]") + 1]
        else:
            name = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
        return name in self.hosts

    def _origin_ok(self, origin: str) -> bool:
        origin = origin.rstrip("/").lower()
        if origin in self.origins:
            return True
        # Same-machine browser pages (e.g. the MCP Inspector UI) are not a rebinding vector.
        rest = origin.split("://", 1)[-1]
        host = rest[: rest.find("]") + 1] if rest.startswith("[") else rest.split(":", 1)[0]
        return host in LOOPBACK_NAMES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k: v for k, v in scope["headers"]}
        host = headers.get(b"host", b"").decode("latin-1")
        if not self._host_ok(host):
            return await _reject(send, scope, 421, f"Host {host!r} is not allowed (DNS rebinding protection)")
        origin = headers.get(b"origin")
        if origin is not None and not self._origin_ok(origin.decode("latin-1")):
            return await _reject(send, scope, 403, f"Origin {origin.decode('latin-1')!r} is not allowed")
        if self.resource is not None and scope["path"] in self.resource.paths and scope["method"] == "GET":
            return await self.resource.serve(send)  # RFC 9728: public, so a client can find the issuer
        # The principal header is ours alone: a caller's copy is dropped before anything reads it.
        raw = [(k, v) for k, v in scope["headers"] if k != _CLIENT]
        if self.auth.required:
            try:
                client = await self.auth.principal(headers.get(b"authorization"))
            except AuthFailed as exc:
                challenge = self.resource.challenge(exc) if self.resource is not None else b"Bearer"
                return await _reject(send, scope, exc.status, str(exc), extra=[(b"www-authenticate", challenge)])
            except AuthServerUnavailable as exc:
                # The issuer's outage, not the caller's fault: 503, and the next request may succeed.
                return await _reject(send, scope, 503, f"cannot check the token: {exc}")
            assert client is not None
            raw.append((_CLIENT, client.encode()))
        if len(raw) != len(scope["headers"]) or self.auth.required:
            scope = {**scope, "headers": raw}
        if scope["method"] == "POST" and (problem := _not_json(headers.get(b"content-type"))):
            return await _reject(send, scope, 415, problem)
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await _reject(
                send, scope, 413, f"request body of {int(length)} bytes exceeds the limit of {self.max_bytes}"
            )
        await self.app(scope, receive, send)


class JsonGuard:
    """ASGI: every `POST /mcp` body is checked against the gateway's JSON limits before the SDK or
    the fast path parses it; one that breaks them gets a JSON-RPC error naming the limit and
    where (400, with the request's id when it can be found). The body is then replayed as read."""

    def __init__(self, app: ASGIApp, *, bounds: JsonLimits, max_bytes: int, path: str = "/mcp") -> None:
        self.app = app
        self.bounds = bounds
        self.max_bytes = max_bytes
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            return await self.app(scope, receive, send)
        body, complete = await read_body(receive, self.max_bytes)
        problem = self.bounds.check_bytes(body) if complete else None  # an incomplete body: the SDK answers 413
        if problem is not None:
            error = {"code": -32602, "message": problem}
            payload = json.dumps({"jsonrpc": "2.0", "id": request_id(body), "error": error}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": payload})
            return
        await self.app(scope, replay(body, complete, receive), send)


# OpenAI-compatible routes (mcproute.openai_api) need refusals in OpenAI's error shape, or the
# official clients cannot read them; everything else gets a JSON-RPC error.
_OPENAI_CODES = {
    401: "invalid_api_key",
    403: "insufficient_scope",
    413: "request_too_large",
    415: "unsupported_media_type",
    503: "auth_server_unavailable",
}


def _not_json(content_type: bytes | None) -> str | None:
    """Why a POST's Content-Type is refused, or None for application/json (parameters allowed).

    One rule for every POST route — the SDK path, the fast path, /v1/chat/completions — because a
    browser page may send `text/plain` (or a form type) cross-origin without a CORS preflight: JSON
    under another name must not be accepted anywhere."""
    media = (content_type or b"").split(b";", 1)[0].strip().lower()
    if media == b"application/json":
        return None
    got = repr(content_type.decode("latin-1")) if content_type else "none"
    return f"Content-Type must be application/json, got {got}"


async def _reject(
    send: Send, scope: Scope, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    if str(scope.get("path", "")).startswith("/v1/"):
        error = {"message": message, "type": "invalid_request_error", "param": None, "code": _OPENAI_CODES.get(status)}
        body = json.dumps({"error": error}).encode()
    else:
        body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())] + (extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def build_app(
    upstream: Upstream, http: HttpConfig, *, host: str | None = None, extra_routes: Sequence[BaseRoute] = ()
) -> ASGIApp:
    """The ASGI app: `/mcp` (both eras) plus `extra_routes`, all behind the guard."""
    host = host or http.host
    access = upstream.gateway.access
    if access is None:  # a gateway served without an engine: policies apply, limits count in memory
        from mcproute.access import Access

        access = upstream.gateway.access = Access(upstream.gateway.config)
    check_bind(host, access.auth.required)
    app: Starlette = upstream.server.streamable_http_app(
        streamable_http_path="/mcp",
        max_request_body_size=http.max_request_bytes,
        # The guard already did Host/Origin for every route.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        host=host,
        custom_starlette_routes=list(extra_routes),  # type: ignore[arg-type]
        max_sessions=http.max_sessions,
        session_idle_timeout=http.session_idle_timeout,
    )
    sessions_app: ASGIApp = app
    if upstream.session_store is not None:
        # Handshake-era sessions in the shared store: any replica serves any session.
        from mcproute.gateway.session_share import SessionRecorder, SessionShare

        share = SessionShare(
            app, manager=upstream.server.session_manager, store=upstream.session_store, restore=upstream.restore_session
        )
        upstream.server.middleware = [m for m in upstream.server.middleware if not isinstance(m, SessionRecorder)]
        upstream.server.middleware.append(SessionRecorder(upstream.session_store, share, http.session_idle_timeout))
        sessions_app = share
    served: ASGIApp = SessionLimit(
        sessions_app,
        manager=upstream.server.session_manager,
        per_client=http.max_sessions_per_client,
        idle_timeout=http.session_idle_timeout,
    )
    # MCPROUTE_FAST_PATH=0 sends every request through the SDK (an escape hatch, and the A/B baseline).
    if os.environ.get("MCPROUTE_FAST_PATH") != "0":
        from mcproute.gateway._fast_http import HttpFastPath

        served = upstream.http_fast_path = HttpFastPath(upstream, served, max_bytes=http.max_request_bytes)
    served = JsonGuard(served, bounds=upstream.gateway.limits, max_bytes=http.max_request_bytes)
    served = LimitGuard(served, access=access, max_bytes=http.max_request_bytes)
    link = worker_link()
    router = None
    if link is not None:
        # `serve --workers N`: a request for a session another worker holds goes there, once the
        # caller is authenticated (the owner checks it again).
        from mcproute.gateway.worker_link import SessionRouter

        manager = upstream.server.session_manager
        served = router = SessionRouter(
            served,
            sessions=lambda: manager._server_instances,  # noqa: SLF001 - the SDK's live-session table
            me=link.me.index,
            peers=link.peers(),
            secret=link.secret,
            max_bytes=http.max_request_bytes,
        )
    guarded: ASGIApp = Guard(
        served,
        host=host,
        token=http.token,
        max_bytes=http.max_request_bytes,
        allowed_origins=http.allowed_origins,
        auth=access.auth,
    )
    if router is None:
        return guarded
    from mcproute.gateway.worker_link import OwnsProbe

    return OwnsProbe(guarded, router)  # peers' "do you hold it?" is answered outside the guard


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Inherited by accepted connections on Linux: a response written as headers + body must not
    # wait out the peer's delayed ACK (Nagle), which costs ~40 ms per call.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(128)
    sock.setblocking(False)
    return sock
