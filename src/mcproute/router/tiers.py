"""Reasoning-vs-fast tier score: how much reason a step gives to use the reasoning tier.

Pure: parameters are read once (`TierScorer.load`), then `score()` is arithmetic on the step's
text and the conversation signals — no I/O, no clock. The score lives in logit space internally
so that each contribution adds, and the contributions are returned for explanation.

    z = text logit (form features + learned word models, see tier_features.py)
      + conversation signals (previous tier, tool errors, failed validations, step count)
      + intelligence priority shift (MCP modelPreferences.intelligencePriority, 0..1)
    score = sigmoid(z); a tier_override wins outright (score 1.0 or 0.0).

The parameter file carries the calibration (threshold for a target escalation rate); its
content hash is the policy version, so any change to weights or threshold shows up in every
decision record instead of drifting silently.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mcproute.errors import ConfigError
from mcproute.router.step import Tier
from mcproute.router.tier_features import FORM_FEATURES, analyse

MODEL_FORMAT = "mcproute.tier_model/1"
DEFAULT_MODEL = "tier_model.json"


@dataclass(frozen=True, slots=True)
class TierSignals:
    """Conversation signals beyond the step's text (all optional)."""

    previous_tier: Tier | None = None
    tool_errors: int = 0  # consecutive tool errors in this conversation
    failed_validations: int = 0  # model replies that failed schema/tool validation
    step_count: int = 0  # steps already taken in this conversation
    intelligence_priority: float | None = None  # MCP modelPreferences, 0..1
    tier_override: Tier | None = None  # the user asked for a tier outright


@dataclass(frozen=True, slots=True)
class TierScore:
    score: float  # in [0, 1]; higher = more reason for the reasoning tier
    text_score: float  # the text alone, before conversation signals
    signals: Mapping[str, float]  # logit contributions that moved the score, by name
    reason: str  # one human sentence

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "text_score": self.text_score, "signals": dict(self.signals), "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Calibration:
    threshold: float  # reasoning tier when score >= threshold
    target_escalation_rate: float  # share of steps the threshold was set to escalate
    version: str  # policy version: model content hash + calibration

    def tier_for(self, score: float) -> Tier:
        return "reasoning" if score >= self.threshold else "fast"


def calibrate(scores: Sequence[float], target_rate: float, model_version: str) -> Calibration:
    """The threshold that sends about `target_rate` of these scores to the reasoning tier.

    The threshold is the smallest score among the top `target_rate` share, so ties never push
    the escalation rate below the target; an empty sample keeps the neutral 0.5.
    """
    if not 0.0 <= target_rate <= 1.0:
        raise ValueError(f"target_rate must be within [0, 1], got {target_rate}")
    ordered = sorted((float(s) for s in scores), reverse=True)
    if not ordered:
        threshold = 0.5
    elif target_rate <= 0.0:
        threshold = math.nextafter(ordered[0], math.inf)
    else:
        k = max(1, min(len(ordered), round(target_rate * len(ordered))))
        threshold = ordered[k - 1]
    return Calibration(threshold, target_rate, policy_version(model_version, threshold, target_rate))


def policy_version(model_version: str, threshold: float, target_rate: float) -> str:
    cal = hashlib.sha256(f"{threshold:.9f}/{target_rate:.6f}".encode()).hexdigest()[:6]
    return f"tiers-{model_version}-{cal}"


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True, slots=True)
class _WordModel:
    bias: float
    mean: float  # of raw outputs on the training set, to standardise
    scale: float
    weights: Mapping[str, float]

    def z(self, tokens: frozenset[str]) -> float:
        w = self.weights
        raw = self.bias + sum(w.get(t, 0.0) for t in tokens) / math.sqrt(max(1, len(tokens)))
        return (raw - self.mean) / self.scale


def _word_model(d: Mapping[str, Any]) -> _WordModel:
    return _WordModel(float(d["bias"]), float(d["mean"]), float(d["scale"]) or 1.0,
                      MappingProxyType({str(k): float(v) for k, v in d["weights"].items()}))


