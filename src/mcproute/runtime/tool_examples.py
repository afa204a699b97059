"""Tool examples: requests in your users' words that should pick a tool (`servers.<name>.tools.examples`).

    servers:
      git:
        command: uvx
        args: [mcp-server-git]
        tools:
          examples:
            git_log: ["what changed this week", "who touched the parser last"]

Each example is encoded once, as a step (through the encoder's on-disk step cache). A tool's
sentence vector, which every ranking compares the step with (the `cos` features of
docs/routing-tools.md), becomes its description's vector plus `BLEND` times the mean of its
examples' vectors, renormalised: the tool now also *means* what your users say when they want it.
Nothing else changes, so a tool without examples ranks exactly as before, and the lexical channels
still decide what meaning does not. Measured on everyday_dev split in two halves (the examples from
one half, the requests of the other): docs/routing-tools.md, "Teaching it your tools".

Names are the tool's name as its server lists it; the served (prefixed) name is derived as the
catalogue derives it. An example for a tool the server does not list is kept and simply never used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np

from mcproute.config import Config
from mcproute.encoding.cache import ToolVectorCache
from mcproute.encoding.model import Encoder
from mcproute.encoding.steps import step_vectors
from mcproute.gateway.catalog import namespaced

BLEND = 1.0  # weight of the examples' mean against the description's vector (chosen as the doc says)


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


def example_means(
    encoder: Encoder, examples: Sequence[tuple[str, str]], cache: ToolVectorCache | None = None
) -> dict[str, np.ndarray]:
    """Tool name -> the mean vector of its examples (encoded as steps)."""
    if not examples:
        return {}
    vectors = step_vectors(encoder, [text for _, text in examples], cache)
    rows: dict[str, list[np.ndarray]] = {}
    for (tool, _), v in zip(examples, vectors, strict=True):
        rows.setdefault(tool, []).append(v)
    return {tool: np.mean(vs, axis=0).astype(np.float32) for tool, vs in rows.items()}


def blend(
    vectors: Mapping[str, np.ndarray], means: Mapping[str, np.ndarray], weight: float = BLEND
) -> dict[str, np.ndarray]:
    """The tool vectors with their examples' means added (unit rows); tools without examples unchanged."""
    out = dict(vectors)
    for name, v in vectors.items():
        mean = means.get(name)
        if mean is None:
            continue
        mixed = np.asarray(v, dtype=np.float32) + weight * mean
        norm = float(np.linalg.norm(mixed))
        if norm > 0.0 and np.isfinite(norm):
            out[name] = (mixed / norm).astype(np.float32)
    return out


def examples_id(examples: Sequence[tuple[str, str]]) -> str:
    """ "tx-<10 hex>" of the examples in force, for the policy version of every decision they touch."""
    digest = hashlib.sha256("\n".join(f"{t}\t{x}" for t, x in sorted(examples)).encode()).hexdigest()
    return f"tx-{digest[:10]}"
