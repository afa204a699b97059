"""Access control: who calls (`keys`), what they may see and use (`policy`), how much (`quota`).

`Access` is the one object the rest of the gateway holds (`Gateway.access`, set by the engine,
which owns the store the counters live in). It resolves a request's principal from the headers
the HTTP guard stamped (`keys.CLIENT_HEADER`), or, with no headers (stdio, programmatic calls),
from `stdio_client`; a request without a principal has full access (no key is configured, or
the `gateway.http.token` default). docs/security.md, "Clients, policies and limits".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mcproute.access.keys import CLIENT_HEADER, DEFAULT_CLIENT, KeyRing
from mcproute.access.oauth import Authenticator, AuthFailed, OAuthValidator
from mcproute.access.policy import FULL_ACCESS, Policy
from mcproute.access.quota import Quota
from mcproute.config import Config
from mcproute.config_clients import ClientLimits
from mcproute.state.counters import CounterStore, MemoryCounters

__all__ = [
    "CLIENT_HEADER",
    "DEFAULT_CLIENT",
    "Access",
    "AuthFailed",
    "Authenticator",
    "KeyRing",
    "Policy",
    "FULL_ACCESS",
    "Quota",
    "authenticator",
]


def authenticator(config: Config) -> Authenticator:
    """Static keys (`clients.<name>.key_sha256`, `gateway.http.token`) and, with
    `gateway.http.oauth`, OAuth access tokens mapped to clients by `clients.<name>.match`."""
    http = config.gateway.http
    keys = KeyRing.build({n: c.key_sha256 for n, c in config.clients.items() if c.key_sha256}, http.token)
    oauth = OAuthValidator(http.oauth, config.clients) if http.oauth is not None else None
    return Authenticator(keys, oauth)


_NO_LIMITS = ClientLimits()


class Access:
    def __init__(
        self, config: Config, counters: CounterStore | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.auth = authenticator(config)
        self.keys = self.auth.keys
        self.policies = {n: Policy.of(n, c) for n, c in config.clients.items()}
        self.limits = {n: c.limits for n, c in config.clients.items()}
        self.stdio_client = config.stdio_client
        self.quota = Quota(counters if counters is not None else MemoryCounters(clock), clock)

    def principal(self, headers: Mapping[str, str] | None) -> str | None:
        if headers is None:
            return self.stdio_client
        return headers.get(CLIENT_HEADER)

    def policy(self, client: str | None) -> Policy:
        return self.policies.get(client, FULL_ACCESS) if client is not None else FULL_ACCESS

    def limits_of(self, client: str | None) -> ClientLimits:
        return self.limits.get(client, _NO_LIMITS) if client is not None else _NO_LIMITS

    def tool_visible(self, name: str, server: str, headers: Mapping[str, str] | None) -> bool:
        return self.policy(self.principal(headers)).allows_tool(name, server)

    def filter_tools(
        self, tools: Sequence[Mapping[str, Any]], server_of: Mapping[str, str], headers: Mapping[str, str] | None
    ) -> list[Mapping[str, Any]]:
        return self.policy(self.principal(headers)).filter_wire(tools, server_of)

    # ------------------------------------------------------------ limits (raise ClientLimitExceeded)

    async def check_request(self, client: str | None) -> None:
        if client is not None:
            await self.quota.request(client, self.limits_of(client))

    async def check_tool_call(self, client: str | None, *, spends: bool) -> None:
        if client is not None:
            await self.quota.tool_call(client, self.limits_of(client))
            if spends:
                await self.quota.budget(client, self.limits_of(client))

    async def check_budget(self, client: str | None) -> None:
        if client is not None:
            await self.quota.budget(client, self.limits_of(client))

    async def spend(self, headers: Mapping[str, str] | None, usd: float) -> None:
        client = self.principal(headers)
        if client is not None and self.limits_of(client).usd_per_day is not None:
            await self.quota.spend(client, usd)
