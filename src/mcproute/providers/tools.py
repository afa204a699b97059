"""MCP tool schemas to provider tool formats and back, and checking a model's tool calls.

Provider function names are restricted (OpenAI and Anthropic both accept `^[A-Za-z0-9_-]{1,64}$`)
while a namespaced MCP tool may be `git.log` or be longer than 64 characters. `ToolNames` maps
each MCP name to a safe, deterministic wire name and maps the model's calls back, so a tool
call always comes back under the catalogue's own name. A name the model invented passes
through unchanged, and `validate_tool_calls` reports it as `ModelCalledUnknownTool`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

from mcproute.errors import ModelCalledUnknownTool, ModelToolArgumentsInvalid
from mcproute.providers.base import ChatResponse, ToolCall, ToolDef

_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_MAX_PROBLEMS = 5


class ToolNames:
    """Bidirectional MCP name <-> wire name mapping for one request."""

    def __init__(self, tools: Iterable[ToolDef]) -> None:
        self.to_wire: dict[str, str] = {}
        self.from_wire: dict[str, str] = {}
        for tool in tools:
            wire = tool.name if _SAFE.match(tool.name) else _safe_name(tool.name)
            while wire in self.from_wire and self.from_wire[wire] != tool.name:
                wire = _safe_name(wire + "~")
            self.to_wire[tool.name] = wire
            self.from_wire[wire] = tool.name

    def wire(self, name: str) -> str:
        return self.to_wire.get(name, name)

    def mcp(self, wire_name: str) -> str:
        return self.from_wire.get(wire_name, wire_name)


def _safe_name(name: str) -> str:
    cleaned = _UNSAFE_CHARS.sub("_", name)
    if _SAFE.match(cleaned) and cleaned == name:
        return cleaned
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{cleaned[:55]}_{digest}"


def object_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Both providers require a top-level object schema; MCP guarantees one but be lenient."""
    out = dict(schema) if schema else {}
    out.setdefault("type", "object")
    if out.get("type") == "object":
        out.setdefault("properties", {})
    return out


def to_openai_tools(tools: Sequence[ToolDef], names: ToolNames) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": names.wire(t.name),
                "description": t.description,
                "parameters": object_schema(t.input_schema),
            },
        }
        for t in tools
    ]


def to_anthropic_tools(tools: Sequence[ToolDef], names: ToolNames) -> list[dict[str, Any]]:
    return [
        {"name": names.wire(t.name), "description": t.description, "input_schema": object_schema(t.input_schema)}
        for t in tools
    ]


def from_openai_tools(tools: Sequence[Mapping[str, Any]]) -> list[ToolDef]:
    """Provider format back to MCP tools (used to import tools written for a provider)."""
    out = []
    for t in tools:
        fn = t.get("function", t)
        out.append(ToolDef(fn["name"], fn.get("description", ""), dict(fn.get("parameters") or {"type": "object"})))
    return out


def from_anthropic_tools(tools: Sequence[Mapping[str, Any]]) -> list[ToolDef]:
    return [
        ToolDef(t["name"], t.get("description", ""), dict(t.get("input_schema") or {"type": "object"})) for t in tools
    ]


def validate_tool_calls(response: ChatResponse, tools: Iterable[ToolDef | Mapping[str, Any] | Any]) -> ChatResponse:
    """Raise `ModelCalledUnknownTool` / `ModelToolArgumentsInvalid` for the first bad call.

    The router's cascade escalates on these (a fast model that cannot call tools properly is a
    signal to step up), so they are deliberately not `ProviderError`s: the provider worked.
    """
    by_name = {t.name: t for t in (ToolDef.from_mcp(x) for x in tools)}
    for call in response.tool_calls:
        tool = by_name.get(call.name)
        if tool is None:
            raise ModelCalledUnknownTool(call.name)
        problems = argument_problems(call, tool)
        if problems:
            raise ModelToolArgumentsInvalid(call.name, problems)
    return response


def argument_problems(call: ToolCall, tool: ToolDef) -> list[str]:
    if call.arguments_error is not None:
        return [call.arguments_error]
    schema = dict(tool.input_schema or {})
    try:
        key = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        validator = _compile(schema)  # not JSON (a caller's own objects): checked every time
    else:
        validator = _compiled(key)
    if validator is None:
        # The tool's own schema is broken: that is the tool server's bug, not the model's.
        return []
    errors = sorted(validator.iter_errors(dict(call.arguments)), key=lambda e: list(e.absolute_path))
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<arguments>'}: {e.message[:200]}"
        for e in errors[:_MAX_PROBLEMS]
    ]


def _compile(schema: dict[str, Any]) -> Any:
    """A validator for `schema`, or None when the schema itself is invalid."""
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError:
        return None
    return cls(schema)


@lru_cache(maxsize=2048)
def _compiled(schema_json: str) -> Any:
    # Checking a schema against its metaschema costs ~0.5 ms of CPU, on every step that validates
    # a model's call; the catalogue's schemas rarely change, so each distinct one (by canonical
    # JSON, so equal schemas from different objects share it) is checked and compiled once.
    return _compile(json.loads(schema_json))
