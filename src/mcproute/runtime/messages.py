"""Chat messages and tools from the wire (OpenAI chat-completions or MCP shapes) to provider types."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from mcproute.errors import InvalidRequest
from mcproute.providers import Message, ToolCall, ToolDef

_ROLES = ("system", "user", "assistant", "tool")


def _content_text(content: Any, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        # OpenAI content parts: keep the text ones (images are not routed on).
        return "\n".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, Mapping) and p.get("type") in ("text", "input_text")
        )
    raise InvalidRequest(f"{where}.content must be a string or a list of content parts, got {type(content).__name__}")


def to_message(m: Message | Mapping[str, Any], where: str = "messages[?]") -> Message:
    if isinstance(m, Message):
        return m
    if not isinstance(m, Mapping):
        raise InvalidRequest(f"{where} must be an object with a 'role', got {type(m).__name__}")
    role = m.get("role")
    if role == "developer":  # OpenAI's newer name for system
        role = "system"
    if role not in _ROLES:
        raise InvalidRequest(f"{where}.role must be one of {', '.join(_ROLES)}, got {role!r}")
    calls = []
    for i, c in enumerate(m.get("tool_calls") or []):
        if not isinstance(c, Mapping):
            raise InvalidRequest(f"{where}.tool_calls[{i}] must be an object")
        inner = c.get("function")
        fn = inner if isinstance(inner, Mapping) else c
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest(f"{where}.tool_calls[{i}] needs a function name")
        raw = fn.get("arguments", {})
        error = None
        if isinstance(raw, str):
            try:
                raw = json.loads(raw or "{}")
            except ValueError as exc:
                raw, error = {}, f"arguments are not valid JSON: {exc}"
        if not isinstance(raw, Mapping):
            raw, error = {}, "arguments are not a JSON object"
        calls.append(ToolCall(str(c.get("id") or f"call_{i}"), name, dict(raw), error))
    return Message(
        role,
        _content_text(m.get("content"), where),
        tuple(calls),
        tool_call_id=m.get("tool_call_id") if isinstance(m.get("tool_call_id"), str) else None,
    )


def to_messages(messages: Sequence[Message | Mapping[str, Any]]) -> list[Message]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidRequest("messages must be a list of {role, content} objects")
    return [to_message(m, f"messages[{i}]") for i, m in enumerate(messages)]


def step_text(messages: Sequence[Message]) -> str:
    """What a chat request's step is about: the latest user message.

    A tool result is data for the model to read, not the user's intent: routing on it let a long
    `git log` output score as "needs reasoning" and escalate a conversation mid-loop. A request
    that carries only tool messages (no user text at all) is routed on the newest of those.
    """
    for role in ("user", "tool"):
        for m in reversed(messages):
            if m.role == role and m.content.strip():
                return m.content
    return ""


def to_tool_defs(tools: Sequence[ToolDef | Mapping[str, Any] | Any]) -> list[ToolDef]:
    """MCP tool dicts (`inputSchema`), OpenAI tools (`{"type": "function", "function": ...}`) or ToolDefs."""
    out = []
    for i, t in enumerate(tools):
        if isinstance(t, Mapping) and isinstance(t.get("function"), Mapping):
            fn = t["function"]
            if not isinstance(fn.get("name"), str):
                raise InvalidRequest(f"tools[{i}].function needs a name")
            out.append(
                ToolDef(fn["name"], str(fn.get("description") or ""), dict(fn.get("parameters") or {"type": "object"}))
            )
            continue
        try:
            out.append(ToolDef.from_mcp(t))
        except (KeyError, AttributeError, TypeError) as exc:
            raise InvalidRequest(f"tools[{i}] is not a tool definition: {exc}") from None
    return out
