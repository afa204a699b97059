"""The gateway's own tools: `mcproute__route`, `mcproute__run_step`, `mcproute__search_tools`,
`mcproute__feedback`.

Every one takes an optional `conversation_id` (first in the identity order; see
gateway/identity.py) and answers with a short text for a model to read plus `structuredContent`
for a program. Refusals (a bad conversation id, an unknown step, a provider outage) come back as
tool errors (`isError: true`) naming what was wrong, so an agent's model can read and correct them;
arguments that fail the schema are refused by the gateway before the handler runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from mcproute.errors import InvalidRequest, UpstreamUnavailable
from mcproute.gateway.identity import META_KEY
from mcproute.gateway.routing import MetaTool, ToolCall
from mcproute.router.step import StepHints
from mcproute.runtime.results import decision_summary

if TYPE_CHECKING:
    from mcproute.runtime.engine import Engine

PREFIX = "mcproute__"
ROUTE, RUN_STEP, SEARCH, FEEDBACK = (PREFIX + n for n in ("route", "run_step", "search_tools", "feedback"))
META_TOOL_NAMES = (ROUTE, RUN_STEP, SEARCH, FEEDBACK)

_CONVERSATION = {
    "type": "string",
    "maxLength": 128,
    "description": "The conversation_id from the first line of the previous mcproute__ result: pass it back on every "
    "later step so this conversation keeps its model and tools (omit it on the first step; letters, digits and "
    ". _ : @ + = -).",
}
_HOW = {
    "new": "a new conversation: pass conversation_id={id} on your next mcproute__ call to continue it",
    "connection": "this connection's conversation, kept for you; pass conversation_id={id} to continue it elsewhere",
    "session": "this session's conversation, kept for you; pass conversation_id={id} to continue it elsewhere",
}


def conversation_line(cid: str, source: str) -> str:
    """The first line of every meta-tool answer: the id a client's model must hand back."""
    how = _HOW.get(source, "from your " + source).format(id=cid)
    return f"conversation_id: {cid} ({how})"


_TEXT = {
    "type": "string",
    "minLength": 1,
    "maxLength": 20000,
    "description": "What this agent step has to do, in words.",
}
_HINTS = {
    "intelligence_priority": {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "description": "MCP modelPreferences.intelligencePriority",
    },
    "tier": {"type": "string", "enum": ["reasoning", "fast"], "description": "force a tier for this step"},
    "model": {"type": "string", "maxLength": 200, "description": "ask for a configured model by name"},
}


