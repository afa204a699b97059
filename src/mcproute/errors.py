"""One exception tree for the whole gateway.

    McprouteError                      base; never raised directly
    ├── ConfigError                    servers.yaml is wrong (carries every ConfigIssue)
    ├── InvalidRequest                 the caller sent something we refuse (client's fault)
    │   ├── UnknownTool                no such tool in the catalogue
    │   │   └── ToolWithheld           its definition changed since it was pinned; awaiting approval
    │   ├── ToolArgumentsInvalid       arguments fail the tool's input schema
    │   ├── InvalidConversationId      conversation id too long / bad characters
    │   └── UnknownStep                feedback for a step id we never issued
    ├── UpstreamUnavailable            a backend is down: never the client's fault
    │   ├── DownstreamUnavailable      an MCP server is unhealthy / died mid-call
    │   ├── DownstreamTimeout          an MCP server did not answer within its timeout
    │   └── ProviderUnavailable        every deployment/model for a step failed
    │       └── StreamInterrupted      a provider failed after a streamed reply began
    ├── ProviderError                  one model-provider attempt failed (typed by cause)
    │   ├── RateLimited                429 (carries retry_after)
    │   ├── ProviderServerError        5xx / 529 overloaded
    │   ├── ProviderTimeout            no answer before the deadline
    │   ├── ProviderConnectionError    connect failure / reset
    │   ├── ProviderProtocolError      malformed JSON, wrong content type, unexpected shape
    │   └── ProviderRequestRejected    other 4xx (bad key 401/403, 400 bad request, 404 model)
    ├── ModelToolCallError             a model's reply called a tool badly (cascade escalates)
    │   ├── ModelCalledUnknownTool
    │   └── ModelToolArgumentsInvalid
    ├── ClientLimitExceeded            a client is over its rate limit or daily budget (429)
    ├── StateError                     the conversation store failed (corrupt/locked file)
    └── DataFileError                  an evaluation data file has a malformed line

"Upstream unavailable" is deliberately a different branch from "invalid request" so that a
client is never blamed for a backend outage (agentgateway does the same).
"""

from __future__ import annotations

from collections.abc import Sequence


class McprouteError(Exception):
    """Base of every error mcproute raises on purpose."""


class ConfigError(McprouteError):
    # Sequence, not list: callers pass list[ConfigIssue] or list[str] (lists are invariant).
    def __init__(self, issues: Sequence[object]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in issues) or "invalid configuration")


class InvalidRequest(McprouteError):
    """The caller's request is wrong; retrying it unchanged will fail again."""


class UnknownTool(InvalidRequest):
    def __init__(self, name: str, hint: str = "") -> None:
        self.name = name
        super().__init__(f"unknown tool {name!r}" + (f"; {hint}" if hint else ""))


class ToolWithheld(UnknownTool):
    """A pinned tool whose downstream changed its definition: not listed, not callable, until a
    person approves the change (`mcproute pins approve`). An `UnknownTool`, so every entry point
    answers it as it answers an unknown tool, with this message."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        InvalidRequest.__init__(self, message)


class ToolArgumentsInvalid(InvalidRequest):
    def __init__(self, tool: str, problems: list[str]) -> None:
        self.tool = tool
        self.problems = problems
        super().__init__(f"arguments for {tool!r} fail its input schema: " + "; ".join(problems))


class InvalidConversationId(InvalidRequest):
    pass


class UnknownStep(InvalidRequest):
    pass


class UpstreamUnavailable(McprouteError):
    """A backend could not serve the request; the client did nothing wrong."""


class DownstreamUnavailable(UpstreamUnavailable):
    pass


class DownstreamTimeout(UpstreamUnavailable):
    pass


class ProviderUnavailable(UpstreamUnavailable):
    def __init__(self, message: str, attempts: list[object] | None = None) -> None:
        self.attempts = attempts or []
        super().__init__(message)


class StreamInterrupted(ProviderUnavailable):
    """The provider failed after the first chunk of a streamed reply reached the client: the
    reply cannot be retried or moved to another deployment, so the stream ends with an error."""


class ProviderError(McprouteError):
    """One attempt against one deployment failed; the reliability layer decides what next."""

    error_type = "provider_error"


class RateLimited(ProviderError):
    error_type = "rate_limited"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class ProviderServerError(ProviderError):
    error_type = "server_error"

    def __init__(self, message: str, status: int = 500) -> None:
        self.status = status
        super().__init__(message)


class ProviderTimeout(ProviderError):
    error_type = "timeout"


class ProviderConnectionError(ProviderError):
    error_type = "connection_error"


class ProviderProtocolError(ProviderError):
    error_type = "protocol_error"


class ProviderRequestRejected(ProviderError):
    error_type = "request_rejected"

    def __init__(self, message: str, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


class ModelToolCallError(McprouteError):
    """The model answered, but its tool call cannot be executed as asked."""

    def __init__(self, tool: str, message: str) -> None:
        self.tool = tool
        super().__init__(message)


class ModelCalledUnknownTool(ModelToolCallError):
    def __init__(self, tool: str) -> None:
        super().__init__(tool, f"model called unknown tool {tool!r}")


class ModelToolArgumentsInvalid(ModelToolCallError):
    def __init__(self, tool: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(tool, f"model's arguments for {tool!r} fail its schema: " + "; ".join(problems))


class StateError(McprouteError):
    pass


class DataFileError(McprouteError):
    def __init__(self, path: str, line: int, message: str) -> None:
        self.path = path
        self.line = line
        super().__init__(f"{path}:{line}: {message}")


class ClientLimitExceeded(McprouteError):
    """A client is over one of its limits (`clients.<name>.limits`): HTTP 429 with Retry-After,
    or a JSON-RPC error carrying the same figures. Its own branch: neither a malformed request
    nor a backend outage."""

    def __init__(self, client: str, limit: str, retry_after: int, detail: str) -> None:
        self.client = client
        self.limit = limit
        self.retry_after = retry_after
        super().__init__(f"client {client!r} is over its {limit} ({detail}); retry after {retry_after} s")
