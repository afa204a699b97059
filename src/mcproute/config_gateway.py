"""`gateway`: how tools are served (names, exposure, message bounds) and the HTTP listener."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from mcproute._config_model import NAME_RE, ConfigModel as _Model
from mcproute.config_oauth import OAuthConfig


class HttpConfig(_Model):
    host: str = Field(
        default="127.0.0.1", description="address `serve --transport http` binds; a non-loopback one needs `token`"
    )
    port: int = Field(
        default=8765, ge=0, le=65535, description="TCP port (0: any free port); `serve --port` overrides it"
    )
    token: str | None = Field(default=None, description="bearer token; required for non-loopback binds")
    max_request_bytes: int = Field(
        default=1_048_576, gt=0, description="largest HTTP request body; a larger one is refused with 413"
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="browser Origins allowed besides loopback pages (others get 403), e.g. https://app.example.com",
    )
    # Bounds on what HTTP clients can hold open (docs/security.md).
    max_sessions: int = Field(default=1000, ge=1, description="handshake-era MCP sessions open at once, all clients")
    max_sessions_per_client: int = Field(
        default=100, ge=1, description="handshake-era MCP sessions one client address may hold"
    )
    session_idle_timeout: float = Field(
        default=600.0, gt=0, description="seconds without a request before a session is closed"
    )
    header_timeout: float = Field(
        default=10.0, gt=0, description="seconds a connection may take to send a whole request head"
    )
    oauth: OAuthConfig | None = Field(
        default=None,
        description="accept OAuth 2.1 access tokens (JWTs checked against the issuer's keys) beside "
        "the keys; `clients.<name>.match` maps token claims to a client (docs/security.md)",
    )


class GatewayConfig(_Model):
    separator: str = Field(
        default="__",
        description="between a server's prefix and a tool's name in the served name (time__get_current_time)",
    )
    prefix_tools: bool = Field(default=True, description="may be false only with a single server")
    expose: Literal["all", "search"] = Field(
        default="all",
        description="'all': tools/list lists every tool; 'search': the "
        "meta-tools plus the conversation's current top_k",
    )
    http: HttpConfig = Field(default_factory=HttpConfig, description="the HTTP listener (`serve --transport http`)")
    # Bounds on every JSON message crossing the gateway (docs/security.md). The depth ceiling is
    # pydantic's own JSON parser limit (~200): above it the SDK would refuse first, less clearly.
    max_json_depth: int = Field(default=64, ge=8, le=190, description="deepest nesting of any JSON message, in or out")
    max_message_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="largest stdio message (a line) in or out; HTTP request bodies use http.max_request_bytes",
    )

    @field_validator("separator")
    @classmethod
    def _sep(cls, v: str) -> str:
        if not v or not NAME_RE.match(v):
            raise ValueError("separator must be non-empty and use only [A-Za-z0-9_.-]")
        return v
