"""Carrying out a step: model call, validation and cascade, downstream call, state advance.

Both entry points hold the conversation's lock from loading its state to saving the next one, so
two clients racing on one conversation are serialised (the second sees the first's outcome) and
never lose an update; the lock is per conversation, so other conversations do not wait.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from mcp.shared.exceptions import MCPError

from mcproute.errors import (
    InvalidRequest,
    ModelToolCallError,
    ProviderUnavailable,
    StateError,
    ToolArgumentsInvalid,
    UpstreamUnavailable,
)
from mcproute.gateway.identity import ConversationIdentity
from mcproute.providers import ChatRequest, ChatResult, Message, ToolCall as ModelToolCall, ToolDef, validate_tool_calls
from mcproute.router.conversation import StepOutcome, advance, cascade
from mcproute.router.step import ConversationState, Decision, StepHints, ToolSpec
from mcproute.runtime import tracing
from mcproute.runtime.access import client_policy, record_spend
from mcproute.runtime.messages import step_text, to_messages, to_tool_defs
from mcproute.runtime.results import RESULT_TEXT_CHARS, StepResult
from mcproute.runtime.shadow import offer_shadow
from mcproute.telemetry import decision as tdecision, metrics, spans
from mcproute.telemetry.repeats import RepeatFilter

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from mcproute.runtime.engine import Engine, OpenStep, ToolsArg

# Set while the engine itself calls a downstream tool, so the proxied-call hook does not count
# the engine's own call a second time as if the client had made it.
ENGINE_CALL: contextvars.ContextVar[str | None] = contextvars.ContextVar("mcproute_engine_call", default=None)

logger = logging.getLogger(__name__)
# A full disk fails every save: one line per distinct failure per minute, not a traceback per request.
logger.addFilter(RepeatFilter(60.0))


async def _save(span: Span, save: Awaitable[object]) -> str:
    """Run the step's save; on a storage failure return why (the step already happened: its
    result must still reach the client, so this is a note, not an error)."""
    try:
        await save
    except StateError as exc:
        logger.error("step ran but was not recorded: %s", exc)
        span.set_attribute("mcproute.step.recorded", False)
        return str(exc)
    return ""


@dataclass(frozen=True, slots=True)
class _Answer:
    chat: ChatResult
    decision: Decision
    attempts: tuple[Any, ...]
    cascaded: bool
    cascade_reason: str
    validation_error: str


async def _chat(engine: Engine, request: ChatRequest, decision: Decision) -> ChatResult:
    pool, _ = engine._require()
    if decision.model is None:
        raise ProviderUnavailable(f"no model can run this step: {decision.reason}")
    try:
        result = await pool.chat(
            request, tier=decision.tier, model=decision.model, preferred_deployment=decision.deployment
        )
    except ProviderUnavailable as exc:
        tracing.record_attempts([a for a in exc.attempts if hasattr(a, "started_unix")], first_model=decision.model)  # type: ignore[misc]
        raise
    tracing.record_attempts(result.attempts, first_model=decision.model)
    return result


async def _answer(
    engine: Engine,
    span: Span,
    request: ChatRequest,
    tools: Sequence[ToolDef],
    decision: Decision,
    state: ConversationState | None,
) -> _Answer:
    """The live answer; a sampled step is then also shadowed on the other tier, in the background
    (runtime/shadow.py: never awaited here). A cascaded step is not: its fast answer is known bad."""
    answer = await _live_answer(engine, span, request, tools, decision, state)
    if not answer.cascaded:
        offer_shadow(engine, span, answer.decision, request, answer.chat)
    return answer


async def _live_answer(
    engine: Engine,
    span: Span,
    request: ChatRequest,
    tools: Sequence[ToolDef],
    decision: Decision,
    state: ConversationState | None,
) -> _Answer:
    """Ask the decided model; a fast model's invalid tool call escalates once to reasoning (cascade)."""
    chat = await _chat(engine, request, decision)
    attempts = tuple(chat.attempts)
    try:
        validate_tool_calls(chat.response, tools)
        return _Answer(chat, _as_answered(decision, chat), attempts, False, "", "")
    except ModelToolCallError as exc:
        first_error = exc
    if chat.tier != "fast":
        return _Answer(chat, _as_answered(decision, chat), attempts, False, "", str(first_error))
    # A fresh view of the pool (the first call may have moved a circuit), in one walk.
    models, unhealthy = engine.pool_view()
    escalated = cascade(decision, first_error, models, state, engine.policy, unhealthy=unhealthy)
    if escalated.tier != "reasoning" or escalated.model is None:
        span.set_attribute("mcproute.cascade.failed", escalated.sticky_reason[:300])
        return _Answer(chat, _as_answered(decision, chat), attempts, False, "", str(first_error))
    tdecision.record_decision(span, escalated)  # the span carries the decision actually carried out
    metrics.record_decision(escalated, "cascade")
    span.set_attribute("mcproute.cascade.reason", escalated.sticky_reason[:300])
    again = await _chat(engine, request, escalated)
    attempts += tuple(again.attempts)
    try:
        validate_tool_calls(again.response, tools)
        error = ""
    except ModelToolCallError as exc:
        error = str(exc)
    return _Answer(again, _as_answered(escalated, again), attempts, True, escalated.sticky_reason, error)


