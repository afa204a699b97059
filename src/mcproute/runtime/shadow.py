"""Shadow traffic: a sample of steps is also sent to the other tier, in the background.

    async with ShadowRunner(engine) as runner:        # entered by the Engine when routing.shadow.rate > 0
        runner.offer(span, decision, request, chat)   # from the model-call path: returns at once
        await runner.drain()                          # tests and one-shot commands: wait for the shadows

What holds, and how:
- The live reply is never delayed or changed: `offer` is synchronous, does no I/O and starts a
  task in the runner's own task group (owned by the engine's lifetime); the live path never
  awaits it, and nothing the shadow produces flows back into the step, its state or its record.
- A shadow's tool calls are never executed: this module never calls the gateway. The shadow
  request carries the same messages and tool definitions; its reply is only compared.
- The daily cap holds under concurrency: before each call (shadow or judge) its cost *bound* is
  reserved with one atomic `take` on the store's counters (SQLite: inside BEGIN IMMEDIATE, so
  several gateway processes sharing the file share the cap), and settled to the real cost after.
  The bound is an upper one: input tokens ≤ UTF-8 bytes of the messages and tool schemas (a
  byte-level tokenizer never makes a token of less than a byte) plus a per-message allowance,
  output tokens ≤ the `max_tokens` the shadow request sends (`max_output_tokens`).
- Each shadow is one `mcproute.shadow` span, the root of its own trace, LINKED to the route span
  of the step it shadowed (not its child: the step's trace has ended by then), with the
  comparison as attributes; and one `OutcomeRecord` (kind "shadow") in the store, when the store
  keeps outcomes (state/outcomes.py).
- With a judge and `routing.learning` on, the judge's scores teach the tier learner: the gain of
  the step is the reasoning answer's score minus the fast one's (in [-1, 1]), whichever tier was
  live. Without a judge a comparison says that the tiers differ, not which one was right, so
  nothing is learned from it.
The comparison itself is pure (router/shadow_compare.py).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup
from opentelemetry import context as otel_context, trace
from opentelemetry.trace import Link, SpanContext, SpanKind

from mcproute.errors import McprouteError, StateError
from mcproute.providers import ChatRequest, ChatResult, Message
from mcproute.router.shadow_compare import JUDGE_SYSTEM, Reply, compare, judge_prompt, parse_judge, sampled
from mcproute.runtime import tracing
from mcproute.runtime.access import allowed_models
from mcproute.state.counters import MemoryCounters
from mcproute.state.outcomes import OutcomeRecord, OutcomeStore
from mcproute.telemetry import semconv as sc, spans

if TYPE_CHECKING:
    from mcproute.config import Price
    from mcproute.router.step import Decision
    from mcproute.runtime.engine import Engine

log = logging.getLogger("mcproute.shadow")
_tracer = trace.get_tracer(sc.TRACER_NAME)
DAY = 86_400.0
MESSAGE_ALLOWANCE = 16  # tokens of chat-template framing per message, beyond its bytes
JUDGE_MAX_TOKENS = 64


def cost_bound(request: ChatRequest, price: Price) -> float:
    """USD an answer to `request` can cost at most (see the module docstring)."""
    body = [
        {"role": m.role, "content": m.content, "calls": [c.to_dict() for c in m.tool_calls], "id": m.tool_call_id}
        for m in request.messages
    ]
    tools = [t.to_mcp() for t in request.tools]
    size = len(json.dumps([body, tools], ensure_ascii=False, default=str).encode("utf-8"))
    tokens_in = size + MESSAGE_ALLOWANCE * (len(request.messages) + len(request.tools) + 1)
    return (tokens_in * price.input + request.max_tokens * price.output) / 1_000_000


class SpendCap:
    """`max_usd_per_day` over windowed counters: reserve a bound first, settle to the real cost after."""

    def __init__(self, counters: Any, cap: float, clock: Any = time.time) -> None:
        self.counters, self.cap, self.clock = counters, cap, clock

    def _key(self) -> tuple[str, float]:
        day = math.floor(self.clock() / DAY)
        return f"shadow-usd:{day}", (day + 1) * DAY

    async def reserve(self, usd: float) -> tuple[str, float] | None:
        """The window reserved in (pass it to `settle`), or None when `usd` would pass the cap."""
        key, expires = self._key()
        taken = await self.counters.take(key, usd, self.cap, expires)
        return (key, expires) if taken.added else None

    async def settle(self, window: tuple[str, float], reserved: float, actual: float) -> None:
        if actual != reserved:  # usually a refund: the bound is an upper one
            await self.counters.take(window[0], actual - reserved, None, window[1])

    async def spent(self) -> float:
        key, expires = self._key()
        return float((await self.counters.take(key, 0, None, expires)).total)


@dataclass(frozen=True, slots=True)
class ShadowJob:
    step_id: str
    conversation_id: str
    client: str | None
    link: SpanContext
    request: ChatRequest
    live: ChatResult
    tier: str  # the shadow's tier
    models: tuple[str, ...]  # its candidates, in the pool's order (the client may use them)


class ShadowRunner:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.config = engine.config.routing.shadow
        store = engine.store
        counters = store if store is not None and hasattr(store, "take") else MemoryCounters()
        self.cap = SpendCap(counters, self.config.max_usd_per_day)
        self.outcomes: OutcomeStore | None = store if isinstance(store, OutcomeStore) else None
        self._tg: TaskGroup | None = None
        self.in_flight = 0
        self.skipped_busy = 0  # sampled steps not shadowed because max_in_flight were running
        self._idle = anyio.Event()
        self._idle.set()

    async def __aenter__(self) -> ShadowRunner:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        # Shutting down abandons shadows still waiting for a model: nobody waits for their answer.
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        await self._tg.__aexit__(None, None, None)
        self._tg = None

    async def drain(self) -> None:
        """Wait until no shadow is running (tests, one-shot commands)."""
        while self.in_flight:
            await self._idle.wait()

    # ------------------------------------------------------------ the live path's one call

    def offer(self, span: Any, decision: Decision, request: ChatRequest, live: ChatResult) -> None:
        """Start a shadow of this step if it is sampled; never raises, never waits."""
        try:
            job = self._job(span, decision, request, live)
            if job is None or self._tg is None:
                return
            if self.in_flight >= self.config.max_in_flight:
                self.skipped_busy += 1
                log.debug("shadow: step %s sampled but %d shadows are running", job.step_id, self.in_flight)
                return
            self.in_flight += 1
            if self.in_flight == 1:
                self._idle = anyio.Event()
            self._tg.start_soon(self._run, job)
        except Exception:  # the live step must not notice a shadow's trouble
            log.exception("shadow: could not start a shadow of step %s", getattr(decision, "step_id", "?"))

    def _job(self, span: Any, decision: Decision, request: ChatRequest, live: ChatResult) -> ShadowJob | None:
        cfg = self.config
        if live.tier not in cfg.tiers or not sampled(decision.step_id, cfg.rate):
            return None
        other = "fast" if live.tier == "reasoning" else "reasoning"
        client = otel_context.get_value(spans.CLIENT_KEY)
        client = client if isinstance(client, str) else None
        access = self.engine.gateway.access
        specs = self.engine.pool_view()[0]
        if access is not None:  # a client's shadow goes only to models that client may use
            specs = allowed_models(access.policy(client), specs)
        models = tuple(s.name for s in specs if s.tier == other and s.available)
        shadow_request = replace(request, max_tokens=min(request.max_tokens, cfg.max_output_tokens))
        return ShadowJob(
            decision.step_id,
            decision.conversation_id,
            client,
            span.get_span_context(),
            shadow_request,
            live,
            other,
            models,
        )

    # ------------------------------------------------------------ in the background

    async def _run(self, job: ShadowJob) -> None:
        try:
            # A root span of its own (empty parent context), linked to the step it shadows.
            with _tracer.start_as_current_span(
                sc.SHADOW_SPAN_NAME,
                context=otel_context.Context(),
                kind=SpanKind.INTERNAL,
                links=[Link(job.link, {sc.LINK_RELATION: sc.LINK_SHADOW_OF})] if job.link.is_valid else [],
                attributes={sc.GEN_AI_CONVERSATION_ID: job.conversation_id, sc.STEP_ID: job.step_id},
            ) as span:
                if job.client is not None:
                    span.set_attribute(sc.CLIENT, job.client)
                data = await self._shadow(job)
                _annotate(span, data)
            await self._record(job, data)
            await self._learn(job, data)
        except Exception:
            log.exception("shadow of step %s failed", job.step_id)
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle.set()

    async def _shadow(self, job: ShadowJob) -> dict[str, Any]:
        live = job.live
        live_reply = _reply(live)
        data: dict[str, Any] = {
            "live": {"tier": live.tier, "model": live.model, "tool": live_reply.tool},
            "shadow": {"tier": job.tier, "model": None, "tool": None},
            "cost_usd": 0.0,
            "reserved_usd": 0.0,
        }
        if not job.models:
            return {**data, "status": "no_model"}
        model = job.models[0]
        data["shadow"]["model"] = model
        answer, cost, reserved, error = await self._call(job.request, model, job.tier)
        data["cost_usd"], data["reserved_usd"] = cost, reserved
        if answer is None:
            return {**data, "status": "over_budget" if not error else "failed", "error": error[:300] or None}
        reply = _reply(answer)
        data["shadow"].update(model=answer.model, tier=answer.tier, tool=reply.tool)
        if answer.tier != job.tier:  # cross_tier_fallback answered from the live tier: no comparison
            return {
                **data,
                "status": "failed",
                "error": f"the {job.tier} tier did not answer (fell back to {answer.tier})",
            }
        schemas = {t.name: t.input_schema for t in job.request.tools}
        data.update(compare(live_reply, reply, schemas).to_dict(), status="compared")
        data["usage"] = answer.response.usage.to_dict()
        if self.config.judge.enabled and self.config.judge.model:
            data["judge"] = await self._judge(job, live_reply, reply, data)
        return data

    async def _call(
        self, request: ChatRequest, model: str, tier: str | None
    ) -> tuple[ChatResult | None, float, float, str]:
        """(answer or None, cost, reserved, error): one model call inside a reservation."""
        pool, _ = self.engine._require()
        price = self.engine.config.models[model].price
        bound = cost_bound(request, price)
        window = await self.cap.reserve(bound)
        if window is None:
            return None, 0.0, bound, ""
        # Settled on an answer or a provider error; a cancelled call (shutdown) keeps its whole
        # reservation: what the provider charged for it is unknown, and the cap is a cap.
        try:
            result = await pool.chat(request, tier=tier, model=model)  # type: ignore[arg-type]
        except McprouteError as exc:
            attempts = [a for a in getattr(exc, "attempts", ()) if hasattr(a, "started_unix")]
            tracing.record_attempts(attempts, first_model=model)
            cost = sum(float(getattr(a, "cost_usd", 0.0)) for a in attempts)
            await self.cap.settle(window, bound, cost)
            return None, cost, bound, f"{type(exc).__name__}: {exc}"
        tracing.record_attempts(result.attempts, first_model=model)
        await self.cap.settle(window, bound, result.cost_usd)
        return result, result.cost_usd, bound, ""

    async def _judge(self, job: ShadowJob, live: Reply, shadow: Reply, data: dict[str, Any]) -> dict[str, Any]:
        judge_model = self.config.judge.model
        assert judge_model is not None
        asked = next((m.content for m in reversed(job.request.messages) if m.role == "user"), "")
        request = ChatRequest(
            (Message("system", JUDGE_SYSTEM), Message("user", judge_prompt(asked, live, shadow))),
            max_tokens=JUDGE_MAX_TOKENS,
            temperature=0.0,
        )
        answer, cost, reserved, error = await self._call(request, judge_model, None)
        data["cost_usd"] += cost
        data["reserved_usd"] += reserved
        if answer is None:
            return {"model": judge_model, "status": "failed" if error else "over_budget"}
        scores = parse_judge(answer.response.text)
        if scores is None:
            return {"model": judge_model, "status": "unparsed"}
        return {"model": judge_model, "status": "scored", "live": scores[0], "shadow": scores[1]}

    async def _learn(self, job: ShadowJob, data: Mapping[str, Any]) -> None:
        """A judged comparison is an outcome for the tier learner (module docstring)."""
        learning, judged = self.engine.learning, data.get("judge")
        if learning is None or not isinstance(judged, Mapping) or judged.get("status") != "scored":
            return
        live, shadow = float(judged["live"]), float(judged["shadow"])
        gain = live - shadow if job.live.tier == "reasoning" else shadow - live
        if learning.gain(job.step_id, gain) and self.engine.store is not None:
            await learning.maybe_propose(self.engine.store, time.time())

    async def _record(self, job: ShadowJob, data: Mapping[str, Any]) -> None:
        if self.outcomes is None:
            return
        record = OutcomeRecord(job.step_id, job.conversation_id, "shadow", self.engine.clock(), dict(data))
        try:
            await self.outcomes.record_outcome(record)
        except (StateError, McprouteError) as exc:
            log.warning("shadow outcome of step %s not recorded: %s", job.step_id, exc)


def _reply(chat: ChatResult) -> Reply:
    calls = chat.response.tool_calls
    first = calls[0] if calls else None
    return Reply(first.name if first else None, dict(first.arguments) if first else {}, chat.response.text or "")


_ATTRS: Sequence[tuple[str, str, str | None]] = (
    (sc.SHADOW_STATUS, "status", None),
    (sc.SHADOW_SAME_TOOL, "same_tool", None),
    (sc.SHADOW_ARGS_EQUAL, "args_equal", None),
    (sc.SHADOW_ARGS_EQUIVALENT, "args_equivalent", None),
    (sc.SHADOW_AGREEMENT, "agreement", None),
    (sc.COST_USD, "cost_usd", None),
    (sc.SHADOW_RESERVED_USD, "reserved_usd", None),
    (sc.SHADOW_TIER, "shadow", "tier"),
    (sc.SHADOW_MODEL, "shadow", "model"),
    (sc.SHADOW_TOOL, "shadow", "tool"),
    (sc.SHADOW_LIVE_TIER, "live", "tier"),
    (sc.SHADOW_LIVE_MODEL, "live", "model"),
    (sc.SHADOW_LIVE_TOOL, "live", "tool"),
    (sc.SHADOW_JUDGE_LIVE, "judge", "live"),
    (sc.SHADOW_JUDGE_SHADOW, "judge", "shadow"),
)


def _annotate(span: Any, data: Mapping[str, Any]) -> None:
    for attr, key, sub in _ATTRS:
        value = data.get(key)
        if sub is not None:
            value = value.get(sub) if isinstance(value, Mapping) else None
        if value is not None:
            span.set_attribute(attr, value)
    if data.get("error"):
        span.set_attribute(sc.ERROR_TYPE, str(data["error"]).split(":", 1)[0])


def offer_shadow(engine: Engine, span: Any, decision: Decision, request: ChatRequest, live: ChatResult) -> None:
    """The model-call path's one line: a no-op unless shadow traffic is on."""
    if engine.shadow is not None:
        engine.shadow.offer(span, decision, request, live)
