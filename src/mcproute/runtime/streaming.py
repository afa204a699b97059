"""A routed model call whose reply is passed on as it arrives (`/v1/chat/completions` with
`stream: true`).

    async with aclosing(stream_complete(engine, msgs, identity=..., ...)) as events:
        async for event in events:   # StepStarted, TextDelta/ToolCallDelta..., StepFinished

The step is the same as `execute_complete`'s: one conversation lock held from loading the state
to saving the next one, one route span, the decision made before any provider is called. What
differs is what streaming makes impossible: retries and fallbacks happen only before the first
delta (reliable_stream.py), and a fast model's invalid tool call cannot be escalated to the
reasoning tier (the client already has the call); it is recorded as the step's validation error,
as when the reasoning tier itself answers badly. Usage and cost are recorded when the stream
ends. If the provider fails after the first delta, the step is not saved (the reply is
incomplete, the conversation does not advance) and `StreamInterrupted` is raised.

The reply cache (runtime/reply_cache.py) is in front of the provider here too: a hit is replayed
as the events a provider's stream yields, and a reply is stored only once its stream ended whole.

Iterate it to the end (or close it) in one task: it holds the conversation's lock and the
current span between deltas.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from mcproute.errors import InvalidRequest, ModelToolCallError, ProviderUnavailable
from mcproute.gateway.identity import ConversationIdentity
from mcproute.providers import ChatRequest, ChatResult, Message, validate_tool_calls
from mcproute.providers.reliable_stream import StreamFinished, StreamStarted
from mcproute.providers.streaming import TextDelta, ToolCallDelta
from mcproute.router.conversation import StepOutcome, advance
from mcproute.router.step import Decision, StepHints
from mcproute.runtime import tracing
from mcproute.runtime.access import client_policy
from mcproute.runtime.messages import step_text, to_tool_defs
from mcproute.runtime.reply_cache import replayed
from mcproute.runtime.shadow import offer_shadow
from mcproute.runtime.steps import _as_answered, _save, _top_tools
from mcproute.telemetry import decision as tdecision, semconv as sc

if TYPE_CHECKING:
    from mcproute.runtime.engine import Engine, ToolsArg


@dataclass(frozen=True, slots=True)
class StepStarted:
    """The decision as carried out, and who is answering: what the response headers say."""

    decision: Decision
    started: StreamStarted


@dataclass(frozen=True, slots=True)
class StepFinished:
    decision: Decision
    chat: ChatResult


async def stream_complete(
    engine: Engine,
    msgs: list[Message],
    *,
    identity: ConversationIdentity,
    hints: StepHints | None,
    tools: ToolsArg,
    meta: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    max_tokens: int = 1024,
    temperature: float | None = None,
) -> AsyncGenerator[StepStarted | TextDelta | ToolCallDelta | StepFinished, None]:
    text = step_text(msgs)
    if not text.strip():
        raise InvalidRequest("messages have no user or tool message with text to route on")
    cid = identity.id
    pool, _ = engine._require()
    async with engine.open_step(text[-4000:], cid, hints, meta, headers) as step:
        store, step_id, decision, span = step.store, step.step_id, step.decision, step.span
        specs = engine.tool_map()
        defs = (
            _top_tools(decision, specs, engine.policy.top_k) if tools == "mcp" else to_tool_defs(tools) if tools else []
        )
        request = ChatRequest(
            tuple(msgs),
            tuple(defs),
            max_tokens=max_tokens,
            temperature=temperature,
            tool_choice="auto" if defs else None,
        )
        if decision.model is None:
            raise ProviderUnavailable(f"no model can run this step: {decision.reason}")
        # The reply cache (docs/cache.md): a hit is replayed as the stream a provider would send.
        lookup = engine.reply_cache.lookup(engine, step, request, headers, client=client_policy(engine, headers)[0])
        hit = engine.reply_cache.usable(lookup, defs, span)
        finished: StreamFinished | None = None
        try:
            async with aclosing(
                replayed(hit)
                if hit is not None
                else pool.stream(
                    request, tier=decision.tier, model=decision.model, preferred_deployment=decision.deployment
                )
            ) as events:
                async for event in events:
                    if isinstance(event, StreamStarted):
                        answered = (
                            replace(decision, model=event.model, deployment=event.deployment)
                            if event.tier == decision.tier
                            and (event.model, event.deployment) != (decision.model, decision.deployment)
                            else decision
                        )
                        yield StepStarted(answered, event)
                    elif isinstance(event, StreamFinished):
                        finished = event
                    else:
                        yield event
        except ProviderUnavailable as exc:  # StreamInterrupted included: its attempts go on the trace
            tracing.record_attempts([a for a in exc.attempts if hasattr(a, "started_unix")], first_model=decision.model)  # type: ignore[misc]
            raise
        assert finished is not None  # the pool's stream always ends with StreamFinished or raises
        chat = finished.result
        tracing.record_attempts(chat.attempts, first_model=decision.model)
        first = chat.attempts[-1].first_chunk_s if chat.attempts else None  # a cache hit has no attempt
        if first is not None:
            span.set_attribute(sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, float(first))
        decision = _as_answered(decision, chat)
        offer_shadow(engine, span, decision, request, chat)  # background; never awaited here
        tdecision.record_step_cost(span, chat.cost_usd)
        try:
            validate_tool_calls(chat.response, defs)
            validation_error = ""
        except ModelToolCallError as exc:
            validation_error = str(exc)
        if not validation_error:  # the stream ended whole: only now may it be reused
            engine.reply_cache.store(lookup, chat, span)
        calls = chat.response.tool_calls
        name = calls[0].name if calls else None
        outcome = StepOutcome(
            text=text,
            tool_called=name if name in specs else None,
            server=specs[name].server if name in specs else None,
            validation_error=validation_error,
            awaiting_tool_result=bool(calls) and not validation_error,
        )
        now = engine.clock()
        record = engine._record_json(decision, kind="complete", answered_by=chat.model, streamed=True)
        if not await _save(
            span, store.record_step(cid, step_id, record, lambda s: advance(s, decision, outcome, now=now))
        ):
            u = chat.response.usage
            await engine.keep_replay(
                step,
                kind="complete",
                usage={
                    "input_tokens": u.input,
                    "output_tokens": u.output,
                    "cached_input_tokens": u.cached_input,
                    "answered_by": chat.model,
                    "cost_usd": chat.cost_usd,
                },
                outcome={
                    "tool_call": name,
                    "validation_error": bool(validation_error),
                    "cascaded": False,
                    "streamed": True,
                },
            )
        yield StepFinished(decision, chat)