async def _answer_or_cached(
    engine: Engine,
    step: OpenStep,
    request: ChatRequest,
    tools: Sequence[ToolDef],
    headers: Mapping[str, str] | None,
) -> _Answer:
    """`_answer`, behind the reply cache (runtime/reply_cache.py): a hit skips the provider; a
    cached tool call that no longer validates against the tools offered now is a miss."""
    cache = engine.reply_cache
    lookup = cache.lookup(engine, step, request, headers, client=client_policy(engine, headers)[0])
    hit = cache.usable(lookup, tools, step.span)
    if hit is not None:
        return _Answer(hit, _as_answered(step.decision, hit), (), False, "", "")
    answer = await _answer(engine, step.span, request, tools, step.decision, step.state)
    if not answer.cascaded and not answer.validation_error:  # only a whole, valid answer is reused
        cache.store(lookup, replace(answer.chat, attempts=answer.attempts), step.span)
    return answer


def _as_answered(decision: Decision, chat: ChatResult) -> Decision:
    # A same-tier fallback answered: the conversation sticks to what actually served it.
    if chat.tier == decision.tier and (chat.model != decision.model or chat.deployment != decision.deployment):
        return replace(decision, model=chat.model, deployment=chat.deployment)
    return decision


def _step_messages(text: str, messages: Sequence[Message | Mapping[str, Any]] | None) -> list[Message]:
    history = to_messages(messages) if messages else []
    if not history or history[-1].role != "user" or history[-1].content != text:
        history.append(Message("user", text))
    return history


STEP_SYSTEM = (
    "You are one step of an agent loop behind the mcproute gateway. If one of the tools fits the request, "
    "call exactly one tool with arguments that satisfy its input schema; otherwise answer briefly."
)
# The system message of a step whose client sent none. Added to it when the router decided that no tool fits the step: the tools are
# still offered (the router can be wrong), but the model is told what the router found. A client
# that sends its own system message gets neither sentence.
NO_TOOL_NOTE = "The gateway's router found no tool that fits this request: answer in text unless a tool clearly does."


def _with_system(msgs: list[Message], *, no_tool_fits: bool) -> list[Message]:
    """The step's messages, led by the gateway's system message unless the client sent its own."""
    if any(m.role == "system" for m in msgs):
        return msgs
    return [Message("system", f"{STEP_SYSTEM} {NO_TOOL_NOTE}" if no_tool_fits else STEP_SYSTEM), *msgs]


