"""The `scripted` provider: replies come from a script, never from a model. For tests and
offline demos only — it does no inference and makes no network call.

`models.<name>.script` is either
- a list of replies, used in order and repeated from the start when exhausted, or
- `"package.module:function"`, called as `function(request: ChatRequest, index: int)` (sync or
  async; `index` counts calls to this model from 0) and returning one reply.

A reply is one of:
- a string: the assistant's text;
- `{"text": ..., "tool_calls": [{"name": ..., "arguments": {...}, "id": ...}],
   "usage": {"input": N, "output": N, "cached_input": N}, "stop_reason": ...}` (all optional);
- `{"error": "rate_limited" | "server_error" | "timeout" | "connection_error" | "protocol_error",
   "status": 503, "retry_after": 1.5, "message": "..."}`: that attempt fails with the typed
  error, which lets a demo show fallbacks and circuit breakers without a network;
- a `ChatResponse` (functions only).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from mcproute.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderProtocolError,
    ProviderServerError,
    ProviderTimeout,
    RateLimited,
)
from mcproute.providers.base import ChatRequest, ChatResponse, Target, ToolCall, Usage

ScriptFunction = Callable[[ChatRequest, int], Any]


def load_script(script: Sequence[Any] | str | None) -> Sequence[Any] | ScriptFunction:
    """Resolve the config value; raise ValueError naming what is wrong (checked at start-up)."""
    if script is None:
        raise ValueError("the scripted provider needs 'script' (a list of replies or 'module:function')")
    if not isinstance(script, str):
        if not script:
            raise ValueError("'script' is an empty list")
        return list(script)
    module_name, sep, attr = script.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"'script' must be 'module:function', got {script!r}")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load script {script!r}: {exc}") from None
    if not callable(fn):
        raise ValueError(f"script {script!r} is not callable")
    return fn


class ScriptedProvider:
    name = "scripted"

    def __init__(self, script: Sequence[Any] | ScriptFunction, model_name: str = "scripted") -> None:
        self._script = script
        self._model_name = model_name
        self.calls = 0

    async def chat(self, client: httpx.AsyncClient | None, target: Target, request: ChatRequest) -> ChatResponse:
        index = self.calls
        self.calls += 1
        if callable(self._script):
            reply = self._script(request, index)
            if inspect.isawaitable(reply):
                reply = await reply
        else:
            reply = self._script[index % len(self._script)]
        return to_response(reply, target.model or self._model_name, index)


_ERRORS: dict[str, Callable[[Mapping[str, Any], str], ProviderError]] = {
    "rate_limited": lambda r, m: RateLimited(m, r.get("retry_after")),
    "server_error": lambda r, m: ProviderServerError(m, int(r.get("status", 500))),
    "timeout": lambda r, m: ProviderTimeout(m),
    "connection_error": lambda r, m: ProviderConnectionError(m),
    "protocol_error": lambda r, m: ProviderProtocolError(m),
}


def to_response(reply: Any, model: str, index: int) -> ChatResponse:
    if isinstance(reply, ChatResponse):
        return reply
    if isinstance(reply, str):
        return ChatResponse(text=reply, model=model, provider="scripted", stop_reason="end_turn")
    if not isinstance(reply, Mapping):
        raise ProviderProtocolError(
            f"scripted {model}: reply #{index} must be a string or a mapping, got {type(reply).__name__}"
        )
    if "error" in reply:
        make = _ERRORS.get(str(reply["error"]))
        if make is None:
            raise ProviderProtocolError(
                f"scripted {model}: reply #{index} has unknown error {reply['error']!r} (known: {', '.join(_ERRORS)})"
            )
        raise make(reply, f"scripted {model}: {reply.get('message') or reply['error']}")
    calls = []
    for i, c in enumerate(reply.get("tool_calls") or []):
        if not isinstance(c, Mapping) or "name" not in c:
            raise ProviderProtocolError(f"scripted {model}: reply #{index} tool_calls[{i}] needs a 'name'")
        calls.append(ToolCall(str(c.get("id") or f"call_{index}_{i}"), str(c["name"]), dict(c.get("arguments") or {})))
    u = reply.get("usage") or {}
    return ChatResponse(
        text=str(reply.get("text") or ""),
        tool_calls=tuple(calls),
        usage=Usage(int(u.get("input", 0)), int(u.get("output", 0)), int(u.get("cached_input", 0))),
        model=model,
        provider="scripted",
        stop_reason=str(reply.get("stop_reason") or ("tool_use" if calls else "end_turn")),
    )
