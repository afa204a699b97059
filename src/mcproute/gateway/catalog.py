"""The aggregated catalogue: namespaced tools, resources, resource templates and prompts.

Pure data: `build_catalog` turns each healthy server's raw listing into one immutable `Catalog`
(built once per change, never per call). Names:

- tools and prompts: `<prefix><sep><name>` (prefix = `servers.X.prefix` or the server's name,
  separator `gateway.separator`, default `__`); characters outside `[A-Za-z0-9_.-]` become `_`;
  a name longer than 64 characters is cut and given a deterministic hash suffix
  (`..._<8 hex of sha256(full name)>`), so it is stable across restarts; the reverse map
  resolves it back. Prefixes never contain the separator and are unique per server (config
  refuses both), so two servers' tools cannot collide; within one server two names can only meet
  after rewriting (`a b` and `a_b`), and then the tool listed first wins. A gateway meta-tool
  always wins. Every loser is hidden and reported in `collisions` (`mcproute tools`, `/status`).
- resources and templates: `<prefix>+<uri>` (a URI scheme may contain `+`, so the result is
  still a URI); reads split at the first `+`. With `prefix_tools: false` (one server) URIs pass
  through unchanged. A raw URI (one a server embedded in a tool result or prompt before the
  gateway rewrote it, or a client that knows it) resolves when exactly one server lists it, or
  a template matching it.

Tool allow/deny globs (`fnmatch`) apply to the downstream's own tool names. Tools withheld by
pinning (pin_guard.py) arrive already removed from the listings; `withheld` maps their
namespaced names to why, so a call to one is told what changed instead of "unknown tool". Each
entry's `flags` are the `tool_flags` of its descriptions (instruction-like text aimed at the model).
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mcproute.config import ServerConfig
from mcproute.gateway.tool_flags import tool_flags
from mcproute.router.step import ToolSpec

logger = logging.getLogger(__name__)

MAX_NAME = 64
_BAD = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True, slots=True)
class Listing:
    """What one downstream server offers, as raw wire dicts (exactly as it listed them)."""

    tools: tuple[Mapping[str, Any], ...] = ()
    resources: tuple[Mapping[str, Any], ...] = ()
    templates: tuple[Mapping[str, Any], ...] = ()
    prompts: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class ToolEntry:
    name: str  # namespaced, as upstream clients see it
    server: str  # "" for a gateway meta-tool
    original: str  # the downstream's own name
    wire: Mapping[str, Any]  # the tool dict served upstream (name replaced)

    @property
    def flags(self) -> tuple[str, ...]:
        """Instruction-like text in its descriptions (tool_flags.py). Computed when asked
        (`mcproute tools`, /status), not per rebuild: walking 1,700 schemas costs ~20 ms."""
        return tool_flags(self.wire)

    @property
    def input_schema(self) -> Mapping[str, Any]:
        schema = self.wire.get("inputSchema")
        return schema if isinstance(schema, Mapping) else {}


@dataclass(frozen=True, slots=True)
class PromptEntry:
    name: str
    server: str
    original: str
    wire: Mapping[str, Any]


@dataclass(frozen=True)
class Catalog:
    tools: Mapping[str, ToolEntry] = field(default_factory=dict)  # insertion order = listing order
    prompts: Mapping[str, PromptEntry] = field(default_factory=dict)
    resources: tuple[Mapping[str, Any], ...] = ()
    templates: tuple[Mapping[str, Any], ...] = ()
    resource_prefixes: Mapping[str, str] = field(default_factory=dict)  # prefix -> server
    uri_prefixes: Mapping[str, str] = field(default_factory=dict)  # server -> prefix (empty: URIs unprefixed)
    # raw URI / template pattern -> servers listing it, for URIs that arrive without a prefix
    raw_uris: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    raw_templates: tuple[tuple[re.Pattern[str], str], ...] = ()
    prefixed: bool = True
    sole_server: str | None = None  # prefixing off: the one server every URI belongs to
    collisions: tuple[str, ...] = ()
    withheld: Mapping[str, str] = field(default_factory=dict)  # namespaced name -> why it is withheld (pinning)
    # Pre-built `tools/list` payload: served as-is, so listing costs nothing per request.
    tools_wire: tuple[Mapping[str, Any], ...] = ()
    prompts_wire: tuple[Mapping[str, Any], ...] = ()

    def tool_specs(self) -> list[ToolSpec]:
        return [
            ToolSpec(
                name=e.name,
                description=str(e.wire.get("description") or ""),
                input_schema=e.input_schema,
                server=e.server,
            )
            for e in self.tools.values()
        ]

    def resolve_uri(self, uri: str) -> tuple[str, str] | None:
        """`time+file:///x` -> ("time", "file:///x"); a raw URI -> its one owner; else None."""
        if self.prefixed:
            prefix, plus, rest = uri.partition("+")
            if plus and prefix in self.resource_prefixes:
                return self.resource_prefixes[prefix], rest
        owners = set(self.raw_uris.get(uri, ()))
        if not owners:
            owners = {server for pattern, server in self.raw_templates if pattern.fullmatch(uri)}
        if len(owners) == 1:
            return owners.pop(), uri
        if self.sole_server is not None:
            return self.sole_server, uri  # prefixing off: one server, nothing to disambiguate
        return None

    def upstream_uri(self, server: str, uri: str) -> str:
        """The URI a client sees for `uri` of `server` (prefixed unless prefixing is off)."""
        prefix = self.uri_prefixes.get(server)
        return f"{prefix}+{uri}" if prefix is not None else uri

    def rewrite_blocks(self, server: str, blocks: Any) -> None:
        """Prefix the URIs of embedded resources / resource links in content blocks, in place,
        so a client can read them back through the gateway. No-op when prefixing is off."""
        prefix = self.uri_prefixes.get(server)
        if prefix is None or not isinstance(blocks, list):
            return
        for block in blocks:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "resource" and isinstance(block.get("resource"), dict):
                target = block["resource"]
            elif kind == "resource_link":
                target = block
            else:
                continue
            if isinstance(target.get("uri"), str):
                target["uri"] = f"{prefix}+{target['uri']}"

    def fingerprint(self) -> tuple[tuple[str, ...], tuple[str, ...], int, int]:
        """Cheap identity of what upstream clients can see, to decide whether list_changed is due."""
        return (
            tuple(f"{n}:{hash(_freeze(e.wire))}" for n, e in self.tools.items()),
            tuple(self.prompts),
            hash(tuple(str(r.get("uri")) for r in self.resources)),
            hash(tuple(str(t.get("uriTemplate")) for t in self.templates)),
        )


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


_TEMPLATE_VAR = re.compile(r"\{([+#./;?&]?)[^}]*\}")


def template_pattern(template: str) -> re.Pattern[str]:
    """A regex for the URIs an RFC 6570 template can expand to (simple and `+` reserved
    expansion: `{id}` matches one path segment, `{+path}` anything)."""
    out, pos = [], 0
    for m in _TEMPLATE_VAR.finditer(template):
        out.append(re.escape(template[pos : m.start()]))
        out.append(".*" if m.group(1) in ("+", "#") else "[^/?#]*" if not m.group(1) else ".*")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out))


def namespaced(prefix: str | None, name: str, sep: str) -> str:
    """The upstream name for `name` of a server with `prefix` (None = no prefixing)."""
    full = name if prefix is None else f"{prefix}{sep}{name}"
    full = _BAD.sub("_", full) or "_"
    if len(full) <= MAX_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: MAX_NAME - 9]}_{digest}"


def tool_allowed(name: str, cfg: ServerConfig) -> bool:
    allow, deny = cfg.tools.allow, cfg.tools.deny
    if allow and not any(fnmatch.fnmatchcase(name, p) for p in allow):
        return False
    return not any(fnmatch.fnmatchcase(name, p) for p in deny)


def build_catalog(
    listings: Mapping[str, Listing],
    servers: Mapping[str, ServerConfig],
    *,
    separator: str = "__",
    prefix_tools: bool = True,
    meta_tools: Sequence[Mapping[str, Any]] = (),
    withheld: Mapping[tuple[str, str], str] = {},
) -> Catalog:
    """Merge the listings of healthy servers (config order) behind the gateway's own meta-tools."""
    tools: dict[str, ToolEntry] = {}
    prompts: dict[str, PromptEntry] = {}
    resources: list[Mapping[str, Any]] = []
    templates: list[Mapping[str, Any]] = []
    prefixes: dict[str, str] = {}
    uri_prefixes: dict[str, str] = {}
    raw_uris: dict[str, tuple[str, ...]] = {}
    raw_templates: list[tuple[re.Pattern[str], str]] = []
    collisions: list[str] = []

    for wire in meta_tools:
        tools[wire["name"]] = ToolEntry(wire["name"], "", wire["name"], wire)

    for server, cfg in servers.items():
        listing = listings.get(server)
        if listing is None:
            continue
        prefix = (cfg.prefix or server) if prefix_tools else None
        for tool in listing.tools:
            original = tool.get("name")
            if not isinstance(original, str) or not tool_allowed(original, cfg):
                continue
            name = namespaced(prefix, original, separator)
            if name in tools:
                owner = tools[name]
                collisions.append(
                    f"tool {original!r} of server {server!r} maps to {name!r}, already taken by "
                    + (f"{owner.original!r} of server {owner.server!r}" if owner.server else "a gateway meta-tool")
                    + "; it is hidden"
                )
                continue
            tools[name] = ToolEntry(name, server, original, {**tool, "name": name})
        for prompt in listing.prompts:
            original = prompt.get("name")
            if not isinstance(original, str):
                continue
            name = namespaced(prefix, original, separator)
            if name in prompts:
                collisions.append(
                    f"prompt {original!r} of server {server!r} maps to {name!r}, already taken; it is hidden"
                )
                continue
            prompts[name] = PromptEntry(name, server, original, {**prompt, "name": name})
        for r in listing.resources:
            if isinstance(r.get("uri"), str):
                raw_uris[r["uri"]] = (*raw_uris.get(r["uri"], ()), server)
        for t in listing.templates:
            if isinstance(t.get("uriTemplate"), str):
                raw_templates.append((template_pattern(t["uriTemplate"]), server))
        if not prefix_tools:
            resources += listing.resources
            templates += listing.templates
            continue
        uri_prefix = _BAD.sub("-", cfg.prefix or server).replace("_", "-")
        # Every listed server gets a prefix (not only those listing resources): its tool results
        # may embed resources, whose URIs are rewritten with it.
        if uri_prefix in prefixes:
            if listing.resources or listing.templates:
                collisions.append(
                    f"resource prefix {uri_prefix!r} of server {server!r} is taken by {prefixes[uri_prefix]!r}"
                )
            continue
        prefixes[uri_prefix] = server
        uri_prefixes[server] = uri_prefix
        resources += [{**r, "uri": f"{uri_prefix}+{r.get('uri')}"} for r in listing.resources]
        templates += [{**t, "uriTemplate": f"{uri_prefix}+{t.get('uriTemplate')}"} for t in listing.templates]

    held: dict[str, str] = {}
    for (srv, orig), why in withheld.items():
        if srv in servers:
            name = namespaced((servers[srv].prefix or srv) if prefix_tools else None, orig, separator)
            held[name] = f"tool {name!r} ({orig!r} of server {srv!r}) is withheld: {why}"
    for c in collisions:
        logger.warning("catalogue: %s", c)
    return Catalog(
        tools=tools,
        prompts=prompts,
        resources=tuple(resources),
        templates=tuple(templates),
        resource_prefixes=prefixes,
        uri_prefixes=uri_prefixes,
        raw_uris=raw_uris,
        raw_templates=tuple(raw_templates),
        prefixed=prefix_tools,
        sole_server=next(iter(listings)) if not prefix_tools and len(listings) == 1 else None,
        collisions=tuple(collisions),
        withheld={n: why for n, why in held.items() if n not in tools},
        tools_wire=tuple(e.wire for e in tools.values()),
        prompts_wire=tuple(e.wire for e in prompts.values()),
    )
