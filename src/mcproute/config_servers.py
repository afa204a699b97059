"""`servers.<name>`: one downstream MCP server, its tool filter and its pinning policy."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from mcproute._config_model import ENV_NAME_RE, ConfigModel as _Model


class ToolFilter(_Model):
    allow: list[str] = Field(default_factory=list, description="glob patterns; empty = all")
    deny: list[str] = Field(default_factory=list, description="glob patterns applied after allow")
    examples: dict[str, list[str]] = Field(
        default_factory=dict,
        description="requests in your users' words that should pick a tool, by the tool's name as the server lists it "
        "(e.g. git_log: [what changed this week]); their meaning is blended into the tool's sentence vector, so "
        "requests phrased like them find it (docs/routing-tools.md, 'Teaching it your tools')",
    )
    shipped_examples: bool = Field(
        default=True,
        description="when this server is an official reference server (mcp-server-git, mcp-server-time, "
        "mcp-server-fetch, @modelcontextprotocol/server-memory or server-filesystem, named by its command or "
        "arguments), use mcproute's shipped examples for each of its tools you gave none for; with them, the "
        "examples of its tools you withhold and of the reference servers you do not run teach requests that "
        "need no tool here",
    )

    @field_validator("examples")
    @classmethod
    def _examples(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for tool, texts in v.items():
            if not tool.strip():
                raise ValueError("an example's tool name is empty")
            for i, text in enumerate(texts):
                if not text.strip():
                    raise ValueError(f"example {i} of {tool!r} is empty")
        return v


class PinsConfig(_Model):
    """What happens when a downstream changes a tool's pinned definition (docs/security.md)."""

    policy: Literal["block", "warn", "accept"] = Field(
        default="block",
        description="block: withhold the changed tool (not listed; a call names the change) until `mcproute pins approve`; "
        "warn: serve the new definition, log it and keep it pending; accept: re-pin it silently (still a span event)",
    )


class ServerConfig(_Model):
    """One downstream MCP server: exactly one of `command`, `url` or `urls`."""

    transport: Literal["stdio", "http", "sse"] | None = Field(
        default=None,
        description="how to connect: 'stdio' (needs command), 'http' (streamable HTTP, needs url/urls) or 'sse' (the "
        "legacy HTTP+SSE transport: url is the event-stream endpoint, e.g. .../sse); default: stdio with command, "
        "otherwise streamable HTTP, switching to SSE when the server refuses the POST with 404/405 and answers a GET "
        "with an event stream",
    )

    command: str | None = Field(
        default=None,
        description="program that starts a stdio server (looked up on PATH; `mcproute check` "
        "says when it is not found)",
    )
    args: list[str] = Field(
        default_factory=list,
        description="arguments of `command`; `${VAR}` is replaced from the environment, and "
        "the child runs in `cwd`, so relative paths here start from the config file's directory by default",
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="variables set for a stdio child, over its minimal environment"
    )
    inherit_env: list[str] = Field(
        default_factory=list,
        description="names of the gateway's environment variables a stdio child may see (it gets only HOME, LOGNAME, "
        "PATH, SHELL, TERM, USER otherwise); a name that is not set is simply absent",
    )
    cwd: str | None = Field(
        default=None,
        description="working directory of a stdio child (relative paths in its args start here); "
        "default and base of a relative one: the config file's directory",
    )
    url: str | None = Field(
        default=None,
        description="endpoint of an HTTP server (streamable HTTP, e.g. http://host:port/mcp, or the "
        "legacy SSE stream with transport: sse)",
    )
    urls: list[str] | None = Field(default=None, description="replicas of one HTTP server")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="HTTP headers sent with every request to an HTTP server, e.g. "
        "Authorization: Bearer ${TOKEN}; a missing variable makes only this server unavailable",
    )
    enabled: bool = Field(
        default=True, description="false: the server is not started and its tools are not listed (status: disabled)"
    )
    timeout: float = Field(default=30.0, gt=0, description="per-call timeout, seconds")
    startup_timeout: float = Field(
        default=30.0,
        gt=0,
        description="seconds to connect, initialise and list tools; past it the "
        "server is unhealthy and retried with backoff",
    )
    tools: ToolFilter = Field(
        default_factory=ToolFilter, description="which of the server's tools the gateway lists and lets clients call"
    )
    prefix: str | None = Field(default=None, description="namespace prefix; default: the server's name")
    pins: PinsConfig = Field(
        default_factory=PinsConfig,
        description="tool-definition pinning: each tool's definition is trusted "
        "on first sight; what a later change does",
    )
    mode: Literal["auto", "legacy"] = Field(
        default="auto",
        description="protocol era: 'auto' lets the SDK client pick the newest the server "
        "speaks; 'legacy' forces the handshake era (an initialize exchange first)",
    )

    @model_validator(mode="after")
    def _one_transport(self) -> ServerConfig:
        given = [k for k in ("command", "url", "urls") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'command', 'url' or 'urls'" + (f" (got {', '.join(given)})" if given else "")
            )
        if self.transport == "stdio" and not self.command:
            raise ValueError("transport 'stdio' needs 'command' (got a url)")
        if self.transport in ("http", "sse") and self.command:
            raise ValueError(f"transport {self.transport!r} needs 'url' or 'urls' (got 'command')")
        return self

    @field_validator("inherit_env")
    @classmethod
    def _env_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not ENV_NAME_RE.match(name):
                raise ValueError(f"{name!r} is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
        return v

    @property
    def kind(self) -> Literal["stdio", "http", "sse"]:
        """The transport in force: the configured one, else what `command`/`url` imply."""
        return self.transport or ("stdio" if self.command else "http")

    @property
    def replica_urls(self) -> list[str]:
        return list(self.urls or ([self.url] if self.url else []))
