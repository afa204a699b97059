"""Per-client policy, pure: which servers, tools, tiers and models a client may use.

`Policy.allows_tool` answers for a namespaced tool name and its server; the gateway's meta-tools
(`mcproute__*`, server "") are allowed unless a `tools` pattern names them, because they are how a
client reaches routed steps at all (what those steps may use is filtered here too).
`FULL_ACCESS` is the policy of the `gateway.http.token` principal, of an unauthenticated loopback
caller when no key is configured, and of the local user over stdio without `stdio_client`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from mcproute.config_clients import ClientConfig, GlobRules


@dataclass(frozen=True, slots=True)
class Globs:
    allow: tuple[str, ...] = ("*",)
    deny: tuple[str, ...] = ()

    @classmethod
    def of(cls, rules: GlobRules) -> Globs:
        allow = tuple(p for p in rules.allow if not p.startswith("!"))
        deny = tuple(rules.deny) + tuple(p[1:] for p in rules.allow if p.startswith("!"))
        return cls(allow, deny)

    @property
    def everything(self) -> bool:
        return "*" in self.allow and not self.deny

    def allows(self, name: str) -> bool:
        return any(fnmatchcase(name, p) for p in self.allow) and not any(fnmatchcase(name, p) for p in self.deny)

    def names(self, name: str) -> bool:
        """Whether a pattern mentions `name` explicitly (not through a bare `*`)."""
        return any(p != "*" and fnmatchcase(name, p) for p in self.allow + self.deny)


@dataclass(frozen=True, slots=True)
class Policy:
    client: str | None
    servers: Globs = Globs()
    tools: Globs = Globs()
    tiers: frozenset[str] = frozenset({"reasoning", "fast"})
    models: Globs = Globs()

    @classmethod
    def of(cls, name: str, cfg: ClientConfig) -> Policy:
        return cls(name, Globs.of(cfg.servers), Globs.of(cfg.tools), frozenset(cfg.tiers), Globs.of(cfg.models))

    @property
    def unrestricted_tools(self) -> bool:
        return self.servers.everything and self.tools.everything

    def allows_tool(self, name: str, server: str) -> bool:
        if self.unrestricted_tools:
            return True
        if not server:  # a gateway meta-tool: only a tools pattern that names it can hide it
            return self.tools.allows(name) or not self.tools.names(name)
        return self.servers.allows(server) and self.tools.allows(name)

    def allows_model(self, name: str, tier: str) -> bool:
        return tier in self.tiers and self.models.allows(name)

    def filter_wire(self, tools: Sequence[Mapping[str, Any]], server_of: Mapping[str, str]) -> list[Mapping[str, Any]]:
        """A `tools/list` answer cut to what this client may see (`server_of`: name -> server, "" for meta-tools)."""
        if self.unrestricted_tools:
            return list(tools)
        return [t for t in tools if self.allows_tool(str(t.get("name")), server_of.get(str(t.get("name")), ""))]

    def allowed_models(self, models: Iterable[Any]) -> list[Any]:
        """The router's `ModelSpec`s this client may use (anything with `.name` and `.tier`)."""
        return [m for m in models if self.allows_model(m.name, m.tier)]


FULL_ACCESS = Policy(None)
