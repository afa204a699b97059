"""`clients:` in servers.yaml: named API keys (stored hashed), each with its policy and limits.

Kept beside `config.py` (which imports it) so the access-control edge reads as one place; the
enforcement lives in `mcproute.access` (docs/security.md, "Clients, policies and limits").

A key may be given as `key_sha256` (hex SHA-256 of the key: what `mcproute keys new` prints) or as
`key: "${ENV}"`; a clear key is hashed while the config is validated and never kept, so it cannot
reach a log line, a span, `/status` or an error message.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mcproute._config_model import ConfigModel as _Model

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9_.@-]+$")


def hash_key(key: str) -> str:
    """The stored form of an API key: lowercase hex SHA-256 of its UTF-8 bytes. Keys are random
    (`mcproute keys new`: 256 bits), so a plain hash is enough; a slow hash buys nothing here."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class GlobRules(_Model):
    """Glob allow/deny on namespaced names (`git__*`); deny wins. A pattern written `!x` in
    `allow` is a deny, so one list can say `["git__*", "!git__git_commit"]`."""

    allow: list[str] = Field(
        default_factory=lambda: ["*"],
        description="glob patterns of what is allowed (default: everything); a pattern starting with `!` denies",
    )
    deny: list[str] = Field(default_factory=list, description="glob patterns denied even when allowed")


class ClientLimits(_Model):
    requests_per_minute: int | None = Field(
        default=None,
        ge=1,
        description="HTTP requests (to /mcp, /v1/*, /status) per fixed UTC minute; over it: 429 with Retry-After",
    )
    tool_calls_per_minute: int | None = Field(
        default=None,
        ge=1,
        description="tools/call requests (proxied and meta-tools) per "
        "fixed UTC minute; over it: 429 (HTTP) or a JSON-RPC error (stdio)",
    )
    usd_per_day: float | None = Field(
        default=None,
        gt=0,
        description="model spend per UTC day, from each step's computed cost; "
        "once reached, requests that may spend are refused until midnight UTC",
    )


class ClientConfig(_Model):
    """One client: how it is recognised (its key, hashed, and/or OAuth token claims) and what it
    may see, call and spend."""

    key_sha256: str | None = Field(
        default=None,
        description="hex SHA-256 of the client's key (`mcproute keys new NAME` prints it); or give "
        '`key: "${ENV}"` instead, hashed at load and never kept in clear',
    )
    match: dict[str, str] | None = Field(
        default=None,
        description="OAuth access-token claims that make a token this client's (all must hold), e.g. "
        "`{client_id: ci-bot}` or `{sub: alice, scope: tools}`; a list claim (or a space-separated "
        "`scope`/`scp`) must contain every space-separated value; needs `gateway.http.oauth`",
    )
    servers: GlobRules = Field(
        default_factory=GlobRules, description="which downstream servers' tools are listed and callable"
    )
    tools: GlobRules = Field(
        default_factory=GlobRules,
        description="which tools (namespaced: `git__git_status`) are listed and "
        "callable; a hidden tool is unknown to this client, not forbidden",
    )
    tiers: list[Literal["reasoning", "fast"]] = Field(
        default=["reasoning", "fast"],  # a value, not a factory, so the config reference shows it (pydantic copies it)
        description="model tiers routed steps may use",
    )
    models: GlobRules = Field(
        default_factory=GlobRules, description="configured model names routed steps and /v1 may use"
    )
    limits: ClientLimits = Field(default_factory=ClientLimits, description="rate limits and the daily budget")

    @model_validator(mode="before")
    @classmethod
    def _hash_clear_key(cls, data: Any) -> Any:
        # Before validation, so the clear key is never a field value pydantic could echo back.
        if isinstance(data, dict) and "key" in data:
            data = dict(data)
            key = data.pop("key")
            if "key_sha256" in data:
                raise ValueError("give either key or key_sha256, not both")
            if not isinstance(key, str) or len(key) < 16:
                raise ValueError("key must be a string of at least 16 characters (use `mcproute keys new NAME`)")
            data["key_sha256"] = hash_key(key)
        return data

    @model_validator(mode="after")
    def _recognisable(self) -> ClientConfig:
        if self.key_sha256 is None and not self.match:
            raise ValueError("a client needs key_sha256 (or key) and/or match (OAuth token claims)")
        return self

    @field_validator("match")
    @classmethod
    def _claims(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        for claim, value in (v or {}).items():
            if not claim or not value.strip():
                raise ValueError(f"match: claim {claim!r} needs a non-empty name and value")
        return v

    @field_validator("key_sha256")
    @classmethod
    def _hex(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip().lower()
        if not _HEX64.match(v):
            raise ValueError(
                "key_sha256 must be 64 hex digits (the SHA-256 of the key; `mcproute keys new NAME` prints it)"
            )
        return v


def check_client_names(clients: dict[str, ClientConfig]) -> dict[str, ClientConfig]:
    seen: dict[str, str] = {}
    for name, client in clients.items():
        if not _NAME.match(name):
            raise ValueError(f"client name {name!r} may use only [A-Za-z0-9_.@-]")
        if client.key_sha256 is None:
            continue
        if client.key_sha256 in seen:
            raise ValueError(f"clients {seen[client.key_sha256]!r} and {name!r} have the same key")
        seen[client.key_sha256] = name
    return clients
