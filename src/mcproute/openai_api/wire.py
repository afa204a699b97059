"""The OpenAI chat-completions wire format at the edge: the request we accept, the bodies we send.

The request model is deliberately permissive about parameters we do not act on (`extra="allow"`):
agent loops send `seed`, `logprobs`, `parallel_tool_calls`, ... and refusing them would break the
drop-in promise. What we do act on is validated, and a refusal names the parameter (`param`), as
OpenAI's own errors do.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mcproute.gateway.limits import JsonLimits
from mcproute.providers import ChatResult
from mcproute.router.step import Decision

AUTO = "auto"
TIERS = ("reasoning", "fast")


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """`POST /v1/chat/completions`. `tools: "mcp"` is mcproute's extension: the catalogue's top-k."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    messages: list[dict[str, Any]]
    tools: Literal["mcp"] | list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    n: int | None = Field(default=None, ge=1)
    user: str | None = Field(default=None, max_length=256)


class ApiError(Exception):
    """An OpenAI-shaped refusal: `{"error": {"message", "type", "param", "code"}}` with `status`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return error_body(self.message, type=self.type, param=self.param, code=self.code)


def error_body(
    message: str, *, type: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def load_object(raw: bytes, bounds: JsonLimits | None = None) -> dict[str, Any]:
    """Bytes to a JSON object, or an ApiError(400) saying what is wrong with the body.

    The body's nesting is checked before it is parsed (`gateway.max_json_depth`): a 5,000-deep
    body was a `RecursionError` and a 500 (issue 14, item 11)."""
    problem = (bounds or JsonLimits()).check_bytes(raw)
    if problem is not None:
        raise ApiError(400, f"the request body is refused: {problem}", code="json_too_deep")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}", code="invalid_json") from None
    except RecursionError:  # only with a depth limit above the interpreter's; never a 500
        raise ApiError(400, "the request body is nested too deeply to parse", code="json_too_deep") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"the request body must be a JSON object, got {type(data).__name__}", code="invalid_json")
    return data


def param_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """A pydantic error location as OpenAI spells `param`: `messages[2].role`."""
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")


def parse_request(raw: bytes, bounds: JsonLimits | None = None) -> ChatCompletionRequest:
    """Bytes to a validated request, or an ApiError(400) naming the first bad parameter."""
    data = load_object(raw, bounds)
    try:
        return ChatCompletionRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = param_path(first["loc"])
        # A union (tools) reports one error per branch; name the parameter and what it accepts.
        if param.startswith("tools"):
            raise ApiError(
                400,
                "'tools' must be a list of OpenAI tool definitions or the string \"mcp\"",
                param="tools",
                code="invalid_value",
            ) from None
        what = "is required" if first["type"] == "missing" else f"is invalid: {first['msg']}"
        raise ApiError(
            400,
            f"'{param}' {what}",
            param=param or None,
            code="missing_required_parameter" if first["type"] == "missing" else "invalid_value",
        ) from None


def new_completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


def finish_reason(chat: ChatResult) -> str:
    if chat.response.tool_calls:
        return "tool_calls"
    if chat.response.stop_reason in ("max_tokens", "length"):
        return "length"
    return "stop"


def tool_calls(chat: ChatResult) -> list[dict[str, Any]]:
    return [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(dict(c.arguments))}}
        for c in chat.response.tool_calls
    ]


def usage(chat: ChatResult) -> dict[str, Any]:
    u = chat.response.usage
    return {
        "prompt_tokens": u.input,
        "completion_tokens": u.output,
        "total_tokens": u.input + u.output,
        "prompt_tokens_details": {"cached_tokens": u.cached_input},
    }


def completion_body(
    chat: ChatResult, decision: Decision, completion_id: str, created: int | None = None
) -> dict[str, Any]:
    """A `chat.completion` object; `model` is the logical model that actually answered."""
    calls = tool_calls(chat)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": chat.response.text or (None if calls else ""),
        "refusal": None,
    }
    if calls:
        message["tool_calls"] = calls
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": chat.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(chat), "logprobs": None}],
        "usage": usage(chat),
        "system_fingerprint": decision.policy_version or None,
    }


def model_list(models: Mapping[str, Any]) -> dict[str, Any]:
    """`GET /v1/models`: the routed names first, then every configured logical model."""
    rows = [
        {
            "id": AUTO,
            "object": "model",
            "created": 0,
            "owned_by": "mcproute",
            "mcproute": {"kind": "router", "description": "a routing decision per request (tier and model)"},
        }
    ]
    rows += [
        {
            "id": t,
            "object": "model",
            "created": 0,
            "owned_by": "mcproute",
            "mcproute": {"kind": "tier", "description": f"the cheapest adequate {t} model, sticky per conversation"},
        }
        for t in TIERS
    ]
    rows += [
        {
            "id": name,
            "object": "model",
            "created": 0,
            "owned_by": str(getattr(m, "provider", "mcproute")),
            "mcproute": {"kind": "model", "tier": getattr(m, "tier", None)},
        }
        for name, m in models.items()
    ]
    return {"object": "list", "data": rows}
