"""`servers.yaml`: pydantic models, `${VAR}` interpolation, and errors with their location.

Loading never stops at the first problem. `load_config` returns the parsed config plus every
`ConfigIssue` it found (each with a dotted path such as `servers.time.args[1]` and, where the
YAML parser knows it, a line number). A missing environment variable is an issue, not a crash:
`mcproute check` fails on it, while `mcproute serve` starts and marks what depends on it
unavailable (a model without its key, a server without its header) with the variable's name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from mcproute._config_model import ENV_NAME_RE as ENV_NAME_RE, NAME_RE as NAME_RE, ConfigModel as _Model
from mcproute._interpolate import format_path, interpolate
from mcproute._suggest import suggest
from mcproute._yaml_doc import (
    YamlRefused,
    check_expansion,
    compose,
    construct,
    duplicate_keys,
    position_for,
    position_index,
    syntax_error_at,
)
from mcproute.config_clients import ClientConfig, check_client_names
from mcproute.config_gateway import (  # re-exported: the sections' home before they moved
    GatewayConfig as GatewayConfig,
    HttpConfig as HttpConfig,
)
from mcproute.config_models import (  # re-exported
    ROUTED_MODEL_NAMES as ROUTED_MODEL_NAMES,
    TIERS as TIERS,
    Capabilities as Capabilities,
    Deployment as Deployment,
    ModelConfig as ModelConfig,
    Price as Price,
)
from mcproute.config_sections import (  # re-exported: the sections' home before they moved
    CacheConfig as CacheConfig,
    EncoderConfig as EncoderConfig,
    MetricsConfig as MetricsConfig,
    ReliabilityConfig as ReliabilityConfig,
    ReplayConfig as ReplayConfig,
    RoutingConfig as RoutingConfig,
    StateConfig as StateConfig,
    TelemetryConfig as TelemetryConfig,
    TierExamples as TierExamples,
    TiersConfig as TiersConfig,
)
from mcproute.config_servers import (  # re-exported
    PinsConfig as PinsConfig,
    ServerConfig as ServerConfig,
    ToolFilter as ToolFilter,
)
from mcproute.errors import ConfigError


class Config(_Model):
    data_dir: str = Field(
        default=".mcproute",
        description="state and traces directory; a relative one is taken from the config file's directory",
    )
    gateway: GatewayConfig = Field(default_factory=GatewayConfig, description="how tools are named, listed and served")
    servers: dict[str, ServerConfig] = Field(
        default_factory=dict, description="downstream MCP servers by name ([A-Za-z0-9_.-])"
    )
    models: dict[str, ModelConfig] = Field(
        default_factory=dict, description="models by name, served on /v1 by name, by tier or as auto"
    )
    routing: RoutingConfig = Field(
        default_factory=RoutingConfig, description="tool retrieval and the reasoning-vs-fast tier choice"
    )
    reliability: ReliabilityConfig = Field(
        default_factory=ReliabilityConfig, description="retries, backoff and circuit breakers"
    )
    state: StateConfig = Field(default_factory=StateConfig, description="the sticky per-conversation state")
    replay: ReplayConfig = Field(
        default_factory=ReplayConfig, description="step inputs kept for `mcproute replay` (user content: see keep)"
    )
    cache: CacheConfig = Field(
        default_factory=CacheConfig,
        description="model replies reused for repeated requests (exact match on by default)",
    )
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig, description="OpenTelemetry traces")
    # Access control (docs/security.md, "Clients, policies and limits"; config_clients.py).
    clients: dict[str, ClientConfig] = Field(
        default_factory=dict,
        description="named API keys by client name, each with the tools, "
        "models and limits it is allowed; `gateway.http.token` stays a full-access default client",
    )
    stdio_client: str | None = Field(
        default=None,
        description="the client (a name in `clients`) whose policy and limits apply over "
        "stdio, where the principal is the local user; default: full access",
    )

    @field_validator("clients")
    @classmethod
    def _clients(cls, v: dict[str, ClientConfig]) -> dict[str, ClientConfig]:
        return check_client_names(v)

    @model_validator(mode="after")
    def _stdio_client_known(self) -> Config:
        known = ", ".join(self.clients) or "none"
        if self.stdio_client is not None and self.stdio_client not in self.clients:
            raise ValueError(f"stdio_client {self.stdio_client!r} is not a name in clients ({known})")
        oauth = self.gateway.http.oauth
        if oauth is not None and oauth.default_client is not None and oauth.default_client not in self.clients:
            raise ValueError(
                f"gateway.http.oauth.default_client {oauth.default_client!r} is not a name in clients ({known})"
            )
        matched = [name for name, c in self.clients.items() if c.match]
        if matched and oauth is None:
            raise ValueError(
                f"clients {', '.join(map(repr, matched))} match OAuth token claims, but gateway.http.oauth is not set"
            )
        return self

    @model_validator(mode="after")
    def _shadow_judge_known(self) -> Config:
        judge = self.routing.shadow.judge
        if judge.model is not None and judge.model not in self.models:
            raise ValueError(
                f"routing.shadow.judge.model {judge.model!r} is not a name in models ({', '.join(self.models) or 'none'})"
            )
        return self

    @field_validator("servers", "models")
    @classmethod
    def _names(cls, v: dict[str, Any]) -> dict[str, Any]:
        for name in v:
            if not NAME_RE.match(name):
                raise ValueError(f"name {name!r} may use only [A-Za-z0-9_.-]")
        return v

    @model_validator(mode="after")
    def _prefix_off_needs_one_server(self) -> Config:
        if not self.gateway.prefix_tools and len([s for s in self.servers.values() if s.enabled]) > 1:
            raise ValueError("gateway.prefix_tools: false needs exactly one enabled server")
        return self


# ---------------------------------------------------------------- loading


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    path: str
    message: str
    line: int | None = None
    file: str | None = None
    kind: Literal["error", "missing_env"] = "error"
    variable: str | None = None
    column: int | None = None

    def __str__(self) -> str:
        at = "".join(f":{n}" for n in (self.line, self.column if self.line else None) if n)
        where = f"{self.file}{at}: " if self.file else (f"line {self.line}: " if self.line else "")
        return f"{where}{self.path or '<root>'}: {self.message}"

    def sort_key(self) -> tuple[str, int, int, str]:
        """file:line:column order (issues without a line first: they are about the whole file)."""
        return self.file or "", self.line or 0, self.column or 0, self.path


def at(positions: Mapping[tuple[Any, ...], tuple[int, int]], loc: tuple[Any, ...]) -> dict[str, Any]:
    """`line=` and `column=` of `loc` (or of its nearest ancestor in the document) for a ConfigIssue."""
    line, column = position_for(positions, loc)
    return {"line": line, "column": column}


def sorted_issues(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return sorted(issues, key=ConfigIssue.sort_key)


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    issues: tuple[ConfigIssue, ...] = ()
    source: str | None = None
    # Every value that came out of an environment variable: telemetry redacts these.
    secrets: frozenset[str] = field(default_factory=frozenset)

    def missing_env_under(self, prefix: str) -> list[ConfigIssue]:
        """Missing-variable issues at or below a dotted path, e.g. `models.deep`."""
        return [
            i
            for i in self.issues
            if i.kind == "missing_env"
            and (i.path == prefix or i.path.startswith(prefix + ".") or i.path.startswith(prefix + "["))
        ]

    def config_relative(self, path: str) -> Path:
        """`path` with `~` expanded; a relative one is taken from the config file's directory."""
        p = Path(path).expanduser()
        return Path(self.source).resolve().parent / p if not p.is_absolute() and self.source else p

    def data_path(self, *parts: str) -> Path:
        base = Path(self.config.data_dir)
        if not base.is_absolute() and self.source:
            base = Path(self.source).resolve().parent / base
        return base.joinpath(*parts)


