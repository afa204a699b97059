"""Reasoning-vs-fast tier score: how much reason a step gives to use the reasoning tier.

Pure: parameters are read once (`TierScorer.load`), example vectors are attached once
(`with_examples`), then `score()` is arithmetic on the step's text, its encoder vector and the
conversation signals — no I/O, no clock, and no encoder call (the engine computes the vector once
per step and passes it in). Everything adds in logit space so each part can be named:

    text logit = bias
               + vector    · w_vector       what the step says (sentence-encoder vector)
               + shape     · w_shape        how it is built (router/tier_features.py)
               + closeness · w_examples     how much closer it is to reasoning examples than to
                                            fast ones (router/tier_examples.py; yours included)
               + gain(v)   · w_outcomes     how much the strong model gained on similar exam
                                            questions (outcome data); full weight on multiple-
                                            choice questions, a smaller one on other prompts
    z = text logit + conversation signals + intelligence priority shift;  score = sigmoid(z)

Without a vector (no encoder here) the text logit is a shape-only model fitted for that case.
A tier_override wins outright (score 1.0 or 0.0). The parameter file carries the calibrated
threshold; its content hash, with the attached examples' fingerprint, is the policy version.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from mcproute.errors import ConfigError
from mcproute.router.step import Tier
from mcproute.router.tier_examples import ExampleMatch, ExampleSet
from mcproute.router.tier_features import FORM_FEATURES, analyse

MODEL_FORMAT = "mcproute.tier_model/2"
DEFAULT_MODEL = "tier_model.json"
_OPTIONS = FORM_FEATURES.index("options")
_LOG_CHARS = FORM_FEATURES.index("log_chars")


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
        return {
            "score": self.score,
            "text_score": self.text_score,
            "signals": dict(self.signals),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Calibration:
    threshold: float  # reasoning tier when score >= threshold
    target_escalation_rate: float  # share of the calibration sample (outcomes prompts) it escalates
    version: str  # policy version: model content hash + examples + calibration

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


def _vec(values: Any, n: int, what: str) -> np.ndarray:
    v = np.asarray([float(x) for x in values], dtype=np.float64)
    if v.shape != (n,):
        raise ValueError(f"{what} must have {n} entries, has {v.shape[0] if v.ndim == 1 else v.shape}")
    v.flags.writeable = False
    return v


@dataclass(frozen=True, slots=True)
class _Head:
    """The learned text model (see the module docstring); vectors are read-only numpy arrays."""

    bias: float
    vector: np.ndarray  # (dim,)
    shape: np.ndarray  # (len(FORM_FEATURES),), on standardised shape features
    examples: float  # weight of the standardised closeness
    examples_mean: float
    examples_scale: float
    gain: np.ndarray  # (dim,) ridge weights of the outcome-gain model
    gain_log_chars: float
    gain_bias: float
    gain_weight_mc: float  # on multiple-choice questions (the form the outcome data has)
    gain_weight_other: float
    fallback_bias: float
    fallback_shape: np.ndarray  # shape-only model, for steps without a vector


@dataclass(frozen=True)
class TierScorer:
    shape_mean: np.ndarray
    shape_scale: np.ndarray
    head: _Head
    signal_weights: Mapping[str, float]
    calibration: Calibration
    model_version: str
    examples: ExampleSet = field(default_factory=ExampleSet.empty)
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
        n = len(FORM_FEATURES)
        try:
            if not isinstance(params, Mapping) or params.get("format") != MODEL_FORMAT:
                got = params.get("format") if isinstance(params, Mapping) else type(params).__name__
                raise ValueError(f"format is {got!r}, expected {MODEL_FORMAT!r}")
            shape = params["shape"]
            if tuple(shape["names"]) != FORM_FEATURES:
                raise ValueError("shape feature names differ from this version of mcproute")
            dim = int(params["encoder"]["dim"])
            h, g, fb = params["head"], params["outcomes"], params["fallback"]
            head = _Head(
                bias=float(h["bias"]),
                vector=_vec(h["vector"], dim, "head.vector"),
                shape=_vec(h["shape"], n, "head.shape"),
                examples=float(h["examples"]),
                examples_mean=float(h["examples_mean"]),
                examples_scale=float(h["examples_scale"]) or 1.0,
                gain=_vec(g["vector"], dim, "outcomes.vector"),
                gain_log_chars=float(g["log_chars"]),
                gain_bias=float(g["bias"]),
                gain_weight_mc=float(g["weight_multiple_choice"]),
                gain_weight_other=float(g["weight_other"]),
                fallback_bias=float(fb["bias"]),
                fallback_shape=_vec(fb["shape"], n, "fallback.shape"),
            )
            cal = params["calibration"]
            thr, rate = float(cal["threshold"]), float(cal["target_escalation_rate"])
            scale = _vec(shape["scale"], n, "shape.scale")
            return cls(
                shape_mean=_vec(shape["mean"], n, "shape.mean"),
                shape_scale=np.where(scale == 0.0, 1.0, scale),
                head=head,
                signal_weights=MappingProxyType({k: float(v) for k, v in params["signals"].items()}),
                calibration=Calibration(thr, rate, policy_version(version, thr, rate)),
                model_version=version,
                examples=ExampleSet.empty(dim),
                params=MappingProxyType(dict(params)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError([f"{where}: malformed tier model: {exc!r}"]) from None

    @property
    def dim(self) -> int:
        return int(self.head.vector.shape[0])

    def calibrate(self, scores: Sequence[float], target_rate: float) -> Calibration:
        return calibrate(scores, target_rate, self.model_version)

    def with_calibration(self, calibration: Calibration) -> TierScorer:
        return replace(self, calibration=calibration)

    def with_examples(self, examples: ExampleSet) -> TierScorer:
        """This scorer comparing steps with `examples` (shipped and/or yours, already encoded).

        The examples move decisions, so their fingerprint joins the model version, and with it
        the policy version every decision records."""
        if examples.examples and examples.dim != self.dim:
            raise ValueError(f"example vectors have {examples.dim} dimensions, the tier model expects {self.dim}")
        base = self.model_version.split("+", 1)[0]
        version = f"{base}+ex{examples.fingerprint()}" if examples.examples else base
        cal = self.calibration
        return replace(
            self,
            examples=examples,
            model_version=version,
            calibration=Calibration(
                cal.threshold,
                cal.target_escalation_rate,
                policy_version(version, cal.threshold, cal.target_escalation_rate),
            ),
        )

    # -- scoring --------------------------------------------------------------------------------

    def text_logit(
        self, text: str, vector: np.ndarray | None = None
    ) -> tuple[float, dict[str, float], ExampleMatch | None]:
        """The text's logit, its named parts, and how it compares with the examples."""
        h = self.head
        shape = (np.asarray(analyse(text).form) - self.shape_mean) / self.shape_scale
        if vector is None:
            return h.fallback_bias + float(shape @ h.fallback_shape), {"shape": float(shape @ h.fallback_shape)}, None
        v = np.asarray(vector, dtype=np.float64)
        if v.shape != (self.dim,):
            raise ValueError(f"step vector must have {self.dim} entries, got shape {v.shape}")
        match = self.examples.match(v)
        closeness = match.closeness if match is not None else h.examples_mean
        gain = float(v @ h.gain) + h.gain_log_chars * shape[_LOG_CHARS] + h.gain_bias
        multiple_choice = analyse(text).form[_OPTIONS] > 0
        parts = {
            "vector": float(v @ h.vector),
            "shape": float(shape @ h.shape),
            "examples": h.examples * (closeness - h.examples_mean) / h.examples_scale,
            "outcomes": (h.gain_weight_mc if multiple_choice else h.gain_weight_other) * gain,
        }
        return h.bias + sum(parts.values()), parts, match

    def score(self, text: str, signals: TierSignals | None = None, *, vector: np.ndarray | None = None) -> TierScore:
        sig = signals or TierSignals()
        z_text, parts, match = self.text_logit(text, vector)
        text_score = _sigmoid(z_text)
        contrib = {f"text.{k}": round(v, 4) for k, v in parts.items()}
        if sig.tier_override is not None:
            if sig.tier_override not in ("reasoning", "fast"):
                raise ValueError(f"tier_override must be 'reasoning' or 'fast', got {sig.tier_override!r}")
            contrib["tier_override"] = 1.0 if sig.tier_override == "reasoning" else -1.0
            return TierScore(
                1.0 if sig.tier_override == "reasoning" else 0.0,
                text_score,
                MappingProxyType(contrib),
                f"The user asked for the {sig.tier_override} tier, which overrides the score.",
            )
        extra = self._signal_parts(sig)
        contrib.update(extra)
        score = _sigmoid(z_text + sum(extra.values()))
        return TierScore(score, text_score, MappingProxyType(contrib), self._reason(score, parts, extra, match))

    def _signal_parts(self, sig: TierSignals) -> dict[str, float]:
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
        return {k: round(v, 4) for k, v in extra.items() if v != 0.0}

    def _reason(
        self, score: float, parts: Mapping[str, float], extra: Mapping[str, float], match: ExampleMatch | None
    ) -> str:
        tier = self.calibration.tier_for(score)
        named = {
            **{_text_label(k, match): v for k, v in parts.items()},
            **{_LABEL.get(k, k): v for k, v in extra.items()},
        }
        # The biggest pushes in the direction of the outcome explain it best.
        sign = 1.0 if tier == "reasoning" else -1.0
        top = sorted(((sign * v, k) for k, v in named.items() if sign * v > 0.05), reverse=True)[:2]
        because = " and ".join(k for _, k in top) or "no strong signal either way"
        no_vec = "" if "vector" in parts else " (no step vector: shape only)"
        return (
            f"Score {score:.2f} vs threshold {self.calibration.threshold:.2f} picks the {tier} tier{no_vec}, "
            f"mostly because of {because}."
        )


def _text_label(part: str, match: ExampleMatch | None) -> str:
    if part == "examples" and match is not None and match.nearest is not None:
        side = match.nearest.tier
        if match.nearest.origin == "yours":
            return f"its closeness to your {side} example '{_clip(match.nearest.text)}' (cosine {match.similarity:.2f})"
        if match.category:
            return f"its resemblance to the '{match.category}' examples ({side})"
        return f"its closeness to the {side} example '{_clip(match.nearest.text)}'"
    return _LABEL[part]


def _clip(text: str, n: int = 60) -> str:
    one = " ".join(text.split())
    return one if len(one) <= n else one[: n - 1].rstrip() + "…"


_LABEL = {
    "vector": "what it asks (its sentence vector)",
    "shape": "its shape (numbers, code, logic words, length)",
    "examples": "how it compares with the labelled examples",
    "outcomes": "how the fast and strong models fared on similar exam questions",
    "previous_tier": "the previous step being on the reasoning tier",
    "tool_errors": "recent tool errors",
    "failed_validations": "failed validations",
    "step_count": "a long conversation",
    "intelligence_priority": "the client's intelligence priority",
}
