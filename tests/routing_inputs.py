"""Small, real router inputs for the stickiness and decide tests (not mocks of our own code).

A five-tool catalogue from two real servers' tool lists (mcp-server-git, mcp-server-time) plus a
filesystem tool, indexed by the real `ToolIndex`; and a scripted tier scorer that returns a
chosen raw score per step text, so a test can drive the hysteresis exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mcproute.config import RoutingConfig
from mcproute.router.step import ModelSpec, ToolSpec
from mcproute.router.tools import ToolIndex

REPO = {"repo_path": {"type": "string", "description": "Path to the git repository"}}
TOOLS = [
    ToolSpec(
        "git__git_status",
        "Shows the working tree status",
        {"type": "object", "properties": REPO, "required": ["repo_path"]},
        "git",
    ),
    ToolSpec(
        "git__git_commit",
        "Records changes to the repository with a commit message",
        {"type": "object", "properties": {**REPO, "message": {"type": "string"}}, "required": ["repo_path", "message"]},
        "git",
    ),
    ToolSpec(
        "git__git_diff",
        "Shows differences between commits or the working tree",
        {"type": "object", "properties": REPO},
        "git",
    ),
    ToolSpec(
        "time__get_current_time",
        "Get current time in a specific timezone",
        {"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]},
        "time",
    ),
    ToolSpec(
        "fs__read_file",
        "Read the complete contents of a file from the file system",
        {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
        "fs",
    ),
]
CATALOG = {t.name: t for t in TOOLS}

MODELS = [
    ModelSpec("deep", "reasoning", price_input=3.0, price_output=15.0, deployments=("deep#0", "deep#1", "deep#2")),
    ModelSpec("deep-pricey", "reasoning", price_input=15.0, price_output=75.0),
    ModelSpec("quick", "fast", price_input=0.25, price_output=1.25, deployments=("quick#0", "quick#1")),
    ModelSpec("quicker-no-tools", "fast", price_input=0.05, price_output=0.1, supports_tools=False),
]


def index() -> ToolIndex:
    return ToolIndex(TOOLS)


@dataclass(frozen=True)
class Score:
    score: float
    signals: Mapping[str, float] = field(default_factory=dict)
    reason: str = ""


class ScriptedScorer:
    """Raw reasoning score per step text (default 0.1 = clearly fast); records the signals it got."""

    def __init__(self, scores: Mapping[str, float] | None = None, default: float = 0.1) -> None:
        self.scores = dict(scores or {})
        self.default = default
        self.seen: list[Any] = []
        self.vectors: list[Any] = []  # the step vector decide() passed (None without an encoder)

    def score(self, text: str, signals: Any = None, *, vector: Any = None) -> Score:
        self.seen.append(signals)
        self.vectors.append(vector)
        s = self.scores.get(text, self.default)
        return Score(s, {"scripted": s}, "scripted score")


@dataclass(frozen=True)
class Calibration:
    threshold: float = 0.5
    version: str = "test-1"


POLICY = RoutingConfig(step_down_after=3, switch_cost=0.05)
