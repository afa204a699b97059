"""Re-deciding kept steps with a candidate config (`mcproute replay`).

Each kept step (state/replay.py) is decided again by the same pure `router.decide()`, from its
*recorded* pre-step conversation state, clock, hints, step vector and catalogue version — so a
difference in one step never cascades into the next — with the candidate's policy:

- `ToolIndex` rebuilt from the stored catalogue (tool vectors from the encoder's on-disk cache,
  attached when the recorded step's index had them);
- `TierScorer` with the candidate's tier examples and its calibration (`routing.threshold`,
  `routing.target_escalation_rate`), plus the feedback shift the threshold had at the step;
- the candidate's models and prices, with the recorded availability of each model and the
  recorded unhealthy deployments; `routing.*` (step_down_after, switch_cost, top_k,
  no_tool_threshold, ...) as the candidate sets it.

The report compares the recorded decision (what `decide()` returned, before any cascade or
fallback) with the replayed one: tool, tier, model.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mcproute.config import LoadedConfig
from mcproute.router.decide import decide
from mcproute.router.online_policy import versioned
from mcproute.router.retrieval_params import RetrievalParams
from mcproute.router.step import ModelSpec, Step, StepHints, ToolSpec
from mcproute.router.tiers import Calibration, TierScorer
from mcproute.router.tools import ToolIndex
from mcproute.runtime.calibration import base_calibration
from mcproute.runtime.tool_examples import TaughtVectors, blend
from mcproute.state.codec import decode_state
from mcproute.state.replay import KeptStep, ReplayLog

log = logging.getLogger("mcproute.replay")
_FLOOR, _CEILING = 0.01, 0.99  # runtime/calibration.py's bounds on a feedback-shifted threshold
SHOWN_CHANGES = 20


@dataclass
class ReplayReport:
    steps: int = 0  # kept steps read
    redecided: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> steps
    identical: int = 0  # same tool, tier and model
    tool_changed: int = 0
    tier_changed: Counter[str] = field(default_factory=Counter)  # "reasoning->fast" -> steps
    model_changed: int = 0
    tiers_before: Counter[str] = field(default_factory=Counter)
    tiers_after: Counter[str] = field(default_factory=Counter)
    costed: int = 0  # steps with recorded token counts
    cost_before: float = 0.0
    cost_after: float = 0.0
    rated: int = 0
    reward_before: float = 0.0
    reward_after: float = 0.0
    rated_after: int = 0  # rated steps whose "after" quality could be estimated
    changes: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    partial_vectors: int = 0  # steps decided while only some tools had encoder vectors (replayed with all)

    def shares(self, counts: Counter[str]) -> dict[str, float]:
        return {t: round(counts[t] / self.redecided, 4) if self.redecided else 0.0 for t in ("reasoning", "fast")}

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "redecided": self.redecided,
            "skipped": sum(self.skipped.values()),
            "skipped_by_reason": dict(self.skipped),
            "identical": self.identical,
            "identical_share": round(self.identical / self.redecided, 4) if self.redecided else None,
            "tool_changed": self.tool_changed,
            "tier_changed": sum(self.tier_changed.values()),
            "tier_changed_by_direction": dict(self.tier_changed),
            "model_changed": self.model_changed,
            "tier_share_before": self.shares(self.tiers_before),
            "tier_share_after": self.shares(self.tiers_after),
            "costed_steps": self.costed,
            "cost_usd_before": round(self.cost_before, 8),
            "cost_usd_after": round(self.cost_after, 8),
            "rated_steps": self.rated,
            "mean_reward_before": round(self.reward_before / self.rated, 4) if self.rated else None,
            "mean_reward_after": round(self.reward_after / self.rated_after, 4) if self.rated_after else None,
            "rated_steps_after": self.rated_after,
            "partial_vectors": self.partial_vectors,
            "changes": self.changes,
            "notes": self.notes,
        }


class Replayer:
    """The candidate's policy, built once, and the per-catalogue indexes it rebuilds."""

    def __init__(
        self, loaded: LoadedConfig, kept: ReplayLog, *, encoder: Any = None, scorer: TierScorer | None = None
    ) -> None:
        self.loaded = loaded
        self.config = loaded.config
        self.kept = kept
        self.encoder = encoder
        self.cache_dir = (
            loaded.config_relative(self.config.routing.encoder.cache_dir)
            if self.config.routing.encoder.cache_dir
            else None
        )
        scorer = scorer or TierScorer.load()
        if encoder is not None:
            scorer = scorer.with_examples(self._examples())
        self.scorer = scorer
        self.base, self.calibration_note = base_calibration(scorer, self.config.routing)
        # The candidate's tool examples shape its tool vectors, as in the gateway (runtime/tool_examples.py).
        self.tool_examples: TaughtVectors | None
        self.tool_examples, examples_id = self._tool_examples() if encoder is not None else (None, "")
        if examples_id:
            self.base = versioned(self.base, examples_id)
        self.policy = self.config.routing.model_copy(update={"threshold": None})  # folded into the calibration
        self._indexes: dict[tuple[str, bool, bool], tuple[ToolIndex, dict[str, ToolSpec]] | None] = {}
        self._scorers: dict[float, tuple[TierScorer, Calibration]] = {}

    # ------------------------------------------------------------ building the candidate

    def _examples(self) -> Any:
        from mcproute.encoding.steps import step_cache
        from mcproute.runtime.examples import encode_examples, examples_in_force

        cache = step_cache(self.cache_dir)
        try:
            return encode_examples(self.encoder, examples_in_force(self.config.routing.tiers), cache)
        finally:
            cache.close()

    def _tool_examples(self) -> tuple[TaughtVectors | None, str]:
        from mcproute.encoding.steps import step_cache
        from mcproute.runtime.tool_examples import (
            encode_tool_examples,
            examples_id,
            shipped_in_force,
            tool_examples_in_force,
        )

        pairs = tool_examples_in_force(self.config)
        if not pairs:
            return None, ""
        cache = step_cache(self.cache_dir)
        try:
            taught = encode_tool_examples(self.encoder, pairs, cache, shipped=shipped_in_force(self.config))
            return taught, examples_id(pairs)
        finally:
            cache.close()

    def _calibrated(self, shift: float) -> tuple[TierScorer, Calibration]:
        if shift not in self._scorers:
            base = self.base
            cal = (
                base
                if shift == 0.0
                else Calibration(
                    min(_CEILING, max(_FLOOR, base.threshold + shift)),
                    base.target_escalation_rate,
                    f"{base.version}+fb{shift:+.3f}",
                )
            )
            self._scorers[shift] = (self.scorer.with_calibration(cal), cal)
        return self._scorers[shift]

    def _index(
        self, version: str, with_vectors: bool, with_examples: bool = True
    ) -> tuple[ToolIndex, dict[str, ToolSpec]] | None:
        key = (version, with_vectors, with_examples)
        if key not in self._indexes:
            rows = self.kept.catalog(version)
            if rows is None:
                self._indexes[key] = None
            else:
                specs = [
                    ToolSpec(r["name"], r.get("description", ""), r.get("input_schema") or {}, r.get("server", ""))
                    for r in rows
                ]
                params = RetrievalParams.default().with_no_tool_threshold(self.config.routing.no_tool_threshold)
                index = ToolIndex(specs, params=params)
                if with_vectors:
                    self._attach(index, specs, with_examples)
                self._indexes[key] = (index, {s.name: s for s in specs})
        return self._indexes[key]

    def _attach(self, index: ToolIndex, specs: Sequence[ToolSpec], with_examples: bool = True) -> None:
        from mcproute.encoding import default_cache_dir
        from mcproute.encoding.cache import ToolVectorCache
        from mcproute.encoding.texts import tool_text

        cache = ToolVectorCache(Path(self.cache_dir or default_cache_dir()) / "tool-vectors.sqlite3")
        try:
            got = cache.vectors(self.encoder, [tool_text(s) for s in specs])
        finally:
            cache.close()
        found = {s.name: v for s, v in zip(specs, got.vectors, strict=True)}
        taught = self.tool_examples if with_examples else None
        index.attach_vectors(
            blend(found, taught.means) if taught else found,
            examples=taught.rows if taught else {},
            shipped=taught.shipped if taught else (),
            head=taught.head_for({s.name for s in specs}) if taught else None,
        )

    def models(self, recorded: Sequence[Mapping[str, Any]]) -> list[ModelSpec]:
        """The candidate's models, each with its recorded availability and deployments (by name)."""
        seen = {m["name"]: m for m in recorded}
        out = []
        for name, mc in self.config.models.items():
            r = seen.get(name)
            deployments = (
                tuple(r["deployments"]) if r else tuple(f"{name}#{i}" for i in range(max(1, len(mc.deployments))))
            )
            out.append(
                ModelSpec(
                    name,
                    mc.tier,
                    mc.price.input,
                    mc.price.output,
                    bool(r["available"]) if r else True,
                    r.get("unavailable_reason", "") if r else "",
                    deployments=deployments,
                    supports_tools=bool(r.get("supports_tools", True)) if r else True,
                )
            )
        return out

    # ------------------------------------------------------------ one step

    def redecide(self, kept: KeptStep, carry: Mapping[str, Any] | None = None) -> tuple[dict[str, Any] | None, str]:
        """The replayed decision (tool, tier, model, ...) or None and why the step was skipped.

        `carry` (`--cascade`): the candidate's decision for the conversation's previous kept step;
        when it differs from the recorded one and that step is the one the pre-step state follows,
        the state's tier, model, deployment and fast streak become the candidate's."""
        inputs = kept.inputs
        if kept.text is None:
            return None, "text not kept (replay.keep: hashes)"
        encoder_on = self.encoder is not None
        # The index as the step saw it: with vectors or not, and with the tool examples in force or
        # not yet (the first encoding pass attaches them; a step before it ranked without them).
        # Kept steps from before `index_taught` was recorded are replayed with the examples.
        built = self._index(
            kept.catalog_version,
            encoder_on and int(inputs.get("index_vectors", 0)) > 0,
            int(inputs.get("index_taught", 1)) > 0,
        )
        if built is None:
            return None, "catalogue version not stored"
        index, tools = built
        vector = np.frombuffer(kept.vector, dtype=np.float32) if kept.vector is not None and encoder_on else None
        if inputs.get("has_vector") and vector is None and encoder_on:
            return None, "step vector not kept"
        hints = StepHints(
            **{k: v for k, v in (inputs.get("hints") or {}).items() if k in StepHints.__dataclass_fields__}
        )
        state = decode_state(kept.conversation_id, kept.state) if kept.state is not None else None
        if carry is not None and state is not None and state.last_step_id == carry["step_id"] and carry["changed"]:
            state = replace(
                state,
                tier=carry["tier"],
                model=carry["model"],
                deployment=carry["deployment"],
                fast_streak=carry["fast_streak"],
            )
        scorer, cal = self._calibrated(float(inputs.get("threshold_shift", 0.0)))
        decision = decide(
            Step(kept.text, kept.conversation_id, kept.step_id, hints, vector=vector),
            state,
            index,
            scorer,
            cal,
            self.models(inputs.get("models") or []),
            self.policy,
            now=float(inputs.get("now", 0.0)),
            tools=tools,
            unhealthy=set(inputs.get("unhealthy") or ()),
            separator=self.config.gateway.separator,
        )
        return {
            "tool": decision.tool,
            "tier": decision.tier,
            "model": decision.model,
            "deployment": decision.deployment,
            "fast_streak": decision.fast_streak,
            "reasoning_score": decision.reasoning_score,
            "threshold": decision.threshold,
            "partial_vectors": encoder_on
            and 0 < int(inputs.get("index_vectors", 0)) < int(inputs.get("index_size", 0)),
        }, ""

    # ------------------------------------------------------------ the whole log

    def run(self, steps: Sequence[KeptStep], *, cascade: bool = False) -> ReplayReport:
        report = ReplayReport(steps=len(steps))
        report.notes.append(f"threshold: {self.calibration_note} ({self.base.threshold:.3f})")
        if cascade:
            report.notes.append(
                "--cascade: a changed tier/model carries into the conversation's next step; "
                "tools used and results stay as recorded"
            )
        carry: dict[str, dict[str, Any]] = {}  # conversation -> the candidate's previous decision
        if self.encoder is None:
            report.notes.append("no sentence encoder: steps are re-decided lexically and shape-only")
        done: list[tuple[KeptStep, dict[str, Any]]] = []
        for kept in steps:
            after, why = self.redecide(kept, carry.get(kept.conversation_id) if cascade else None)
            if after is None:
                report.skipped[why] += 1
                carry.pop(kept.conversation_id, None)
                continue
            changed = any(kept.decision.get(k) != after[k] for k in ("tool", "tier", "model"))
            carry[kept.conversation_id] = {**after, "step_id": kept.step_id, "changed": changed}
            done.append((kept, after))
        tier_reward: dict[str, list[float]] = {}
        for kept, _ in done:
            if kept.reward is not None:
                tier_reward.setdefault(str(kept.decision.get("tier")), []).append(kept.reward)
        for kept, after in done:
            _tally(report, kept, after, self.models(kept.inputs.get("models") or []), tier_reward)
        return report


