"""The OpenAI Responses API wire format (`POST /v1/responses`) at the edge, for the subset agent
SDKs use by default: text input (a string, or input items: messages with `input_text` /
`output_text` parts, `function_call`, `function_call_output`), function tools, `instructions`,
non-streamed and streamed replies.

mcproute talks chat completions to its providers (and Anthropic's Messages through the same
provider layer), so a Responses request is translated to chat messages + tools on the way in, and
the routed `ChatResult` back to a `response` object on the way out (its event stream, built from
provider deltas as they arrive, is responses_live.py). Nothing
is stored: `store` is always false, and `previous_response_id` / `item_reference` are refused
with a message that says to send the whole input (what agent SDKs do by default).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mcproute.openai_api.wire import ApiError, param_path
from mcproute.providers import ChatResult

_ROLES = {"user": "user", "system": "system", "developer": "system", "assistant": "assistant"}
_TEXT_PARTS = ("input_text", "output_text")
_NOT_STORED = "mcproute does not store responses; send the whole conversation in 'input' (store: false)"


class ResponsesRequest(BaseModel):
    """`POST /v1/responses`. Parameters we do not act on (`include`, `metadata`, `reasoning`,
    `text`, `truncation`, `prompt_cache_key`, ...) are accepted and ignored, as on chat completions."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    input: str | list[Any]
    instructions: str | None = None
    tools: list[Any] | str | None = None
    tool_choice: str | dict[str, Any] | None = None
    stream: bool = False
    max_output_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    parallel_tool_calls: bool | None = None
    previous_response_id: str | None = None
    conversation: Any = None
    user: str | None = Field(default=None, max_length=256)
    metadata: dict[str, Any] | None = None


def validate_request(data: dict[str, Any]) -> ResponsesRequest:
    try:
        req = ResponsesRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        # `input` and `tools` are unions: pydantic reports one error per branch; name the parameter.
        param = str(first["loc"][0]) if first["loc"][:1] in (("input",), ("tools",)) else param_path(first["loc"])
        what = "is required" if first["type"] == "missing" else f"is invalid: {first['msg']}"
        if param == "input" and first["type"] != "missing":
            what = "must be a string or a list of input items"
        raise ApiError(
            400,
            f"'{param}' {what}",
            param=param or None,
            code="missing_required_parameter" if first["type"] == "missing" else "invalid_value",
        ) from None
    if req.previous_response_id:
        raise ApiError(
            400,
            f"'previous_response_id' is not supported: {_NOT_STORED}",
            param="previous_response_id",
            code="unsupported_parameter",
        )
    if req.conversation is not None:
        raise ApiError(
            400,
            f"'conversation' is not supported: {_NOT_STORED}; name the conversation with the X-Conversation-Id header",
            param="conversation",
            code="unsupported_parameter",
        )
    if req.tools == "mcp" or req.tools is None or isinstance(req.tools, list):
        return req
    raise ApiError(
        400, "'tools' must be a list of function tools or the string \"mcp\"", param="tools", code="invalid_value"
    )


# ---------------------------------------------------------------- in: items -> chat messages


def _bad(where: str, message: str, code: str = "invalid_value") -> ApiError:
    return ApiError(400, f"{where} {message}", param=where, code=code)


