"""What a step returns to its caller: the tool result, the decision in one line, the step id."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mcproute.providers import Attempt
from mcproute.router.step import Decision

RESULT_TEXT_CHARS = 2000  # the tool result as text, in summaries and state


@dataclass(frozen=True, slots=True)
class StepResult:
    """One `run_step`: what was decided, what the model did, what the tool answered.

    `result` is the downstream's raw `CallToolResult` dict (None when the model called no tool or
    its call was refused); `text` is the model's own reply text.
    """

    step_id: str
    conversation_id: str
    conversation_source: str  # identity source; "new" = hand `conversation_id` back to the client
    decision: Decision  # the decision as finally carried out (after a cascade, the escalated one)
    model: str | None  # the model that actually answered (a fallback may differ from the decision)
    deployment: str | None
    tier: str | None
    text: str = ""
    tool: str | None = None  # namespaced tool the model called and the gateway executed
    arguments: Mapping[str, Any] = field(default_factory=dict)
    result: Mapping[str, Any] | None = None
    tool_error: str = ""  # why the tool failed ("" = it did not, or no tool was called)
    validation_error: str = ""  # the model's tool call was invalid even after any cascade
    cascaded: bool = False
    cascade_reason: str = ""
    cost_usd: float = 0.0
    attempts: tuple[Attempt, ...] = ()
    trace_id: str | None = None
    # Why the step could not be saved after it ran ("" = it was): the tool's result still stands,
    # but the conversation's state does not know this step happened.
    not_recorded: str = ""

    @property
    def is_error(self) -> bool:
        return bool(self.tool_error or self.validation_error)

    def result_text(self) -> str:
        if not self.result:
            return ""
        parts = [
            c.get("text", "")
            for c in self.result.get("content") or []
            if isinstance(c, Mapping) and c.get("type") == "text"
        ]
        return "\n".join(p for p in parts if isinstance(p, str))[:RESULT_TEXT_CHARS]

    def summary(self) -> str:
        """One or two human sentences: tool, model and tier, and why."""
        d = self.decision
        who = f"{self.model or 'no model'} ({self.tier or d.tier})"
        if self.tool:
            did = f"{who} called {self.tool}"
            # The model chooses among the tools it is offered: say when that is not the ranking's first.
            if d.tool is None:
                did += " although the ranking found no tool that fits (its best-ranked tools were offered)"
            elif d.tool != self.tool:
                did += f" (the ranking's first was {d.tool})"
            did += f", which failed: {self.tool_error}" if self.tool_error else ""
        elif self.validation_error:
            did = f"{who} made an invalid tool call: {self.validation_error}"
        else:
            did = f"{who} answered without a tool" + (f" (the ranking's first was {d.tool})" if d.tool else "")
        extra = f" Cascade: {self.cascade_reason}." if self.cascaded else ""
        if self.not_recorded:
            extra += (
                f" NOTE: this step ran but was not recorded ({self.not_recorded}); the conversation's state "
                "does not include it, and retrying would run the tool again."
            )
        return f"step {self.step_id}: {did}. {d.reason}{extra}"

    def to_dict(self) -> dict[str, Any]:
        d = self.decision
        return {
            "step_id": self.step_id,
            "conversation_id": self.conversation_id,
            "conversation_source": self.conversation_source,
            "tool": self.tool,
            "arguments": dict(self.arguments),
            "model": self.model,
            "deployment": self.deployment,
            "tier": self.tier,
            "text": self.text,
            "tool_error": self.tool_error or None,
            "validation_error": self.validation_error or None,
            "cascaded": self.cascaded,
            "cascade_reason": self.cascade_reason or None,
            "cost_usd": round(self.cost_usd, 8),
            "trace_id": self.trace_id,
            "recorded": not self.not_recorded,
            "not_recorded": self.not_recorded or None,
            "decision": decision_summary(d),
            "summary": self.summary(),
        }


def decision_summary(d: Decision, *, alternatives: int = 5) -> dict[str, Any]:
    """The decision, short enough for a tool result a model will read."""
    return {
        "step_id": d.step_id,
        "conversation_id": d.conversation_id,
        "tool": d.tool,
        "tool_score": round(d.tool_score, 4),
        "alternatives": [{"name": c.name, "score": round(c.score, 4)} for c in d.alternatives[:alternatives]],
        "tier": d.tier,
        "model": d.model,
        "deployment": d.deployment,
        "reasoning_score": round(d.reasoning_score, 4),
        "threshold": round(d.threshold, 4),
        "reason": d.reason,
        "sticky_held": d.sticky_held,
        "sticky_reason": d.sticky_reason,
        "policy_version": d.policy_version,
    }