def _tally(
    report: ReplayReport,
    kept: KeptStep,
    after: Mapping[str, Any],
    models: Sequence[ModelSpec],
    tier_reward: Mapping[str, Sequence[float]],
) -> None:
    before = kept.decision
    report.redecided += 1
    report.partial_vectors += bool(after.get("partial_vectors"))
    report.tiers_before[str(before.get("tier"))] += 1
    report.tiers_after[str(after["tier"])] += 1
    same_tool, same_tier, same_model = (before.get(k) == after[k] for k in ("tool", "tier", "model"))
    report.identical += same_tool and same_tier and same_model
    report.tool_changed += not same_tool
    report.model_changed += not same_model
    if not same_tier:
        report.tier_changed[f"{before.get('tier')}->{after['tier']}"] += 1
    if not (same_tool and same_tier and same_model) and len(report.changes) < SHOWN_CHANGES:
        report.changes.append(
            {
                "step_id": kept.step_id,
                "conversation_id": kept.conversation_id,
                "before": {k: before.get(k) for k in ("tool", "tier", "model")},
                "after": {k: after[k] for k in ("tool", "tier", "model")},
            }
        )
    usage = kept.usage
    if "input_tokens" in usage:
        recorded = {m["name"]: m for m in kept.inputs.get("models") or []}
        now = {m.name: m for m in models}
        tin, tout = float(usage.get("input_tokens") or 0), float(usage.get("output_tokens") or 0)
        b, a = recorded.get(str(before.get("model"))), now.get(str(after["model"]))
        report.costed += 1
        report.cost_before += (tin * b["price_input"] + tout * b["price_output"]) / 1e6 if b else 0.0
        report.cost_after += (tin * a.price_input + tout * a.price_output) / 1e6 if a else 0.0
    if kept.reward is not None:
        report.rated += 1
        report.reward_before += kept.reward
        if same_tool and same_tier and same_model:
            report.rated_after += 1
            report.reward_after += kept.reward
        elif tier_reward.get(str(after["tier"])):
            # Outcome unknown for a changed decision: estimated by the recorded mean of its new tier.
            rewards = tier_reward[str(after["tier"])]
            report.rated_after += 1
            report.reward_after += sum(rewards) / len(rewards)


def load_encoder(loaded: LoadedConfig) -> tuple[Any, str]:
    """The candidate's sentence encoder, or None and why (then replay ranks lexically)."""
    enc = loaded.config.routing.encoder
    if not enc.enabled:
        return None, "routing.encoder.enabled is false"
    from mcproute.encoding import default_cache_dir, load_shared

    cache_dir = loaded.config_relative(enc.cache_dir) if enc.cache_dir else default_cache_dir()
    weights = loaded.config_relative(enc.weights) if enc.weights else None
    try:
        return load_shared(
            cache_dir, weights, max_tokens=enc.max_tool_tokens, max_query_tokens=enc.max_query_tokens
        ), ""
    except Exception as e:  # noqa: BLE001 - EncoderUnavailable or the OS: replay still runs, lexically, and says so
        return None, f"{type(e).__name__}: {e}"