async def execute_step(
    engine: Engine,
    text: str,
    *,
    identity: ConversationIdentity,
    hints: StepHints | None,
    top_k: int | None,
    messages: Sequence[Message | Mapping[str, Any]] | None,
    meta: Mapping[str, Any] | None,
    headers: Mapping[str, str] | None,
) -> StepResult:
    cid = identity.id
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= 50):
        raise InvalidRequest(f"top_k must be an integer from 1 to 50, got {top_k!r}")
    msgs = _step_messages(text, messages)
    async with engine.open_step(text, cid, hints, meta, headers) as step:
        store, step_id, decision, span = step.store, step.step_id, step.decision, step.span
        msgs = _with_system(msgs, no_tool_fits=decision.tool is None)
        engine.visible.remember(cid, decision, engine.policy.top_k)
        specs = engine.tool_map()
        tools = _top_tools(decision, specs, top_k or engine.policy.top_k)
        request = ChatRequest(tuple(msgs), tuple(tools), tool_choice="auto" if tools else None)
        answer = await _answer_or_cached(engine, step, request, tools, headers)
        decision = answer.decision
        if answer.cascaded and engine.learning is not None and engine.learning.cascaded(step_id):
            await engine.learning.maybe_propose(store, time.time())  # implicit: the fast tier was not enough
        call = None if answer.validation_error else next(iter(answer.chat.response.tool_calls), None)
        result, tool_error, server = None, "", None
        if call is not None:
            server = specs[call.name].server
            result, tool_error = await _call_tool(engine, call, server, headers)
            if engine.learning is not None and engine.learning.tool_called(step_id, call.name):
                await engine.learning.maybe_propose(store, time.time())  # click-through: learned
        elif tools and not answer.validation_error and engine.learning is not None:
            if engine.learning.no_tool_called(step_id):  # offered tools, called none: learned too
                await engine.learning.maybe_propose(store, time.time())
        outcome = StepOutcome(
            text=text,
            tool_called=call.name if call is not None else (_bad_tool(answer) if answer.validation_error else None),
            server=server,
            tool_error=bool(tool_error),
            validation_error=answer.validation_error,
            result_text=_text_of(result) if result is not None else tool_error,
            # The tool ran and its result goes back with this step: the call is closed, so the
            # next step is free to change tier (nothing is left for this model to read).
            awaiting_tool_result=False,
        )
        cost = sum(a.cost_usd for a in answer.attempts)
        tdecision.record_step_cost(span, cost)
        await record_spend(engine, headers, cost)
        now = engine.clock()
        record = engine._record_json(
            decision,
            kind="run_step",
            executed_tool=call.name if call else None,
            answered_by=answer.chat.model,
            cascaded=answer.cascaded or None,
        )
        not_recorded = await _save(
            span, store.record_step(cid, step_id, record, lambda s: advance(s, decision, outcome, now=now))
        )
        if not not_recorded:
            await engine.keep_replay(
                step,
                kind="run_step",
                usage=_usage(answer, cost),
                outcome={
                    "executed_tool": call.name if call else None,
                    "tool_error": bool(tool_error),
                    "validation_error": bool(answer.validation_error),
                    "cascaded": answer.cascaded,
                },
            )
        return StepResult(
            step_id=step_id,
            conversation_id=cid,
            conversation_source=identity.source,
            decision=decision,
            model=answer.chat.model,
            deployment=answer.chat.deployment,
            tier=answer.chat.tier,
            text=answer.chat.response.text,
            tool=call.name if call else None,
            arguments=dict(call.arguments) if call else {},
            result=result,
            tool_error=tool_error,
            validation_error=answer.validation_error,
            cascaded=answer.cascaded,
            cascade_reason=answer.cascade_reason,
            cost_usd=cost,
            attempts=answer.attempts,
            trace_id=tracing.current_trace_id(),
            not_recorded=not_recorded,
        )


def _usage(answer: _Answer, cost: float) -> dict[str, Any]:
    """Tokens of the reply that answered (for replay's cost: price table x these) and the step's cost."""
    u = answer.chat.response.usage
    return {
        "input_tokens": u.input,
        "output_tokens": u.output,
        "cached_input_tokens": u.cached_input,
        "answered_by": answer.chat.model,
        "cost_usd": cost,
    }


def _top_tools(decision: Decision, specs: Mapping[str, ToolSpec], k: int) -> list[ToolDef]:
    """The decision's k best-ranked catalogue tools, as provider tool definitions."""
    return [
        ToolDef(c.name, specs[c.name].description, specs[c.name].input_schema)
        for c in decision.alternatives[:k]
        if c.name in specs
    ]


def _bad_tool(answer: _Answer) -> str | None:
    calls = answer.chat.response.tool_calls
    return calls[0].name if calls else None