def parse_config(text: str, *, source: str | None = None, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Parse YAML text; raise ConfigError with every structural issue, keep missing env as issues."""
    environ = os.environ if environ is None else environ
    try:
        root = compose(text)
        if root is not None:
            check_expansion(root)
        # Before constructing: that folds `<<` merges into the mappings, which is no duplicate.
        doubled = duplicate_keys(root)
        raw = construct(root) if root is not None else None
    except YamlRefused as exc:
        raise ConfigError([ConfigIssue("", exc.message, exc.line, source)]) from None
    except yaml.MarkedYAMLError as exc:
        where, problem = syntax_error_at(text, exc)
        line, column = where or (None, None)
        raise ConfigError([ConfigIssue("", f"invalid YAML: {problem}", line, source, column=column)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigIssue("", f"invalid YAML: {exc}", None, source)]) from None
    except RecursionError:
        raise ConfigError([ConfigIssue("", "YAML nested too deeply to read", None, source)]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([ConfigIssue("", "the top level must be a mapping", 1, source)])
    lines = position_index(root)
    # PyYAML keeps the last of two equal keys without a word: a second `time:` server would
    # silently replace the first. Refused, with both places.
    duplicates = [
        ConfigIssue(
            format_path(p),
            f"{p[-1]!r} is written twice here (first at line {first[0]}, column {first[1]}); "
            "the second would silently replace the first",
            where[0],
            source,
            column=where[1],
        )
        for p, where, first in doubled
    ]
    models_raw = raw.get("models")
    duplicates += [
        ConfigIssue(
            format_path(("models", name)),
            f"model name {name!r} is one of the routed names "
            f"{', '.join(ROUTED_MODEL_NAMES)} (asking for it means the router's choice, not this model); rename it",
            file=source,
            **at(lines, ("models", name)),
        )
        for name in (models_raw if isinstance(models_raw, dict) else {})
        if name in ROUTED_MODEL_NAMES
    ]
    try:
        data, missing, secrets = interpolate(raw, environ)
    except RecursionError:
        raise ConfigError([ConfigIssue("", "YAML nested too deeply to read", None, source)]) from None
    # A server with a missing variable is validated as written (`${NOPE}` is a valid string where
    # None or "" is not) and is then unavailable, naming the variable (gateway.py): one server's
    # missing token must not stop the gateway serving the others.
    servers_raw = raw.get("servers")
    for name in {p[1] for p, _ in missing if len(p) > 1 and p[0] == "servers"}:
        if isinstance(servers_raw, dict) and isinstance(data.get("servers"), dict):
            data["servers"][name] = interpolate(servers_raw[name], environ, ("servers", name), keep_missing=True)[0]
    issues = [
        ConfigIssue(
            format_path(p),
            f"environment variable {name} is {'empty' if name in environ else 'not set'}",
            file=source,
            kind="missing_env",
            variable=name,
            **at(lines, p),
        )
        for p, name in missing
    ]
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-after")))
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = f"unknown key {loc[-1]!r}" + suggest(Config, loc, str(loc[-1]))
            errors.append(ConfigIssue(format_path(loc), msg, file=source, **at(lines, loc)))
        raise ConfigError(sorted_issues(errors + duplicates + issues)) from None
    if structural := duplicates + _name_issues(cfg, lines, source):
        raise ConfigError(sorted_issues(structural + issues))
    loaded = LoadedConfig(cfg, tuple(issues), source, frozenset(secrets))
    # A stdio child runs in the config file's directory unless `cwd` says otherwise (a relative
    # `cwd` is taken from there too, like `data_dir`), so relative paths in `args` mean the same
    # thing whichever directory a desktop client starts `mcproute serve` from (often `/`).
    servers = {
        name: s.model_copy(update={"cwd": str(loaded.config_relative(s.cwd or "."))}) if s.command and source else s
        for name, s in cfg.servers.items()
    }
    return replace(loaded, config=cfg.model_copy(update={"servers": servers}))


def _name_issues(
    cfg: Config, lines: Mapping[tuple[Any, ...], tuple[int, int]], source: str | None
) -> list[ConfigIssue]:
    """Tool names must say which server they came from: `<prefix><sep><tool>` is split at the first
    separator, so no prefix may contain it, and no two enabled servers may share a prefix. Otherwise
    one server could list a tool whose name is another server's (`a` listing `b__c` against server
    `a__b`'s `c`) and which one a client reached would depend on the order they were listed in.
    (Nor may a model be named like a routed name, `auto` or a tier: parse_config checks that
    before validation, as `/v1` would list it twice and asking for it would mean the tier.)"""
    if not cfg.gateway.prefix_tools:
        return []
    sep = cfg.gateway.separator
    out: list[ConfigIssue] = []
    owners: dict[str, str] = {}
    for name, server in cfg.servers.items():
        prefix = server.prefix or name
        where = ("servers", name, "prefix") if server.prefix else ("servers", name)
        if sep in prefix:
            what = f"prefix {prefix!r}" if server.prefix else f"server name {name!r}"
            out.append(
                ConfigIssue(
                    format_path(where),
                    f"{what} contains the tool-name separator {sep!r} (gateway.separator), so its "
                    "tools could not be told apart from another server's; rename it or set a prefix without it",
                    file=source,
                    **at(lines, where),
                )
            )
        elif server.enabled and prefix in owners:
            out.append(
                ConfigIssue(
                    format_path(where),
                    f"tool prefix {prefix!r} is already server {owners[prefix]!r}'s; "
                    "each server needs its own (set servers.<name>.prefix)",
                    file=source,
                    **at(lines, where),
                )
            )
        elif server.enabled:
            owners[prefix] = name
    return out


def load_config(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigIssue("", f"cannot read config: {exc.strerror}", None, str(p))]) from None
    return parse_config(text, source=str(p), environ=environ)


def config_schema() -> dict[str, Any]:
    return Config.model_json_schema()