def _schema(props: Mapping[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": dict(props), "required": required, "additionalProperties": False}


ROUTE_SCHEMA = _schema({"text": _TEXT, "conversation_id": _CONVERSATION, **_HINTS}, ["text"])
RUN_STEP_SCHEMA = _schema(
    {
        "text": _TEXT,
        "conversation_id": _CONVERSATION,
        "top_k": {
            "type": "integer",
            "minimum": 1,
            "maximum": 50,
            "description": "tools offered to the model (default routing.top_k)",
        },
        **_HINTS,
    },
    ["text"],
)
SEARCH_SCHEMA = _schema(
    {
        "query": {"type": "string", "minLength": 1, "maxLength": 20000, "description": "what you need a tool for"},
        "conversation_id": _CONVERSATION,
        "k": {"type": "integer", "minimum": 1, "maximum": 50, "description": "how many tools (default routing.top_k)"},
    },
    ["query"],
)
FEEDBACK_SCHEMA = _schema(
    {
        "step_id": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "description": "a step_id returned by mcproute__run_step",
        },
        "reward": {"type": "number", "minimum": -1, "maximum": 1, "description": "-1 (bad) .. 1 (good)"},
        "conversation_id": _CONVERSATION,
    },
    ["step_id", "reward"],
)


def _hints(args: Mapping[str, Any]) -> StepHints | None:
    if not any(k in args for k in _HINTS):
        return None
    return StepHints(
        intelligence_priority=args.get("intelligence_priority"),
        tier_override=args.get("tier"),
        model_override=args.get("model"),
    )


def _result(
    text: str, structured: Mapping[str, Any], *, extra: list[dict[str, Any]] | None = None, is_error: bool = False
) -> dict[str, Any]:
    out = {
        "content": [{"type": "text", "text": text}, *(extra or [])],
        "structuredContent": dict(structured),
        "isError": is_error,
    }
    cid = structured.get("conversation_id")
    if cid:
        # For a program: echo this `_meta` key on the next request (any tool) to stay in the conversation.
        out["_meta"] = {META_KEY: cid}
    return out


def _error(exc: Exception) -> dict[str, Any]:
    kind = "unavailable" if isinstance(exc, UpstreamUnavailable) else "invalid_request"
    return {
        "content": [{"type": "text", "text": f"mcproute: {exc}"}],
        "isError": True,
        "_meta": {"mcproute/error": kind},
    }


Handler = Callable[[Mapping[str, Any], ToolCall], Awaitable[dict[str, Any]]]


def _guard(fn: Handler) -> Handler:
    async def run(args: Mapping[str, Any], call: ToolCall) -> dict[str, Any]:
        try:
            return await fn(args, call)
        except (InvalidRequest, UpstreamUnavailable) as exc:
            return _error(exc)

    return run


def meta_tools(engine: Engine) -> list[MetaTool]:
    def ident(args: Mapping[str, Any], call: ToolCall) -> Any:
        identity = engine.identity(
            arguments=args,
            meta=call.meta,
            headers=call.headers,
            session_id=call.session_id,
            connection_id=call.connection_id,
        )
        if identity.source == "connection":
            engine.routed_connections.add(identity.id)
        return identity

    async def moved(cid: str, before: tuple[str, ...] | None, call: ToolCall) -> None:
        # expose: search — the conversation's visible tools changed: tell clients to list again.
        if (
            engine.config.gateway.expose == "search"
            and engine.visible.get(cid) != before
            and call.notify_tools_changed is not None
        ):
            await call.notify_tools_changed()

    async def route(args: Mapping[str, Any], call: ToolCall) -> dict[str, Any]:
        identity = ident(args, call)
        before = engine.visible.get(identity.id)
        d = await engine.route(
            args["text"], identity=identity, hints=_hints(args), dry_run=True, meta=call.meta, headers=call.headers
        )
        await moved(identity.id, before, call)
        out = decision_summary(d)
        out["conversation_source"] = identity.source
        what = d.tool or "no tool"
        return _result(
            f"{conversation_line(d.conversation_id, identity.source)}\n"
            f"{what} with {d.model or 'no model'} ({d.tier}). {d.reason} Stickiness: {d.sticky_reason}",
            out,
        )

    async def run_step(args: Mapping[str, Any], call: ToolCall) -> dict[str, Any]:
        identity = ident(args, call)
        before = engine.visible.get(identity.id)
        step = await engine.run_step(
            args["text"],
            identity=identity,
            hints=_hints(args),
            top_k=args.get("top_k"),
            meta=call.meta,
            headers=call.headers,
        )
        await moved(identity.id, before, call)
        content = [c for c in (step.result or {}).get("content") or [] if isinstance(c, Mapping)]
        head = f"{conversation_line(step.conversation_id, identity.source)}\n{step.summary()}\nstep_id: {step.step_id}"
        if step.text:
            head += f"\nmodel said: {step.text[:2000]}"
        if step.tool_error:
            head += f"\ntool error: {step.tool_error[:2000]}"
        return _result(head, step.to_dict(), extra=[dict(c) for c in content], is_error=step.is_error)

    async def search(args: Mapping[str, Any], call: ToolCall) -> dict[str, Any]:
        identity = ident(args, call)
        before = engine.visible.get(identity.id)
        # An anonymous search has no conversation to remember its results in.
        tools = await engine.search_tools(
            args["query"],
            identity=identity if identity.source != "new" else None,
            k=args.get("k"),
            headers=call.headers,
        )
        await moved(identity.id, before, call)
        lines = [f"{i}. {t['name']} ({t['score']:.2f}): {t['description'][:160]}" for i, t in enumerate(tools, 1)]
        text = "\n".join(lines) or "no tool matches"
        if identity.source == "new":
            return _result(text, {"conversation_id": None, "tools": tools})
        return _result(
            f"{conversation_line(identity.id, identity.source)}\n{text}",
            {"conversation_id": identity.id, "conversation_source": identity.source, "tools": tools},
        )

    async def feedback(args: Mapping[str, Any], call: ToolCall) -> dict[str, Any]:
        given = args.get("conversation_id")
        if given:
            # Checked before recording: a reward must never land on another conversation's step.
            identity = ident(args, call)
            known = await engine.store.get_step(args["step_id"]) if engine.store is not None else None
            if known is not None and known.conversation_id != identity.id:
                raise InvalidRequest(f"step {args['step_id']!r} does not belong to conversation {identity.id!r}")
        record = await engine.feedback(args["step_id"], args["reward"])
        cal = engine.calibration_state
        out = {
            "step_id": record.step_id,
            "conversation_id": record.conversation_id,
            "reward": record.reward,
            "threshold": round(cal.current.threshold, 6),
            "policy_version": engine.decision_calibration().version,  # what the next decisions carry
            "calibration": cal.note,
        }
        return _result(f"recorded reward {record.reward:+.2f} for step {record.step_id}. {cal.note}", out)

    return [
        MetaTool(
            ROUTE,
            "Dry run: which tool and which model (reasoning or fast tier) mcproute would choose for this "
            "agent step, with the reason and whether the conversation's stickiness held. Changes nothing.",
            ROUTE_SCHEMA,
            _guard(route),
            {"readOnlyHint": True, "idempotentHint": True},
        ),
        MetaTool(
            RUN_STEP,
            "Run one agent step: mcproute picks the model for this conversation, gives it the most "
            "relevant tools, executes the tool call it makes, and returns the tool's result with a short decision summary.",
            RUN_STEP_SCHEMA,
            _guard(run_step),
        ),
        MetaTool(
            SEARCH,
            "Search the tool catalogue; returns the best-matching tools with their input schemas "
            "(progressive disclosure for clients that cannot list every tool).",
            SEARCH_SCHEMA,
            _guard(search),
            {"readOnlyHint": True},
        ),
        MetaTool(
            FEEDBACK,
            "Rate a step (reward -1..1 for a step_id returned by mcproute__run_step); rewards tune the tier calibration.",
            FEEDBACK_SCHEMA,
            _guard(feedback),
        ),
    ]


def install_meta_tools(engine: Engine) -> list[Callable[[], None]]:
    """Register the meta-tools on the engine's gateway; returns removers."""
    removers: list[Callable[[], None]] = []
    for tool in meta_tools(engine):
        engine.gateway.add_meta_tool(tool)
        removers.append(partial(engine.gateway.remove_meta_tool, tool.name))
    return removers


def listed_meta_tools() -> list[MetaTool]:
    """The meta-tools for a listing that starts no engine (`mcproute tools`).

    The same `meta_tools()` the gateway serves, so the two cannot drift; the handlers close over
    the engine and must not be called.
    """
    return meta_tools(cast("Engine", None))
