"""The router's vocabulary, as frozen dataclasses: what goes in and what comes out of a decision.

These types are the contract between the gateway (which builds `Step` and `ConversationState`
from the wire and the store) and the pure router (which returns a `Decision`). Every field is
JSON-serialisable through `to_dict()` so a decision can be exported in spans and replayed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Tier = Literal["reasoning", "fast"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool of the catalogue as the router sees it (name is the namespaced one)."""

    name: str
    description: str = ""
    input_schema: Mapping[str, Any] = field(default_factory=dict)
    server: str = ""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One logical model as the router sees it."""

    name: str
    tier: Tier
    price_input: float = 0.0
    price_output: float = 0.0
    available: bool = True
    unavailable_reason: str = ""
    # Keys of the deployments serving this model, in config order; a conversation sticks to one
    # of them (rendezvous hashing) so the provider's prompt cache stays warm.
    deployments: tuple[str, ...] = ()
    supports_tools: bool = True


@dataclass(frozen=True, slots=True)
class StepHints:
    """Explicit signals a caller may attach to a step."""

    intelligence_priority: float | None = None  # MCP modelPreferences.intelligencePriority, 0..1
    tier_override: Tier | None = None  # the user asked for a tier outright
    model_override: str | None = None


@dataclass(frozen=True, slots=True)
class Step:
    text: str
    conversation_id: str
    step_id: str
    hints: StepHints = field(default_factory=StepHints)
    # The text's sentence-encoder vector (numpy float32, unit length), computed by the engine
    # (`mcproute.encoding`), never by the router; None when no encoder runs (lexical ranking).
    vector: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ConversationState:
    """What the store keeps per conversation between steps (small: it is kept for 100k of them)."""

    conversation_id: str
    tier: Tier | None = None
    model: str | None = None
    deployment: str | None = None
    step_count: int = 0
    fast_streak: int = 0  # consecutive confident-fast steps while on the reasoning tier
    awaiting_tool_result: bool = False  # never change tier between a tool call and its result
    tools_used: tuple[str, ...] = ()  # most recent last, bounded
    servers_used: tuple[str, ...] = ()
    recent_texts: tuple[str, ...] = ()  # last few step texts, bounded, for multi-turn retrieval
    last_result: str = ""  # truncated text of the previous step's tool result
    tool_errors: int = 0  # consecutive tool errors / failed validations
    last_step_id: str | None = None
    updated_at: float = 0.0
    # Why the next step must escalate (a fast model's tool call failed its schema); "" = no cascade.
    cascade_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConversationState:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for k in ("tools_used", "servers_used", "recent_texts"):
            if k in known:
                known[k] = tuple(known[k])
        return cls(**known)


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    score: float


@dataclass(frozen=True, slots=True)
class Decision:
    """One routing decision, complete enough to explain and to replay."""

    step_id: str
    conversation_id: str
    tool: str | None  # None = no tool fits
    tool_score: float
    alternatives: tuple[Candidate, ...]  # top-k tools, chosen first
    tier: Tier
    model: str | None
    model_alternatives: tuple[Candidate, ...]
    reasoning_score: float  # higher = more reason to use the reasoning tier
    threshold: float
    signals: Mapping[str, float]
    reason: str
    sticky_held: bool
    sticky_reason: str
    policy_version: str
    latency_ms: float = 0.0
    deployment: str | None = None  # the deployment of `model` this conversation sticks to
    fast_streak: int = 0  # consecutive confident-fast steps on the reasoning tier, carried into state

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["signals"] = dict(self.signals)
        return d
