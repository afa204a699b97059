"""The value types of tool retrieval: what a conversation tells it, and what it answers.

Kept apart from the index (`mcproute.router.tools`, which re-exports them) so the index module
stays about ranking.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mcproute.router.step import Candidate, ConversationState, ToolSpec


@dataclass(frozen=True, slots=True)
class RetrievalContext:
    """What the conversation tells retrieval (mirrors the `ConversationState` fields)."""

    tools_used: tuple[str, ...] = ()  # most recent last
    servers_used: tuple[str, ...] = ()
    recent_texts: tuple[str, ...] = ()  # earlier step texts, most recent last
    last_result: str = ""

    @classmethod
    def from_state(cls, state: ConversationState) -> RetrievalContext:
        return cls(state.tools_used, state.servers_used, state.recent_texts, state.last_result)


@dataclass(frozen=True, slots=True)
class Ranking:
    candidates: tuple[Candidate, ...]  # best first
    no_tool: bool  # True: no tool in the catalogue fits this step
    no_tool_score: float  # 0..1, calibrated P(no tool fits); compare with `threshold`
    threshold: float
    explanation: str

    @property
    def best(self) -> Candidate | None:
        return None if self.no_tool or not self.candidates else self.candidates[0]

    @property
    def confidence(self) -> float:
        return 1.0 - self.no_tool_score


def specs_from_dicts(items: Iterable[dict[str, object]], server: str = "") -> list[ToolSpec]:
    """Catalogue entries `{name, description?, input_schema?}` (the evaldata shape) as ToolSpecs."""
    out: list[ToolSpec] = []
    for it in items:
        schema = it.get("input_schema") or it.get("parameters") or {}
        out.append(
            ToolSpec(
                str(it.get("name", "")),
                str(it.get("description") or ""),
                schema if isinstance(schema, dict) else {},
                str(it.get("server") or server),
            )
        )
    return out
