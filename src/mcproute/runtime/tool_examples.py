"""Tool examples: requests in your users' words that should pick a tool (`servers.<name>.tools.examples`).

    servers:
      git:
        command: uvx
        args: [mcp-server-git]
        tools:
          examples:
            git_log: ["what changed this week", "who touched the parser last"]

Each example is encoded once, as a step (through the encoder's on-disk step cache), into a taught
click-through memory (`router/online_tools.ToolLearner` with `taught=True`): a step close in
meaning to an example votes for its tool, exactly as a revealed step does in online learning
(docs/learning.md), but always applied: a person wrote it, so there is no self-check to pass. The
static ranking still decides everything the examples say nothing about. Names are the tool's name
as its server lists it; the served (prefixed) name is derived as the catalogue derives it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

from mcproute.config import Config
from mcproute.encoding.cache import ToolVectorCache
from mcproute.encoding.model import Encoder
from mcproute.encoding.steps import step_vectors
from mcproute.gateway.catalog import namespaced
from mcproute.router.online_memory import VectorMemory
from mcproute.router.online_tools import ToolLearner, ToolLearning

log = logging.getLogger("mcproute.runtime")

# A taught example is one person's word for a tool: its votes count fully from the first one, and
# only close neighbours vote (measured on everyday_dev split in halves: docs/routing-tools.md).
TAUGHT = ToolLearning(k=8, floor=0.5, prior_weight=0.3, weight=4.0, trust=0.5, gate=0.0)


def tool_examples_in_force(config: Config) -> list[tuple[str, str]]:
    """(served tool name, example text) for every example of every enabled server."""
    sep, prefixed = config.gateway.separator, config.gateway.prefix_tools
    out: list[tuple[str, str]] = []
    for server, cfg in config.servers.items():
        if not cfg.enabled:
            continue
        prefix = (cfg.prefix or server) if prefixed else None
        for tool, texts in cfg.tools.examples.items():
            out.extend((namespaced(prefix, tool, sep), " ".join(t.split())) for t in texts)
    return out


def taught_learner(
    encoder: Encoder,
    examples: Sequence[tuple[str, str]],
    cache: ToolVectorCache | None = None,
    params: ToolLearning = TAUGHT,
) -> ToolLearner | None:
    """The examples as an always-applied click-through memory (None when there are none)."""
    if not examples:
        return None
    vectors = step_vectors(encoder, [text for _, text in examples], cache)
    memory = VectorMemory.empty(encoder.dim, max(1, len(examples)))
    for (tool, _), v in zip(examples, vectors, strict=True):
        memory = memory.add(v, tool)
    p = ToolLearning(params.k, params.floor, params.prior_weight, params.weight, params.trust, params.gate, len(memory))
    return ToolLearner(memory, p, revealed=len(examples), taught=True)


def examples_id(examples: Sequence[tuple[str, str]]) -> str:
    """ "tx-<10 hex>" of the examples in force, for the policy version of every decision they touch."""
    digest = hashlib.sha256("\n".join(f"{t}\t{x}" for t, x in sorted(examples)).encode()).hexdigest()
    return f"tx-{digest[:10]}"