@dataclass(frozen=True)
class TierScorer:
    form_mean: tuple[float, ...]
    form_scale: tuple[float, ...]
    form_weights: tuple[float, ...]
    bias: float
    words: Mapping[str, tuple[_WordModel, float]]  # name -> (model, weight in the text logit)
    signal_weights: Mapping[str, float]
    calibration: Calibration
    model_version: str
    params: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path | None = None) -> TierScorer:
        """Read a parameter file (default: the one shipped in mcproute/data); ConfigError if bad."""
        where = str(path) if path is not None else f"mcproute/data/{DEFAULT_MODEL}"
        try:
            if path is None:
                raw = resources.files("mcproute").joinpath("data", DEFAULT_MODEL).read_bytes()
            else:
                raw = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError([f"{where}: cannot read tier model: {exc.strerror}"]) from None
        try:
            params = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError([f"{where}: tier model is not valid JSON ({exc})"]) from None
        return cls.from_params(params, version=hashlib.sha256(raw).hexdigest()[:10], where=where)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], version: str | None = None, where: str = "<params>") -> TierScorer:
        if version is None:
            blob = json.dumps(params, sort_keys=True, separators=(",", ":")).encode()
            version = hashlib.sha256(blob).hexdigest()[:10]
        try:
            if params.get("format") != MODEL_FORMAT:
                raise ValueError(f"format is {params.get('format')!r}, expected {MODEL_FORMAT!r}")
            form = params["form"]
            if tuple(form["names"]) != FORM_FEATURES:
                raise ValueError("form feature names differ from this version of mcproute")
            comb = params["combine"]
            words = {name: (_word_model(params["words"][name]), float(w)) for name, w in comb["words"].items()}
            cal = params["calibration"]
            thr, rate = float(cal["threshold"]), float(cal["target_escalation_rate"])
            scorer = cls(
                form_mean=tuple(float(v) for v in form["mean"]),
                form_scale=tuple(float(v) or 1.0 for v in form["scale"]),
                form_weights=tuple(float(v) for v in comb["form"]),
                bias=float(comb["bias"]),
                words=MappingProxyType(words),
                signal_weights=MappingProxyType({k: float(v) for k, v in params["signals"].items()}),
                calibration=Calibration(thr, rate, policy_version(version, thr, rate)),
                model_version=version,
                params=MappingProxyType(dict(params)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError([f"{where}: malformed tier model: {exc!r}"]) from None
        n = len(FORM_FEATURES)
        if not (len(scorer.form_mean) == len(scorer.form_scale) == len(scorer.form_weights) == n):
            raise ConfigError([f"{where}: malformed tier model: form vectors must have {n} entries"])
        return scorer

    def calibrate(self, scores: Sequence[float], target_rate: float) -> Calibration:
        return calibrate(scores, target_rate, self.model_version)

    def with_calibration(self, calibration: Calibration) -> TierScorer:
        return TierScorer(self.form_mean, self.form_scale, self.form_weights, self.bias, self.words,
                          self.signal_weights, calibration, self.model_version, self.params)

    # -- scoring --------------------------------------------------------------------------------

    def text_logit(self, text: str) -> tuple[float, dict[str, float]]:
        """The text's logit and its parts (form, and each word model)."""
        feats = analyse(text)
        form = sum(w * (x - m) / s for w, x, m, s in zip(self.form_weights, feats.form, self.form_mean, self.form_scale))
        parts = {"form": form}
        for name, (model, weight) in self.words.items():
            parts[name] = weight * model.z(feats.tokens)
        return self.bias + sum(parts.values()), parts

    def score(self, text: str, signals: TierSignals | None = None) -> TierScore:
        sig = signals or TierSignals()
        z_text, parts = self.text_logit(text)
        text_score = _sigmoid(z_text)
        contrib = {f"text.{k}": round(v, 4) for k, v in parts.items()}
        if sig.tier_override is not None:
            if sig.tier_override not in ("reasoning", "fast"):
                raise ValueError(f"tier_override must be 'reasoning' or 'fast', got {sig.tier_override!r}")
            contrib["tier_override"] = 1.0 if sig.tier_override == "reasoning" else -1.0
            return TierScore(1.0 if sig.tier_override == "reasoning" else 0.0, text_score,
                             MappingProxyType(contrib),
                             f"The user asked for the {sig.tier_override} tier, which overrides the score.")
        sw = self.signal_weights
        cap = sw.get("max_errors", 3.0)
        extra: dict[str, float] = {}
        if sig.previous_tier == "reasoning":
            extra["previous_tier"] = sw.get("previous_reasoning", 0.0)
        if sig.tool_errors > 0:
            extra["tool_errors"] = sw.get("tool_error", 0.0) * min(sig.tool_errors, cap)
        if sig.failed_validations > 0:
            extra["failed_validations"] = sw.get("failed_validation", 0.0) * min(sig.failed_validations, cap)
        if sig.step_count > 0:
            extra["step_count"] = sw.get("step_count", 0.0) * math.log1p(sig.step_count)
        if sig.intelligence_priority is not None:
            p = min(1.0, max(0.0, float(sig.intelligence_priority)))
            if not math.isnan(p):
                extra["intelligence_priority"] = sw.get("priority", 0.0) * (p - 0.5)
        extra = {k: round(v, 4) for k, v in extra.items() if v != 0.0}
        contrib.update(extra)
        score = _sigmoid(z_text + sum(extra.values()))
        return TierScore(score, text_score, MappingProxyType(contrib), self._reason(score, parts, extra))

    def _reason(self, score: float, parts: Mapping[str, float], extra: Mapping[str, float]) -> str:
        tier = self.calibration.tier_for(score)
        # The two word models both speak about the topic: one phrase for their sum.
        text_parts = {"form": parts.get("form", 0.0),
                      "topic": sum(v for k, v in parts.items() if k != "form")}
        named = {**{f"the step's {_LABEL[k]}": v for k, v in text_parts.items()},
                 **{_LABEL.get(k, k): v for k, v in extra.items()}}
        # The biggest push in the direction of the outcome explains it best.
        sign = 1.0 if tier == "reasoning" else -1.0
        top = sorted(((sign * v, k) for k, v in named.items() if sign * v > 0.05), reverse=True)[:2]
        because = " and ".join(k for _, k in top) or "no strong signal either way"
        return (f"Score {score:.2f} vs threshold {self.calibration.threshold:.2f} picks the {tier} tier, "
                f"mostly because of {because}.")


_LABEL = {
    "form": "shape (how much it looks like arithmetic, code, logic or multi-step work)",
    "topic": "topic (how the fast and strong models fared on similar questions)",
    "previous_tier": "the previous step being on the reasoning tier",
    "tool_errors": "recent tool errors",
    "failed_validations": "failed validations",
    "step_count": "a long conversation",
    "intelligence_priority": "the client's intelligence priority",
}