def _text_of(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _bad(f"{where}.content", "must be a string or a list of content parts")
    texts = []
    for j, part in enumerate(content):
        if not isinstance(part, Mapping):
            raise _bad(f"{where}.content[{j}]", "must be an object with a 'type'")
        if part.get("type") in _TEXT_PARTS:
            if not isinstance(part.get("text"), str):
                raise _bad(f"{where}.content[{j}].text", "must be a string")
            texts.append(part["text"])
        elif part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
            texts.append(part["refusal"])
        # Images and files are not routed on and no provider here is asked to read them.
    return "\n".join(texts)


def _string(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise _bad(f"{where}.{key}", "is required (a non-empty string)", "missing_required_parameter")
    return value


def chat_messages(req: ResponsesRequest) -> list[dict[str, Any]]:
    """`instructions` + `input` as chat-completions messages. A `function_call` item joins the
    assistant message just before it (the Responses API splits one assistant turn into a message
    item and one item per call); a `function_call_output` becomes a `tool` message."""
    out: list[dict[str, Any]] = []
    if req.instructions:
        out.append({"role": "system", "content": req.instructions})
    if isinstance(req.input, str):
        return [*out, {"role": "user", "content": req.input}]
    assistant: dict[str, Any] | None = None  # the turn that function calls attach to
    asked: set[str] = set()
    for i, item in enumerate(req.input):
        where = f"input[{i}]"
        if not isinstance(item, Mapping):
            raise _bad(where, "must be an object (a message, function_call or function_call_output item)")
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            role = _ROLES.get(str(item.get("role")))
            if role is None:
                raise _bad(
                    f"{where}.role", f"must be one of user, system, developer, assistant, got {item.get('role')!r}"
                )
            message: dict[str, Any] = {"role": role, "content": _text_of(item.get("content"), where)}
            out.append(message)
            assistant = message if role == "assistant" else None
        elif kind == "function_call":
            call_id, name = _string(item, "call_id", where), _string(item, "name", where)
            arguments = item.get("arguments", "{}")
            if not isinstance(arguments, str):
                raise _bad(f"{where}.arguments", "must be a JSON string")
            if assistant is None:
                assistant = {"role": "assistant", "content": ""}
                out.append(assistant)
            assistant.setdefault("tool_calls", []).append(
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            )
            asked.add(call_id)
        elif kind == "function_call_output":
            call_id = _string(item, "call_id", where)
            if call_id not in asked:
                raise _bad(
                    f"{where}.call_id",
                    f"is {call_id!r}, but no earlier function_call item has that call_id",
                    "unknown_tool_call_id",
                )
            output = item.get("output")
            text = output if isinstance(output, str) else _text_of(output, where)
            out.append({"role": "tool", "tool_call_id": call_id, "content": text})
            assistant = None
        elif kind == "reasoning":
            continue  # opaque reasoning from another provider: nothing a chat model can take back
        elif kind == "item_reference":
            raise _bad(where, f"is an item_reference: {_NOT_STORED}", "unsupported_value")
        else:
            raise _bad(
                f"{where}.type",
                f"{kind!r} is not supported (expected message, function_call or function_call_output)",
                "unsupported_value",
            )
    return out


def chat_tools(req: ResponsesRequest) -> list[dict[str, Any]] | Literal["mcp"] | None:
    """Responses function tools (flat: `{type, name, parameters}`) as chat-completions tools."""
    if req.tool_choice == "none" or not req.tools:
        return None
    if req.tools == "mcp":
        return "mcp"
    out = []
    for i, tool in enumerate(req.tools):
        where = f"tools[{i}]"
        if not isinstance(tool, Mapping):
            raise _bad(where, "must be an object")
        if tool.get("type") != "function":
            raise _bad(
                f"{where}.type",
                f"{tool.get('type')!r} is not supported: mcproute offers function tools only "
                "(hosted tools such as web_search run at OpenAI)",
                "unsupported_value",
            )
        fn: dict[str, Any] = {
            "name": _string(tool, "name", where),
            "description": tool.get("description") or "",
            "parameters": tool.get("parameters") or {"type": "object", "properties": {}},
        }
        if tool.get("strict") is not None:
            fn["strict"] = bool(tool["strict"])
        out.append({"type": "function", "function": fn})
    return out


# ---------------------------------------------------------------- out: ChatResult -> response


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def output_items(chat: ChatResult) -> list[dict[str, Any]]:
    """A message item (when there is text, or nothing else), then one function_call per call."""
    items: list[dict[str, Any]] = []
    if chat.response.text or not chat.response.tool_calls:
        part = {"type": "output_text", "text": chat.response.text, "annotations": [], "logprobs": []}
        items.append(
            {"id": new_id("msg"), "type": "message", "status": "completed", "role": "assistant", "content": [part]}
        )
    for call in chat.response.tool_calls:
        items.append(
            {
                "id": new_id("fc"),
                "type": "function_call",
                "status": "completed",
                "call_id": call.id,
                "name": call.name,
                "arguments": json.dumps(dict(call.arguments)),
            }
        )
    return items


def _usage(chat: ChatResult) -> dict[str, Any]:
    u = chat.response.usage
    # cache_write_tokens: the provider layer does not count cache writes (0 = none reported).
    return {
        "input_tokens": u.input,
        "input_tokens_details": {"cached_tokens": u.cached_input, "cache_write_tokens": 0},
        "output_tokens": u.output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": u.input + u.output,
    }


def _echo_tools(req: ResponsesRequest) -> list[dict[str, Any]]:
    if not isinstance(req.tools, list):
        return []
    return [
        {
            "type": "function",
            "name": t.get("name"),
            "description": t.get("description"),
            "parameters": t.get("parameters"),
            "strict": t.get("strict"),
        }
        for t in req.tools
        if isinstance(t, Mapping)
    ]


def response_object(
    req: ResponsesRequest,
    response_id: str,
    created: int,
    *,
    chat: ChatResult | None = None,
    output: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A `response` object: in progress (no `chat` yet) or finished. `model` is the logical model
    that actually answered, as on chat completions."""
    truncated = chat is not None and chat.response.stop_reason in ("max_tokens", "length")
    status = "in_progress" if chat is None else ("incomplete" if truncated else "completed")
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if truncated else None,
        "instructions": req.instructions,
        "max_output_tokens": req.max_output_tokens,
        "model": chat.model if chat is not None else req.model,
        "output": output or [],
        "parallel_tool_calls": True if req.parallel_tool_calls is None else req.parallel_tool_calls,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": req.temperature,
        "text": {"format": {"type": "text"}},
        "tool_choice": req.tool_choice if req.tool_choice is not None else "auto",
        "tools": _echo_tools(req),
        "top_p": req.top_p,
        "truncation": "disabled",
        "usage": _usage(chat) if chat is not None else None,
        "user": req.user,
        "metadata": req.metadata or {},
    }