async def _call_tool(
    engine: Engine, call: ModelToolCall, server: str, headers: Mapping[str, str] | None
) -> tuple[dict[str, Any] | None, str]:
    """Execute the model's call downstream inside a `tools/call` CLIENT span; errors become text."""
    entry = engine.gateway.catalog.tools.get(call.name)
    token = ENGINE_CALL.set(call.name)
    try:
        with spans.tool_call_span(
            call.name, server, downstream_tool=entry.original if entry else None, call_id=call.id
        ) as tspan:
            try:
                # The caller's headers carry its principal: the model cannot call a tool its client may not.
                result = await engine.gateway.call_tool(
                    call.name, dict(call.arguments), meta=tracing.downstream_meta(), headers=headers
                )
            except (ToolArgumentsInvalid, UpstreamUnavailable, MCPError, InvalidRequest) as exc:
                spans.record_tool_result(tspan, is_error=True)
                tspan.set_attribute("error.type", type(exc).__name__)
                return None, str(exc)
            spans.record_tool_result(tspan, is_error=bool(result.get("isError")))
            return result, (_text_of(result) or "the tool reported an error") if result.get("isError") else ""
    finally:
        ENGINE_CALL.reset(token)


def _text_of(result: Mapping[str, Any]) -> str:
    parts = [
        c.get("text", "") for c in result.get("content") or [] if isinstance(c, Mapping) and c.get("type") == "text"
    ]
    text = "\n".join(p for p in parts if isinstance(p, str))
    if not text and result.get("structuredContent") is not None:
        text = json.dumps(result["structuredContent"], default=str)
    return text[:RESULT_TEXT_CHARS]


async def execute_complete(
    engine: Engine,
    msgs: list[Message],
    *,
    identity: ConversationIdentity,
    hints: StepHints | None,
    tools: ToolsArg,
    meta: Mapping[str, Any] | None,
    headers: Mapping[str, str] | None,
    max_tokens: int,
    temperature: float | None,
    dry_run: bool,
) -> tuple[Decision, ChatResult]:
    text = step_text(msgs)
    if not text.strip():
        raise InvalidRequest("messages have no user or tool message with text to route on")
    cid = identity.id
    async with engine.open_step(text[-4000:], cid, hints, meta, headers) as step:
        store, step_id, decision, span = step.store, step.step_id, step.decision, step.span
        specs = engine.tool_map()
        if tools == "mcp":
            defs = _top_tools(decision, specs, engine.policy.top_k)
        elif tools:
            defs = to_tool_defs(tools)
        else:
            defs = []
        request = ChatRequest(
            tuple(msgs),
            tuple(defs),
            max_tokens=max_tokens,
            temperature=temperature,
            tool_choice="auto" if defs else None,
        )
        answer = await _answer_or_cached(engine, step, request, defs, headers)
        decision = answer.decision
        tdecision.record_step_cost(span, sum(a.cost_usd for a in answer.attempts))
        await record_spend(engine, headers, sum(a.cost_usd for a in answer.attempts))
        chat = replace(answer.chat, attempts=answer.attempts)
        if dry_run:
            return decision, chat
        calls = answer.chat.response.tool_calls
        first = calls[0].name if calls else None
        outcome = StepOutcome(
            text=text,
            tool_called=first if first in specs else None,  # a client-side tool is not ours to remember
            server=specs[first].server if first in specs else None,
            validation_error=answer.validation_error,
            awaiting_tool_result=bool(calls) and not answer.validation_error,
        )
        now = engine.clock()
        record = engine._record_json(
            decision, kind="complete", answered_by=answer.chat.model, cascaded=answer.cascaded or None
        )
        # The model already answered (and was paid): the answer goes back even if the save failed.
        if not await _save(
            span, store.record_step(cid, step_id, record, lambda s: advance(s, decision, outcome, now=now))
        ):
            await engine.keep_replay(
                step,
                kind="complete",
                usage=_usage(answer, chat.cost_usd),
                outcome={
                    "tool_call": first,
                    "validation_error": bool(answer.validation_error),
                    "cascaded": answer.cascaded,
                },
            )
        return decision, chat
