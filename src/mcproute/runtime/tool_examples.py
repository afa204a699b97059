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
examples' vectors, renormalised: the tool now also *means* what your users say when they want it;
and the ranking re-orders candidates by how close the step is to each tool's examples (their
centroid and the nearest one: router/retrieval_examples.py).
Nothing else changes, so a tool without examples ranks exactly as before, and the lexical channels
still decide what meaning does not. Measured on everyday_dev split in two halves (the examples from
one half, the requests of the other): docs/routing-tools.md, "Teaching it your tools".

Names are the tool's name as its server lists it; the served (prefixed) name is derived as the
catalogue derives it. An example for a tool the server does not list is kept and simply never used.

**Shipped examples for the official reference servers** (`data/tool_examples.json`, built by
`scripts/build_tool_examples.py` from the hand-written dev requests): a server launched as one of
them (`REFERENCE_PACKAGES`: `mcp-server-git`, `python -m mcp_server_time`,
`@modelcontextprotocol/server-memory`, ...) gets them for every tool you gave no examples of;
`tools.shipped_examples: false` turns them off for that server. `eval tools` applies them to a
catalogue tool whose name ends with the tool's and whose description is the one they were written
for (`shipped_for_catalog`), as a gateway running that server would. With them come requests the
reference servers cannot serve (`shipped_no_tool`: "git push to origin", "write me a poem"),
taught under `NO_TOOL`: a step closer to those than to a taught leader's own examples is less
likely to be for it (router/retrieval_examples.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from mcproute.config import Config, ServerConfig
from mcproute.encoding.cache import ToolVectorCache
from mcproute.encoding.model import Encoder
from mcproute.encoding.steps import step_vectors
from mcproute.gateway.catalog import namespaced, tool_allowed
from mcproute.router.retrieval_examples import NO_TOOL
from mcproute.router.retrieval_head import Head, fit_head

BLEND = 1.0  # weight of the examples' mean against the description's vector (chosen as the doc says)
# The shipped examples weigh less: at 0.7 and above, "what time is it in Tokyo?" turns to
# convert_time in a catalogue of the time server alone (its examples say "whats 23:00 UTC in tokyo
# time"); 0.5, with the examples' own term (router/retrieval_examples.py), keeps the issue's headline
# requests right in every catalogue shape tried (docs/routing-tools.md).
SHIPPED_BLEND = 0.5

# The official reference servers, by the package names that launch them (a command or argument).
REFERENCE_PACKAGES: Mapping[str, tuple[str, ...]] = {
    "time": ("mcp-server-time", "mcp_server_time"),
    "git": ("mcp-server-git", "mcp_server_git"),
    "fetch": ("mcp-server-fetch", "mcp_server_fetch"),
    "memory": ("@modelcontextprotocol/server-memory", "mcp-server-memory"),
    "filesystem": ("@modelcontextprotocol/server-filesystem", "mcp-server-filesystem"),
}


def description_sha(description: str) -> str:
    """What identifies a tool's definition for the shipped examples (whitespace-insensitive)."""
    return hashlib.sha256(" ".join(description.split()).encode()).hexdigest()[:16]


@lru_cache(maxsize=1)
def _shipped_file() -> dict[str, Any]:
    return json.loads(resources.files("mcproute.data").joinpath("tool_examples.json").read_text(encoding="utf-8"))


def shipped_no_tool() -> tuple[str, ...]:
    """Requests the reference servers cannot serve (no tool fits), from data/tool_examples.json:
    taught under `NO_TOOL` wherever a reference server's shipped examples are in force."""
    return tuple(_shipped_file().get("no_tool", ()))


@lru_cache(maxsize=1)
def shipped_examples() -> dict[str, dict[str, tuple[str, tuple[str, ...]]]]:
    """Reference server -> its tool -> (description sha, examples), from data/tool_examples.json."""
    raw = _shipped_file()
    return {
        server: {tool: (e["description_sha256"], tuple(e["examples"])) for tool, e in tools.items()}
        for server, tools in raw["servers"].items()
    }


def reference_server(cfg: ServerConfig) -> str | None:
    """Which reference server `cfg` launches, if any: a command or argument naming its package
    (a version pin such as `==0.6.2` or `@latest`, a path to the program, and a path into the
    installed package, `node_modules/@modelcontextprotocol/server-memory/dist/index.js`, allowed)."""
    for word in (cfg.command or "", *cfg.args):
        name = word.split("==")[0].replace("\\", "/")
        if name.rfind("@") > 0 and "/" not in name[name.rfind("@") :]:  # "pkg@latest", not "@scope/..."
            name = name[: name.rfind("@")]
        for server, packages in REFERENCE_PACKAGES.items():
            if any(name == p or name.endswith("/" + p) or f"/{p}/" in name for p in packages):
                return server
    return None


def tool_examples_in_force(config: Config) -> list[tuple[str, str]]:
    """(served tool name, example text) for every example of every enabled server: yours, and the
    shipped ones of a reference server for each tool you gave none for."""
    return [(name, text) for name, text, _ in _in_force(config)]


def shipped_in_force(config: Config) -> frozenset[str]:
    """The served tool names whose examples in force are the shipped ones (`SHIPPED_BLEND`)."""
    return frozenset(name for name, _, shipped in _in_force(config) if shipped)


def _in_force(config: Config) -> list[tuple[str, str, bool]]:
    sep, prefixed = config.gateway.separator, config.gateway.prefix_tools
    out: list[tuple[str, str, bool]] = []
    withheld: list[str] = []
    present: set[str] = set()
    for server, cfg in config.servers.items():
        if not cfg.enabled:
            continue
        prefix = (cfg.prefix or server) if prefixed else None
        for tool, texts in cfg.tools.examples.items():
            out.extend((namespaced(prefix, tool, sep), " ".join(t.split()), False) for t in texts)
        ref = reference_server(cfg)
        if ref is not None:  # with its examples on or off, its requests are served here
            present.add(ref)
        kind = ref if cfg.tools.shipped_examples else None
        for tool, (_, shipped) in shipped_examples().get(kind or "", {}).items():
            if tool in cfg.tools.examples:
                continue
            if tool_allowed(tool, cfg):
                out.extend((namespaced(prefix, tool, sep), text, True) for text in shipped)
            else:  # withheld by `tools.allow` / `deny`: here its requests need no tool
                withheld.extend(shipped)
    if any(shipped for _, _, shipped in out):  # a reference server's examples are in force
        out.extend((NO_TOOL, text, True) for text in (*shipped_no_tool(), *withheld, *_absent(present)))
    return out


def _absent(present: Container[str]) -> list[str]:
    """The shipped examples of the reference servers not in the catalogue (`present`: the kinds
    that are): here their requests need no tool. On the bundled config (time and git's readers),
    "what files are in src/" went to `git_status` and "when was budget.xlsx last modified" to `git_show`;
    taught as needing no tool, the requests for the other three servers got none 0.829 -> 0.920
    of the time, the served tools' top1 the same (`scripts/crossfit_withheld.py`)."""
    return [
        text
        for kind, tools in shipped_examples().items()
        if kind not in present
        for _, texts in tools.values()
        for text in texts
    ]


def shipped_for_catalog(tools: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(tool name, example text) of the shipped examples for a catalogue's (name, description)
    pairs: a tool gets them when its name ends with a reference tool's and its description is the
    one they were written for. With them, as in a gateway, the requests that need no tool: those
    no reference server serves, and those for the reference servers the catalogue lacks."""
    by_sha = {
        sha: (kind, tool, texts) for kind, tools in shipped_examples().items() for tool, (sha, texts) in tools.items()
    }
    out: list[tuple[str, str]] = []
    present: set[str] = set()
    for name, description in tools:
        hit = by_sha.get(description_sha(description))
        if hit is not None and name.endswith(hit[1]):
            out.extend((name, text) for text in hit[2])
            present.add(hit[0])
    if out:
        out.extend((NO_TOOL, text) for text in (*shipped_no_tool(), *_absent(present)))
    return out


@dataclass(frozen=True)
class TaughtVectors:
    """The tool examples in force, encoded: what a tool index needs of them."""

    means: Mapping[str, np.ndarray] = field(default_factory=dict)  # blended into the tool's vector (`blend`)
    rows: Mapping[str, np.ndarray] = field(default_factory=dict)  # one example vector a row (the taught term)
    shipped: frozenset[str] = frozenset()  # the tools (and NO_TOOL) whose rows are mcproute's own examples

    def __bool__(self) -> bool:
        return bool(self.rows)

    def merged(self, other: TaughtVectors) -> TaughtVectors:
        """These with `other`'s replacing them tool by tool."""
        return TaughtVectors(
            {**self.means, **other.means},
            {**self.rows, **other.rows},
            (self.shipped - other.rows.keys()) | other.shipped,
        )

    def head_for(self, names: Container[str]) -> Head | None:
        """The examples' classifier (router/retrieval_head.py) over the taught tools among `names`
        (the catalogue) and the no-tool requests: what an index holding these examples would fit
        itself, fitted ahead (a few hundred milliseconds: call it off the event loop)."""
        return fit_head({n: r for n, r in self.rows.items() if n == NO_TOOL or n in names})


def encode_tool_examples(
    encoder: Encoder,
    examples: Sequence[tuple[str, str]],
    cache: ToolVectorCache | None = None,
    *,
    shipped: Container[str] = (),
) -> TaughtVectors:
    """(tool, text) pairs encoded as steps: per tool its examples' vectors and their mean, the mean
    scaled by SHIPPED_BLEND / BLEND for the tools in `shipped`, so `blend` mixes them in at SHIPPED_BLEND."""
    if not examples:
        return TaughtVectors()
    vectors = step_vectors(encoder, [text for _, text in examples], cache)
    rows: dict[str, list[np.ndarray]] = {}
    for (tool, _), v in zip(examples, vectors, strict=True):
        rows.setdefault(tool, []).append(v)
    return TaughtVectors(
        {
            tool: (np.mean(vs, axis=0) * (SHIPPED_BLEND / BLEND if tool in shipped else 1.0)).astype(np.float32)
            for tool, vs in rows.items()
        },
        {tool: np.asarray(vs, dtype=np.float32) for tool, vs in rows.items()},
        frozenset(tool for tool in rows if tool in shipped),
    )


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
