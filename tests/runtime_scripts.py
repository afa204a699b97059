"""Scripted models for the runtime tests (`script: "runtime_scripts:fast"` / `:deep`).

They read the step the way a model would — the tools offered and the last user message — and
obey markers in the text so a test can steer them:
  [text]   answer in words, no tool call (ends a tool loop)
  [bad]    the FAST model calls the first offered tool with arguments that fail its schema
  [ghost]  the FAST model calls a tool that does not exist
  [ghost!] every model calls a tool that does not exist
  [second] the model calls the second offered tool (click-through learning: not the router's first)
  [heed]   the model answers in words when the gateway's system message says no tool fits
Otherwise the model calls the first offered tool with arguments filled from its schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcproute.providers import ChatRequest
from mcproute.runtime.steps import NO_TOOL_NOTE

_SAMPLES = {"timezone": "UTC", "source_timezone": "UTC", "target_timezone": "Europe/Paris", "time": "12:00"}


def _args(schema: Mapping[str, Any]) -> dict[str, Any]:
    props = schema.get("properties") or {}
    out: dict[str, Any] = {}
    for name in schema.get("required") or []:
        kind = (props.get(name) or {}).get("type")
        if name in _SAMPLES:
            out[name] = _SAMPLES[name]
        elif kind == "integer" or kind == "number":
            out[name] = 1
        elif kind == "boolean":
            out[name] = True
        else:
            out[name] = "hello"
    return out


def _last_user(request: ChatRequest) -> str:
    return next((m.content for m in reversed(request.messages) if m.role == "user"), "")


def _reply(request: ChatRequest, fast: bool) -> Any:
    text = _last_user(request)
    usage = {"input": 100, "output": 10}
    told_none = any(m.role == "system" and NO_TOOL_NOTE in m.content for m in request.messages)
    if "[text]" in text or not request.tools or ("[heed]" in text and told_none):
        return {"text": f"done: {text[:40]}", "usage": usage}
    if "[ghost!]" in text or (fast and "[ghost]" in text):
        return {"tool_calls": [{"name": "nowhere__nothing", "arguments": {}}], "usage": usage}
    tool = request.tools[1] if "[second]" in text and len(request.tools) > 1 else request.tools[0]
    if fast and "[bad]" in text:
        # A wrong type for every required property (or an unexpected one when none is required).
        required = list(tool.input_schema.get("required") or [])
        bad = {name: 12345 for name in required} or {"unexpected": {"nested": True}}
        return {"tool_calls": [{"name": tool.name, "arguments": bad}], "usage": usage}
    return {"tool_calls": [{"name": tool.name, "arguments": _args(tool.input_schema)}], "usage": usage}


def fast(request: ChatRequest, index: int) -> Any:
    return _reply(request, fast=True)


def deep(request: ChatRequest, index: int) -> Any:
    return _reply(request, fast=False)
