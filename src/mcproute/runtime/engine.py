"""`Engine`: one decision per agent step, carried out and remembered.

    async with Engine(loaded) as engine:                      # gateway, pool, store, index, scorer
        ident = engine.identity(arguments={"conversation_id": "c1"})
        decision = await engine.route("what time is it in Paris?", identity=ident)       # dry run
        step = await engine.run_step("what time is it in Paris?", identity=ident)        # model + tool
        decision, chat = await engine.complete(messages, identity=ident, tools="mcp")   # one routed model call
        await engine.feedback(step.step_id, 1.0)

The engine is the only place that does I/O around the pure router: it loads the conversation's
state under the store's per-conversation lock (so concurrent steps of one conversation are
serialised, and different conversations never wait for each other), calls `router.decide`, asks
the pool, validates the model's tool call (cascading a fast model's bad call to the reasoning
tier), executes it downstream through the gateway, advances the state and saves it with the step
record, and traces it all as one trace per step (docs/telemetry.md).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import anyio

from mcproute.config import LoadedConfig
from mcproute.errors import InvalidRequest, StateError
from mcproute.gateway import Catalog, Gateway
from mcproute.gateway.identity import ConversationIdentity, resolve_conversation_id
from mcproute.providers import ChatResult, Message, ModelPool, ToolDef, http_client
from mcproute.router.conversation import StepOutcome, advance
from mcproute.router.decide import decide
from mcproute.router.online_policy import versioned
from mcproute.router.retrieval_params import RetrievalParams
from mcproute.router.step import ConversationState, Decision, ModelSpec, Step, StepHints, ToolSpec
from mcproute.router.tiers import TierScorer
from mcproute.router.tools import ToolIndex
from mcproute.runtime import tracing
from mcproute.runtime.access import allowed_models, check_hints, client_policy, install_access, policy_index
from mcproute.runtime.calibration import CalibrationState, base_calibration, calibrate, ignored_rate_warning
from mcproute.runtime.examples import TierExampleLoader
from mcproute.runtime.expose import VisibleTools, search_catalog
from mcproute.runtime.gauges import observed
from mcproute.runtime.learning import LearningLoop
from mcproute.runtime.messages import to_messages
from mcproute.runtime.replay_keep import ReplayRecorder, open_recorder
from mcproute.runtime.reply_cache import ReplyCache
from mcproute.runtime.results import StepResult
from mcproute.runtime.vectors import EncoderService
from mcproute.state import ConversationStore, PinStore, StepRecord, open_store
from mcproute.telemetry import decision as tdecision, metrics, spans

if TYPE_CHECKING:
    from mcproute.access import Policy
    from mcproute.router.tier_examples import ExampleSet
    from mcproute.runtime.replicas import Replicas
    from mcproute.runtime.shadow import ShadowRunner

log = logging.getLogger("mcproute.runtime")
# Conversations whose visible tool set is kept in memory under `expose: search`, and never more
# than the store keeps (`state.max_conversations`): a conversation evicted from this map lists
# the tools it used most recently (from its stored state) until its next step.
MAX_VISIBLE = 10_000
MAX_STEP_TEXT = 20_000  # characters a step's text may have (bigger is refused, not truncated)
ToolsArg = Sequence[ToolDef | Mapping[str, Any]] | Literal["mcp"] | None


def new_step_id() -> str:
    return "s-" + uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class OpenStep:
    """A step between its decision and its save (see `Engine.open_step`)."""

    store: ConversationStore
    step_id: str
    state: ConversationState | None
    decision: Decision
    span: Any  # the route span (opentelemetry.trace.Span)
    inputs: Any = None  # what decide() read, for the replay log (runtime/replay_keep.StepInputs), or None
    vector: Any = None  # the step text's encoder vector (np.ndarray) or None: the reply cache reuses it


class Engine:
    def __init__(
        self,
        loaded: LoadedConfig,
        *,
        gateway: Gateway | None = None,
        store: ConversationStore | None = None,
        pool: ModelPool | None = None,
        scorer: TierScorer | None = None,
        clock: Callable[[], float] = time.time,
        pool_options: Mapping[str, Any] | None = None,
        meta_tools: bool = True,
    ) -> None:
        """Pass `gateway`/`store`/`pool` to share ones the caller owns (they are then not closed here)."""
        self.loaded = loaded
        self.config = loaded.config
        self.gateway = gateway if gateway is not None else Gateway(loaded)
        self._own_gateway = gateway is None
        self.store: ConversationStore | None = store
        self._own_store = store is None
        self.pool: ModelPool | None = pool
        self._pool_options = dict(pool_options or {})
        self._meta_tools = meta_tools
        self.scorer = scorer or TierScorer.load()
        self.clock = clock
        base, note = base_calibration(self.scorer, self.config.routing)
        if (ignored := ignored_rate_warning(self.scorer, self.config.routing)) is not None:
            log.warning("mcproute: %s", ignored)
        self._set_calibration(CalibrationState(base, base, 0.0, note))
        # The engine passes its own (feedback-adjusted) calibration, so the config override is
        # folded into it here instead of letting decide() apply routing.threshold on top.
        self.policy = self.config.routing.model_copy(update={"threshold": None})
        self.index = ToolIndex(params=RetrievalParams.default().with_no_tool_threshold(self.policy.no_tool_threshold))
        self._indexed: dict[str, tuple[Any, ...]] = {}  # server -> fingerprint of what is indexed
        self._stack = AsyncExitStack()
        self.replicas: Replicas | None = None
        # conversation id -> the tools it currently sees under `gateway.expose: search` (expose.py)
        self.visible = VisibleTools(
            min(MAX_VISIBLE, self.config.state.max_conversations) if self.config.gateway.expose == "search" else 0
        )
        # name -> spec of every proxied tool, for the catalogue object it was built from (the
        # gateway builds a new immutable Catalog on every change, so identity is its version)
        self._tool_map: tuple[Catalog | None, dict[str, ToolSpec]] = (None, {})
        self._deployments: dict[str, tuple[str, ...]] | None = None  # model -> deployment keys (fixed per pool)
        # Conversations named by a stdio connection that have routed a step (one per stdio process):
        # only these record the connection's proxied calls (runtime/hooks.py).
        self.routed_connections: set[str] = set()
        # The sentence encoder: loaded and fed the catalogue in the background (runtime/vectors.py);
        # until it is ready, steps rank lexically.
        self.vectors = EncoderService(loaded)
        self.examples = TierExampleLoader()  # attaches the encoded tier examples once the encoder loads
        self._step_wait_until = 0.0  # steps before this perf_counter() may wait for them (routing.encoder.step_wait)
        self.replay_log: ReplayRecorder | None = None  # keeps each step's inputs (`replay:`), opened with the store
        self._decide_seen: tuple[Any, Any, float] = ((), (), 0.0)  # models, unhealthy, now of the last _decide
        self.reply_cache = ReplyCache.from_config(self.config.cache)  # replies reused in front of the model call
        self.shadow: ShadowRunner | None = None  # routing.shadow (runtime/shadow.py); None while it is off
        learning = self.config.routing.learning
        self.learning: LearningLoop | None = LearningLoop(learning) if learning.enabled else None  # docs/learning.md
        self.tool_examples_id = ""  # "tx-<hash>" of servers.<name>.tools.examples in force, in every policy version

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Engine:
        await self._stack.__aenter__()
        try:
            if self.store is None:
                self.store = await open_store(self.config.state, self.loaded.data_path())
                self._stack.push_async_callback(self.store.close)
                if self.store.recovered:
                    log.warning("mcproute: %s", self.store.recovered)
            if self.learning is not None:
                await self.learning.load(self.store)  # the learned version in force, if any
            if self._own_gateway:
                if isinstance(self.store, PinStore):
                    # Pins live in the state store (opened first): the gateway judges the very
                    # first listings against them.
                    self.gateway.attach_pins(self.store)
                await self._stack.enter_async_context(self.gateway)
            if self.pool is None:
                # The pool's one shared client, plus a request hook that carries the step's trace
                # context to the provider (the current span while the pool sends is the route span).
                client = await self._stack.enter_async_context(
                    http_client(event_hooks={"request": [tracing.inject_request]})
                )
                self.pool = ModelPool(self.loaded, client, **self._pool_options)
            self.replay_log = await open_recorder(self)
            if self.replay_log is not None:
                self._stack.push_async_callback(self.replay_log.store.close)
            self._stack.callback(install_access(self))  # per-client policy and limits (docs/security.md)
            if self.config.gateway.expose == "search":
                self._install_list_filter()
            self._sync_index(self.gateway.catalog)
            self._stack.callback(self.gateway.on_catalog_change(self._sync_index))
            self._stack.enter_context(observed(self))  # breaker and server-health gauges
            from mcproute.runtime.hooks import install_hooks  # late: they import the engine's types
            from mcproute.runtime.metatools import install_meta_tools
            from mcproute.runtime.replicas import install_replicas

            for remove in [*install_hooks(self), *(install_meta_tools(self) if self._meta_tools else [])]:
                self._stack.callback(remove)
            # Added after the proxied-call hook, so it runs inside it (closest to the downstream).
            self.replicas, remove_replicas = install_replicas(self)
            self._stack.callback(remove_replicas)
            health = self._shared_health()
            if self.replicas.sets or self.config.routing.encoder.enabled or health is not None:
                tg = await self._stack.enter_async_context(anyio.create_task_group())
                self._stack.callback(tg.cancel_scope.cancel)
                if self.replicas.sets:
                    await self.replicas.start(tg)
                if health is not None:
                    tg.start_soon(health.run)
                tg.start_soon(self.vectors.run, self.tool_map, lambda: self.index)
                tg.start_soon(self.examples.run, self)
            if self.config.routing.shadow.rate > 0:  # after the store and pool: it exits before them
                from mcproute.runtime.shadow import ShadowRunner

                self.shadow = await self._stack.enter_async_context(ShadowRunner(self))
            self._step_wait_until = time.perf_counter() + self.config.routing.encoder.step_wait
            await self.refresh_calibration()
        except BaseException:
            await self._stack.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.__aexit__(None, None, None)

    def _shared_health(self) -> Any:
        """With Redis state, replicas share open circuits and Retry-After (providers/shared_health.py)."""
        from mcproute.state.redis_store import RedisStore  # imports redis-py only when a store is made

        if not isinstance(self.store, RedisStore) or self.pool is None:
            return None
        from mcproute.providers.shared_health import SharedHealth

        return SharedHealth(self.store.client, self.store.prefix, self.pool.healths(), mono=self.pool.clock)

    def _install_list_filter(self) -> None:
        # `gateway.list_filter(tools, route) -> tools` is the per-request tools/list view that
        # `Upstream._list_tools` applies (see docs/runtime.md, "expose: search").
        from mcproute.runtime.expose import visible_tools

        async def view(tools: Sequence[Mapping[str, Any]], route: Any) -> list[Mapping[str, Any]]:
            return await visible_tools(self, tools, route)

        self.gateway.list_filter = view
        self._stack.callback(lambda: setattr(self.gateway, "list_filter", None))

    def decision_calibration(self) -> Any:
        """The calibration decisions use now; its version also names the tool examples in force
        (servers.<name>.tools.examples and the shipped ones shape the tool vectors)."""
        cal = self.calibration
        return versioned(cal, self.tool_examples_id) if self.tool_examples_id else cal

    @property
    def calibration(self) -> Any:
        return self.calibration_state.current

    def _set_calibration(self, state: CalibrationState) -> None:
        self.calibration_state = state
        # The scorer's own sentence names the threshold ("Score 0.25 vs threshold 0.30 ..."): give
        # it the one in force, so a decision's reason never quotes two different thresholds.
        self._decide_scorer = self.scorer.with_calibration(state.current)

    async def wait_settled(self) -> None:
        """For one-shot commands and tests, which should decide as a warm gateway does: the tool
        vectors are in (or known not to come) and the tier examples are attached (or cannot be).
        The gateway itself never waits: it serves lexically, and scores shape-only, meanwhile."""
        await self.vectors.wait_settled()
        while self.config.routing.encoder.enabled and self.vectors.encoder is not None and not self.tier_examples_ready:
            await anyio.sleep(0.02)
        if self.config.routing.encoder.enabled and self.vectors.encoder is not None:
            await self.examples.settled.wait()  # the tool examples too (blended into the tool vectors)

    def install_tier_examples(self, found: ExampleSet) -> None:
        """Let the scorer compare every step with these examples, and recalibrate with them."""
        self.scorer = self.scorer.with_examples(found)
        base, note = base_calibration(self.scorer, self.config.routing)
        self._set_calibration(CalibrationState(base, base, 0.0, note))

    @property
    def tier_examples_ready(self) -> bool:
        return self.examples.ready

    def _require(self) -> tuple[ModelPool, ConversationStore]:
        if self.pool is None or self.store is None:
            raise RuntimeError("use the Engine as an async context manager (async with Engine(loaded) as engine)")
        return self.pool, self.store

    # ------------------------------------------------------------ catalogue → index

    def _sync_index(self, catalog: Catalog) -> None:
        """Re-index only the servers whose tools changed (ToolIndex.update is per server); the
        encoder service then encodes (or reads from its cache) the changed tools' vectors."""
        self._update_index(catalog)
        self.vectors.changed()

    def _update_index(self, catalog: Catalog) -> None:
        tools = self._build_tool_map(catalog)
        by_server: dict[str, list[ToolSpec]] = {}
        for spec in tools.values():  # meta-tools are not in it: they are not candidates for a step
            by_server.setdefault(spec.server, []).append(spec)
        fps = {
            server: tuple(
                (s.name, s.description, json.dumps(s.input_schema, sort_keys=True, default=str)) for s in specs
            )
            for server, specs in by_server.items()
        }
        if not self._indexed:
            # First sight of the catalogue: one batch build (per-server updates re-walk the
            # whole index each time, quadratic in the number of servers at start-up).
            self.index = ToolIndex(list(tools.values()), params=self.index.params)
            self._indexed = fps
            return
        for server in set(self._indexed) - set(by_server):
            self.index.update(server, [])
            del self._indexed[server]
        for server, specs in by_server.items():
            if self._indexed.get(server) != fps[server]:
                self.index.update(server, specs)
                self._indexed[server] = fps[server]

    def _build_tool_map(self, catalog: Catalog) -> dict[str, ToolSpec]:
        tools = {s.name: s for s in catalog.tool_specs() if s.server}
        self._tool_map = (catalog, tools)
        return tools

    def tool_map(self) -> dict[str, ToolSpec]:
        """Proxied tools by namespaced name (meta-tools excluded). Built once per catalogue: the
        cache is keyed on the gateway's current Catalog object, so a change is seen at once, even
        before the change listener (`_sync_index`) has run. Callers must not mutate it."""
        catalog = self.gateway.catalog
        cached_for, tools = self._tool_map
        return tools if cached_for is catalog else self._build_tool_map(catalog)

    def pool_view(self) -> tuple[list[ModelSpec], set[str]]:
        """The models as the router sees them (with each model's deployment keys, for sticky
        deployments) and the deployments it must avoid, from ONE walk of the pool's status."""
        pool, _ = self._require()
        if self._deployments is None:  # the pool's entries are fixed when it is built
            self._deployments = {e.name: tuple(r.key for r in e.routes) for e in pool.entries}
        rows = pool.status()
        specs = [
            ModelSpec(
                row.name,
                entry.tier,
                entry.price.input,
                entry.price.output,
                row.state in ("available", "degraded"),
                row.reason,
                deployments=self._deployments.get(row.name, ()),
            )
            for row, entry in zip(rows, pool.entries, strict=True)
        ]
        unhealthy = {
            d.key
            for row in rows
            for d in row.deployments
            if d.circuit in ("open", "unavailable") or d.rate_limited_for > 0
        }
        return specs, unhealthy

    def model_specs(self) -> list[ModelSpec]:
        """The pool's view plus each model's deployment keys (for sticky deployments)."""
        return self.pool_view()[0]

    def unhealthy_deployments(self) -> set[str]:
        return self.pool_view()[1]

    # ------------------------------------------------------------ identity

    def identity(
        self,
        *,
        arguments: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        session_id: str | None = None,
        connection_id: str | None = None,
    ) -> ConversationIdentity:
        """`gateway.identity.resolve_conversation_id` with this config's traceparent and connection switches."""
        return resolve_conversation_id(
            arguments=arguments,
            meta=meta,
            headers=headers,
            session_id=session_id,
            connection_id=connection_id,
            from_traceparent=self.policy.conversation_from_traceparent,
            from_connection=self.policy.conversation_from_connection,
        )

    # ------------------------------------------------------------ decisions

    def _decide(
        self,
        text: str,
        cid: str,
        step_id: str,
        hints: StepHints | None,
        state: Any,
        vector: Any = None,
        access: Policy | None = None,
    ) -> Decision:
        """`access`: the calling client's policy; its hidden tools and models are not offered to the router."""
        step = Step(text, cid, step_id, hints or StepHints(), vector=vector)
        models, unhealthy = self.pool_view()
        index: Any = self.index
        if access is not None:
            models, index = allowed_models(access, models), policy_index(self, access)
        now = self.clock()
        self._decide_seen = (models, unhealthy, now)  # read back at once by open_step, for the replay log
        scorer: Any = self._decide_scorer
        calibration, learning = self.decision_calibration(), self.learning
        if learning is not None:  # the adopted learned version wraps the static index and scorer
            # What this client may use: a tool the learner votes for but the client's policy hides never joins.
            specs = self.tool_map()
            available = frozenset(
                n
                for n, spec in specs.items()
                if access is None or access.unrestricted_tools or access.allows_tool(n, spec.server)
            )
            index = learning.index(index, available)
            scorer, calibration = learning.scorer(scorer), versioned(calibration, learning.version_id)
        decision = decide(
            step,
            state,
            index,
            scorer,
            calibration,
            models,
            self.policy,
            now=now,
            tools=self.tool_map(),
            unhealthy=unhealthy,
            separator=self.config.gateway.separator,
            clock=time.perf_counter,
        )
        if learning is not None:
            learning.remember(step_id, vector, index.static, available, decision.tier)
        return decision

    async def load_step_state(self, cid: str) -> tuple[ConversationState | None, str | None]:
        """The conversation's state and its previous step's route span (a traceparent kept in that
        step's record, so the link survives restarts), in one store read. Call it under
        `store.lock(cid)`: the lock, not this read, is what serialises a conversation's steps."""
        _, store = self._require()
        state, record = await store.load_with_last_step(cid)
        tp = record.decision.get("traceparent") if record is not None else None
        return state, tp if isinstance(tp, str) else None

    @asynccontextmanager
    async def open_step(
        self,
        text: str,
        cid: str,
        hints: StepHints | None,
        meta: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
    ) -> AsyncIterator[OpenStep]:
        """What every routed step does first, and holds until it is saved: continue the caller's
        trace, take the conversation's lock, load its state and previous step, open the route
        span, decide, and put the decision on the span."""
        _, store = self._require()
        step_id = new_step_id()
        client, access = client_policy(self, headers)
        check_hints(access, hints, self.config)
        with tracing.continued(meta, headers), spans.conversation_context(cid), spans.client_context(client):
            spans.enrich_server_span(cid)
            # Before the lock: the vector depends on the text alone (once per step, inline: see
            # EncoderService.query_vector for why not in a thread). Steps use it only once the tier
            # examples (and the calibration made with them) are in: in the short window between
            # the encoder loading and the examples attaching, a vector-based tier score would
            # differ from both the warm gateway's and the shape-only fallback's.
            if not self.tier_examples_ready and self.config.routing.encoder.enabled:
                # The first steps after start-up wait (bounded) for the encoder and its examples,
                # ~0.4 s from the on-disk cache, so a short session decides as a warm one does.
                await self.examples.wait(until=self._step_wait_until)
            vector = self.vectors.query_vector(text) if self.tier_examples_ready else None
            async with store.lock(cid):
                state, previous = await self.load_step_state(cid)
                with spans.route_span(cid, step_id, previous=previous) as span:
                    decision = self._decide(text, cid, step_id, hints, state, vector, access)
                    tdecision.record_decision(span, decision)
                    metrics.record_decision(decision)
                    spans.record_step_text(span, text)
                    inputs = (
                        self.replay_log.capture(self, text, hints, vector, state, self._decide_seen)
                        if self.replay_log is not None
                        else None
                    )
                    yield OpenStep(store, step_id, state, decision, span, inputs, vector)

    def _record_json(self, decision: Decision, **extra: Any) -> str:
        data = decision.to_dict()
        tp = tracing.current_traceparent()
        if tp:
            data["traceparent"] = tp
        data.update({k: v for k, v in extra.items() if v is not None})
        return json.dumps(data, default=str)

    async def route(
        self,
        text: str,
        *,
        identity: ConversationIdentity,
        hints: StepHints | None = None,
        dry_run: bool = True,
        meta: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Decision:
        """Decide one step. A dry run changes nothing; otherwise the step is recorded (so feedback
        can find it) and the conversation advances as if the caller carries the decision out."""
        text = _check_text(text)
        cid = identity.id
        async with self.open_step(text, cid, hints, meta, headers) as step:
            decision = step.decision
            step.span.set_attribute("mcproute.dry_run", dry_run)
            self.visible.remember(cid, decision, self.policy.top_k)
            if not dry_run:
                now = self.clock()
                outcome = StepOutcome(text=text)
                await step.store.record_step(
                    cid,
                    step.step_id,
                    self._record_json(decision, kind="route"),
                    lambda s: advance(s, decision, outcome, now=now),
                )
                await self.keep_replay(step, kind="route")
        return decision

    # ------------------------------------------------------------ one step, carried out

    async def run_step(
        self,
        text: str,
        *,
        identity: ConversationIdentity,
        hints: StepHints | None = None,
        top_k: int | None = None,
        messages: Sequence[Message | Mapping[str, Any]] | None = None,
        meta: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> StepResult:
        from mcproute.runtime.steps import execute_step

        return await execute_step(
            self,
            _check_text(text),
            identity=identity,
            hints=hints,
            top_k=top_k,
            messages=messages,
            meta=meta,
            headers=headers,
        )

    async def complete(
        self,
        messages: Sequence[Message | Mapping[str, Any]],
        *,
        identity: ConversationIdentity,
        hints: StepHints | None = None,
        tools: ToolsArg = None,
        meta: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        max_tokens: int = 1024,
        temperature: float | None = None,
        dry_run: bool = False,
    ) -> tuple[Decision, ChatResult]:
        """One routed model call for a chat-completions request (the OpenAI endpoint calls this).

        `tools`: None (no tools), "mcp" (the decision's top-k catalogue tools) or the client's own
        tools (OpenAI or MCP shapes). The model's tool calls are returned, not executed; a fast
        model's invalid call is cascaded to the reasoning tier. The conversation's state advances
        (the tier is kept while the reply's tool calls await their results)."""
        from mcproute.runtime.steps import execute_complete

        msgs = to_messages(messages)
        if not msgs:
            raise InvalidRequest("messages must not be empty")
        return await execute_complete(
            self,
            msgs,
            identity=identity,
            hints=hints,
            tools=tools,
            meta=meta,
            headers=headers,
            max_tokens=max_tokens,
            temperature=temperature,
            dry_run=dry_run,
        )

    # ------------------------------------------------------------ catalogue search

    async def search_tools(
        self,
        query: str,
        *,
        identity: ConversationIdentity | None = None,
        k: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Ranked catalogue search (progressive disclosure): name, server, score, description, schema;
        only tools the caller (`headers`: its principal) may use (runtime/expose.py)."""
        return await search_catalog(self, _check_text(query), identity=identity, k=k, headers=headers)

    # ------------------------------------------------------------ feedback

    async def feedback(self, step_id: str, reward: float) -> StepRecord:
        """Store a reward in [-1, 1] for a step; UnknownStep if it was never issued (or expired).
        The calibration is recomputed from the stored rewards (bounded shift, see calibration.py)."""
        _, store = self._require()
        if not isinstance(step_id, str) or not step_id or len(step_id) > 200:
            raise InvalidRequest("step_id must be a non-empty string of at most 200 characters")
        record = await store.record_feedback(step_id, reward)
        await self.refresh_calibration()
        if self.learning is not None and self.learning.feedback(step_id, float(reward)):
            await self.learning.maybe_propose(store, time.time())
        return record

    async def keep_replay(
        self,
        step: OpenStep,
        *,
        kind: str,
        usage: Mapping[str, Any] | None = None,
        outcome: Mapping[str, Any] | None = None,
    ) -> None:
        """Write the step's inputs to the replay log (`replay:`); a no-op when it is off."""
        if self.replay_log is not None:
            await self.replay_log.keep(step, kind=kind, usage=usage, outcome=outcome)

    async def refresh_calibration(self) -> CalibrationState:
        _, store = self._require()
        try:
            stats = await store.feedback_stats()
        except StateError:
            return self.calibration_state
        base = self.calibration_state.base
        note = self.calibration_state.note.split("; ")[0]
        self._set_calibration(calibrate(base, stats, note))
        return self.calibration_state


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise InvalidRequest(f"the step text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise InvalidRequest("the step text is empty")
    if len(text) > MAX_STEP_TEXT:
        raise InvalidRequest(f"the step text is {len(text)} characters long; the limit is {MAX_STEP_TEXT}")
    return text
