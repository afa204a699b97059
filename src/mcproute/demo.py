"""Scripted "models" for offline demos (`script: "mcproute.demo:fast"` / `"mcproute.demo:deep"`).

No inference happens here: these functions read a request the way a tool-using model would and
answer predictably, so `examples/agents/offline.yaml` works on a machine with no API keys and the
demos still show real routing, real tool calls against real MCP servers, and real traces.

- The last message is a tool result -> a short final answer quoting it (ends the tool loop).
- The gateway wrote the system message (a `run_step` whose client sent none): the tools come ranked
  by its router, and the stand-in trusts it, as a capable model mostly would -> a call to the first
  offered tool, or a short text answer when the router found no tool that fits
  (`runtime.steps.NO_TOOL_NOTE`).
- Otherwise (the client's own messages and tools): tools are offered and one of them is about the
  request (they share a word, and it speaks of the operation the request opens with if that is a
  named one such as "push") -> a call to the best-ranked such tool.
- Either way, the call's arguments satisfy the tool's input schema: timezones, times, paths and
  revisions are read from the request text when it names them, otherwise sensible defaults.
- Otherwise -> a short text answer.

The two functions differ only in how they sign their answers, so a demo shows which tier replied.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from mcproute.providers import ChatRequest, Message, ToolDef
from mcproute.router.retrieval_commands import operation
from mcproute.router.retrieval_text import tokens
from mcproute.runtime.steps import NO_TOOL_NOTE, STEP_SYSTEM

CITIES = {
    "tokyo": "Asia/Tokyo",
    "london": "Europe/London",
    "paris": "Europe/Paris",
    "berlin": "Europe/Berlin",
    "new york": "America/New_York",
    "san francisco": "America/Los_Angeles",
    "los angeles": "America/Los_Angeles",
    "sydney": "Australia/Sydney",
    "singapore": "Asia/Singapore",
    "utc": "UTC",
}
_IANA = re.compile(r"\b[A-Z][a-z]+/[A-Z][A-Za-z_]+\b")
_TIME = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b")
_PATH = re.compile(r"(?<![\w.])(/[\w.@+-]+(?:/[\w.@+-]+)*)")
_WORD = re.compile(r"[a-z]{3,}")
_STOP = {
    "the",
    "and",
    "for",
    "you",
    "are",
    "its",
    "can",
    "not",
    "now",
    "what",
    "with",
    "from",
    "that",
    "this",
    "into",
    "your",
    "have",
    "show",
    "tell",
    "about",
    "then",
    "there",
    "please",
    "current",
    "specific",
    "using",
    "given",
    "return",
    "need",
    "get",
}


def _words(text: str) -> set[str]:
    # A crude stem (plural s, first five letters) is enough to tell "log" from "timezone".
    words = (w[:-1] if w.endswith("s") and len(w) > 3 else w for w in _WORD.findall(text.lower()))
    return {w[:5] for w in words if w not in _STOP}


def timezones(text: str) -> list[str]:
    """Timezones named in the text, in the order they appear (IANA names or known cities)."""
    found: list[tuple[int, str]] = [(m.start(), m.group(0)) for m in _IANA.finditer(text)]
    lower = text.lower()
    for city, tz in CITIES.items():
        for m in re.finditer(rf"\b{re.escape(city)}\b", lower):
            found.append((m.start(), tz))
    out: list[str] = []
    for _, tz in sorted(found):
        if tz not in out:
            out.append(tz)
    return out


def _value(name: str, prop: Mapping[str, Any], text: str) -> Any:
    tzs = timezones(text) or ["UTC"]
    if "enum" in prop and prop["enum"]:
        return prop["enum"][0]
    if name in ("timezone", "source_timezone"):
        return tzs[0]
    if name == "target_timezone":
        return tzs[1] if len(tzs) > 1 else "UTC"
    if name == "time":
        m = _TIME.search(text)
        return f"{int(m.group(1)):02d}:{m.group(2)}" if m else "09:00"
    if name in ("repo_path", "path", "directory"):
        paths = [p for p in _PATH.findall(text) if os.path.isdir(p)]
        # "." is the server's own working directory (servers.yaml `cwd`), which is where the
        # config points it; the gateway's directory is wherever the client happened to start it.
        return paths[0] if paths else "."
    if name in ("target", "revision", "base_branch"):
        return "HEAD"
    kind = prop.get("type")
    if kind == "integer" or kind == "number":
        return max(int(prop.get("minimum", 1)), min(5, int(prop.get("maximum", 5))))
    if kind == "boolean":
        return False
    if kind == "array":
        items = prop.get("items") or {}
        if items.get("type") in ("object", "string") and name not in ("paths", "files"):
            return [_value(name, items, text)]  # one entity, one observation, ...
        return ["."] * int(prop.get("minItems", 0))
    if kind == "object":
        return {
            key: _value(key, (prop.get("properties") or {}).get(key) or {}, text) for key in prop.get("required") or []
        }
    return text[:60] or name


def arguments(tool: ToolDef, text: str) -> dict[str, Any]:
    """Arguments for every required property of `tool`'s input schema, read from `text` where possible."""
    schema = tool.input_schema
    props = schema.get("properties") or {}
    return {name: _value(name, props.get(name) or {}, text) for name in schema.get("required") or []}


def _relevant(tool: ToolDef, text: str) -> bool:
    about = _words(tool.name.replace("_", " ") + " " + tool.description)
    if not about & _words(text):
        return False
    # "git push my branch to origin": a named operation only a tool that speaks of it can do (as
    # the router reads it: router/retrieval_commands.operation), whatever other word they share
    named = operation(text)
    return named is None or bool(named[1] & set(tokens(tool.name + " " + tool.description)))


def _last_user(messages: tuple[Message, ...]) -> str:
    return next((m.content for m in reversed(messages) if m.role == "user"), "")


def _usage(request: ChatRequest, reply: str) -> dict[str, int]:
    prompt = sum(len(m.content) for m in request.messages) + sum(len(t.description) for t in request.tools)
    return {"input": max(1, prompt // 4), "output": max(1, len(reply) // 4)}


def reply(request: ChatRequest, signature: str) -> dict[str, Any]:
    last = request.messages[-1] if request.messages else Message("user", "")
    if last.role == "tool":
        text = " ".join(last.content.split())[:240]
        answer = f"{signature}: the tool answered: {text}"
        return {"text": answer, "usage": _usage(request, answer)}
    question = _last_user(request.messages)
    system = " ".join(m.content for m in request.messages if m.role == "system")
    if NO_TOOL_NOTE in system:
        tool = None
    elif STEP_SYSTEM in system and request.tools:
        tool = request.tools[0]  # the router's pick: it ranks the tools it offers best first
    else:
        tool = next((t for t in request.tools if _relevant(t, question)), None)
    if tool is not None:
        args = arguments(tool, question)
        return {"tool_calls": [{"name": tool.name, "arguments": args}], "usage": _usage(request, str(args))}
    answer = f"{signature}: {' '.join(question.split())[:160]}" if question else f"{signature}: nothing to do."
    return {"text": answer, "usage": _usage(request, answer)}


def fast(request: ChatRequest, index: int) -> dict[str, Any]:
    return reply(request, "fast model")


def deep(request: ChatRequest, index: int) -> dict[str, Any]:
    return reply(request, "reasoning model")
