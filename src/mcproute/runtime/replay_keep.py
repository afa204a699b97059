"""Keeping each routed step's inputs for `mcproute replay` (`replay:` in servers.yaml).

The engine captures, at the moment it calls `decide()`, everything that call read — the text and
its vector, hints, the conversation state before the step, the models and unhealthy deployments,
the clock, the catalogue (by version), how many tools had encoder vectors, the tier model version
and the feedback shift of the threshold — and, once the step is saved, this module writes them
with the decision `decide()` made (before any cascade or fallback) and the step's tokens, cost and
outcome to the replay log (state/replay.py). A failure to write is logged, never raised: the step
already happened.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mcproute.config import ReplayConfig
from mcproute.errors import StateError
from mcproute.router.step import ConversationState, Decision, ModelSpec, StepHints, ToolSpec
from mcproute.state.codec import encode_state
from mcproute.state.replay import ReplayLog, ReplayStore

if TYPE_CHECKING:
    from mcproute.runtime.engine import Engine, OpenStep

log = logging.getLogger("mcproute.runtime")
FORMAT = 1  # of the `inputs` JSON


@dataclass(frozen=True, slots=True)
class StepInputs:
    """What one `decide()` call read, captured by the engine right after it."""

    text: str
    hints: StepHints
    vector: Any  # numpy float32 or None
    state: ConversationState | None
    now: float
    models: tuple[ModelSpec, ...]
    unhealthy: tuple[str, ...]
    catalog_version: str
    catalog: Sequence[Mapping[str, Any]]  # that version's tool rows (shared, not copied: stored once)
    index_size: int
    index_vectors: int
    index_taught: int  # tools with examples in force: none while the first encoding pass runs
    scorer_version: str
    threshold_shift: float
    separator: str


def catalog_rows(tools: Mapping[str, ToolSpec]) -> list[dict[str, Any]]:
    return [
        {"name": s.name, "server": s.server, "description": s.description, "input_schema": dict(s.input_schema)}
        for s in tools.values()
    ]


def catalog_version(rows: Sequence[Mapping[str, Any]]) -> str:
    blob = json.dumps(list(rows), sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class ReplayRecorder:
    def __init__(self, config: ReplayConfig, store: ReplayLog) -> None:
        self.config = config
        self.store = store
        self._catalog: tuple[Mapping[str, ToolSpec] | None, str, list[dict[str, Any]]] = (None, "", [])

    def _version(self, tools: Mapping[str, ToolSpec]) -> tuple[str, list[dict[str, Any]]]:
        # engine.tool_map() returns one dict per catalogue object: hash each catalogue once.
        cached, version, rows = self._catalog
        if cached is not tools:
            rows = catalog_rows(tools)
            version = catalog_version(rows)
            self._catalog = (tools, version, rows)
        return version, rows

    def capture(
        self,
        engine: Engine,
        text: str,
        hints: StepHints | None,
        vector: Any,
        state: ConversationState | None,
        seen: tuple[Sequence[ModelSpec], Sequence[str], float],
    ) -> StepInputs:
        models, unhealthy, now = seen
        version, rows = self._version(engine.tool_map())
        return StepInputs(
            text,
            hints or StepHints(),
            vector,
            state,
            now,
            tuple(models),
            tuple(sorted(unhealthy)),
            version,
            rows,
            len(engine.index),
            engine.index.vector_count,
            engine.index.taught_count,
            engine.scorer.model_version,
            engine.calibration_state.shift,
            engine.config.gateway.separator,
        )

    async def keep(
        self,
        step: OpenStep,
        *,
        kind: str,
        usage: Mapping[str, Any] | None = None,
        outcome: Mapping[str, Any] | None = None,
    ) -> None:
        inputs = getattr(step, "inputs", None)
        if not isinstance(inputs, StepInputs):
            return
        try:
            await self.store.keep(
                self.row(step.step_id, step.decision, inputs, kind, usage, outcome),
                (inputs.catalog_version, inputs.catalog),
            )
        except StateError as exc:
            log.error("step %s ran but its replay inputs were not kept: %s", step.step_id, exc)

    def row(
        self,
        step_id: str,
        decision: Decision,
        inputs: StepInputs,
        kind: str,
        usage: Mapping[str, Any] | None,
        outcome: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        full = self.config.keep == "full"
        state = inputs.state
        if state is not None and not full:
            # The state's recent texts and last tool result are user content too.
            state = dataclasses.replace(state, recent_texts=(), last_result="")
        vector = inputs.vector
        meta = {
            "format": FORMAT,
            "kind": kind,
            "hints": dataclasses.asdict(inputs.hints),
            "now": inputs.now,
            "models": [dataclasses.asdict(m) for m in inputs.models],
            "unhealthy": list(inputs.unhealthy),
            "index_size": inputs.index_size,
            "index_vectors": inputs.index_vectors,
            "index_taught": inputs.index_taught,
            "scorer_version": inputs.scorer_version,
            "threshold_shift": inputs.threshold_shift,
            "separator": inputs.separator,
            "has_state": inputs.state is not None,
            "has_vector": vector is not None,
            "outcome": dict(outcome or {}),
        }
        return {
            "step_id": step_id,
            "conversation_id": decision.conversation_id,
            "text": inputs.text if full else None,
            "text_sha256": hashlib.sha256(inputs.text.encode("utf-8")).hexdigest(),
            # float32, as the encoder made it: exact replay needs the same bytes (docs/replay.md).
            "vector": np.asarray(vector, dtype=np.float32).tobytes() if full and vector is not None else None,
            "inputs": json.dumps(meta, separators=(",", ":"), default=str),
            "state": encode_state(state) if state is not None else None,
            "catalog_version": inputs.catalog_version,
            "tool": decision.tool,
            "tier": decision.tier,
            "model": decision.model,
            "decision": json.dumps(
                {
                    "tool": decision.tool,
                    "tier": decision.tier,
                    "model": decision.model,
                    "reasoning_score": decision.reasoning_score,
                    "threshold": decision.threshold,
                    "policy_version": decision.policy_version,
                    "deployment": decision.deployment,
                    "fast_streak": decision.fast_streak,
                },
                separators=(",", ":"),
                default=str,
            ),
            "usage": json.dumps(dict(usage), separators=(",", ":"), default=str) if usage else None,
        }


async def open_recorder(engine: Engine) -> ReplayRecorder | None:
    """The engine's recorder (beside SQLite or Redis state), or None when `replay.keep: off` or the state is in memory."""
    import anyio.to_thread

    from mcproute.state import SqliteStore
    from mcproute.state.redis_store import RedisStore

    config = engine.config.replay
    store = engine.store
    if config.keep == "off":
        return None
    kept: ReplayLog
    if isinstance(store, RedisStore):  # (redis_store imports redis-py only when a store is made)
        from mcproute.state.redis_replay import RedisReplayStore

        try:
            kept = RedisReplayStore(
                store.url, prefix=store.prefix, max_steps=config.max_steps, max_age_days=config.max_age_days
            )
        except StateError as exc:
            log.error("mcproute: replay inputs are not kept: %s", exc)
            return None
        return ReplayRecorder(config, kept)
    if not isinstance(store, SqliteStore):
        log.info("mcproute: replay inputs are not kept: the state backend is %s", engine.config.state.backend)
        return None
    path = store.active_path
    try:
        kept = await anyio.to_thread.run_sync(
            lambda: ReplayStore(path, max_steps=config.max_steps, max_age_days=config.max_age_days)
        )
    except StateError as exc:
        log.error("mcproute: replay inputs are not kept: %s", exc)
        return None
    return ReplayRecorder(config, kept)
