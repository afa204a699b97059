"""`mcproute eval tools`: tool selection quality of `ToolIndex` (metrics of shared/evaldata/README.md).

top1 is the router's *decision*: an item counts only when the router did not say "no tool fits"
and its first-ranked tool is expected. recall_at_5 is over the ranked list the router returns
(what an agent would be shown), and no_tool_accuracy is over the items that expect no tool.
Latency is that of `ToolIndex.rank` alone (the index is built before the clock starts).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from mcproute.errors import DataFileError
from mcproute.eval.data import percentile, progress, read_catalog, read_jsonl
from mcproute.eval.report import print_report
from mcproute.router.retrieval_params import RetrievalParams
from mcproute.router.tools import ToolIndex, specs_from_dicts

PARAMS_ENV = "MCPROUTE_RETRIEVAL_PARAMS"  # another params file, for held-out experiments


def load_params() -> RetrievalParams:
    path = os.environ.get(PARAMS_ENV)
    return RetrievalParams.load(path) if path else RetrievalParams.default()


def load_catalog(data_path: Path, rel: str, line: int) -> list[dict[str, Any]]:
    return read_catalog(data_path, rel, line, list, "catalog must be a JSON list of tools")


def _added(path: str) -> list[Any]:
    """The tools of an --add-catalog file (a JSON list of tools, read as an item's catalogue is)."""
    where = Path(path)
    return specs_from_dicts(read_catalog(where, where.name, 0, list, "--add-catalog must be a JSON list of tools"))


def _with(specs: list[Any], extra: list[Any]) -> list[Any]:
    """`specs`, then the `extra` tools whose names they do not have."""
    have = {s.name for s in specs}
    return [*specs, *(s for s in extra if s.name not in have)]


def recall_at(ranked: list[str], expected: list[str], k: int = 5) -> float:
    return len(set(expected) & set(ranked[:k])) / min(len(expected), k)


class Vectors:
    """`--encoder`: the engine's encoder and tool-vector cache, for an index built here."""

    def __init__(self) -> None:
        from mcproute.encoding import Encoder, default_cache_dir
        from mcproute.encoding.cache import ToolVectorCache

        self.encoder = Encoder.load()
        self.cache = ToolVectorCache(default_cache_dir() / "tool-vectors.sqlite3")
        self.encode_ms: list[float] = []
        self.examples: Any = None  # --examples: TaughtVectors, replacing the shipped ones tool by tool at attach
        self.shipped = True  # the reference servers' shipped examples, for catalogue tools that are theirs
        self.shipped_tools = 0  # catalogue tools that got them
        self._taught: dict[tuple[tuple[str, str], ...], Any] = {}  # shipped pairs -> their TaughtVectors

    def for_specs(self, specs: list[Any]) -> dict[str, Any]:
        """Tool name -> vector, through the on-disk cache (only unseen tool texts are encoded)."""
        from mcproute.encoding.texts import tool_text

        got = self.cache.vectors(self.encoder, [tool_text(s) for s in specs])
        return {s.name: v for s, v in zip(specs, got.vectors, strict=True)}

    def attach(self, index: ToolIndex, specs: list[Any]) -> ToolIndex:
        from mcproute.runtime.tool_examples import blend, encode_tool_examples, shipped_for_catalog

        found = self.for_specs(specs)
        pairs = shipped_for_catalog((s.name, s.description) for s in specs) if self.shipped else []
        key = tuple(pairs)
        if key not in self._taught:  # `eval multiturn` attaches per conversation: encode each set once
            self._taught[key] = encode_tool_examples(self.encoder, pairs, shipped={name for name, _ in pairs})
        taught = self._taught[key]
        if self.examples:
            taught = taught.merged(self.examples)  # --examples replace them per tool
        self.shipped_tools += len({name for name, _ in pairs})
        index.attach_vectors(
            blend(found, taught.means) if taught else found,
            examples=taught.rows,
            shipped=taught.shipped,
            head=taught.head_for({s.name for s in specs}),
        )
        return index

    def query(self, text: str) -> Any:
        t0 = time.perf_counter()
        vec = self.encoder.encode_one(text)
        self.encode_ms.append((time.perf_counter() - t0) * 1000.0)
        return vec


def load_vectors(wanted: bool | None) -> Vectors | None:
    """--encoder: must load; --no-encoder: off; neither: use it when it loads, say so when not."""
    if wanted is False:
        return None
    from mcproute.encoding import EncoderUnavailable

    try:
        return Vectors()
    except EncoderUnavailable as exc:
        if wanted:
            raise
        print(f"encoder unavailable ({exc}); ranking without it", file=sys.stderr)
        return None


def run(args: argparse.Namespace) -> int:
    path = Path(args.data)
    items = read_jsonl(path, required=("id", "query", "expected"))
    if args.filter:
        items = [it for it in items if it.get("source") == args.filter]
    if args.limit is not None:
        items = items[: args.limit]
    threshold = getattr(args, "no_tool_threshold", None)
    if threshold is not None and not 0.0 < threshold < 1.0:
        print(f"error: --no-tool-threshold must be within (0, 1), got {threshold}", file=sys.stderr)
        return 2
    params = load_params().with_no_tool_threshold(threshold)
    vectors = load_vectors(getattr(args, "encoder", None))
    indexes: dict[str, ToolIndex] = {}
    top1: list[float] = []
    recall: list[float] = []
    no_tool: list[float] = []
    lat: list[float] = []
    cpu: list[float] = []  # CPU time of the same calls: wall-clock p99 on a shared machine is mostly preemption
    online = bool(getattr(args, "online", False))
    if online and vectors is None:
        print("error: --online needs the sentence encoder: the learner remembers query vectors", file=sys.stderr)
        return 2
    if vectors is not None:
        vectors.examples = _taught(getattr(args, "examples", None), vectors)
        vectors.shipped = getattr(args, "shipped_examples", True)
    elif getattr(args, "examples", None):
        raise DataFileError(args.examples, 0, "--examples needs the sentence encoder: examples are compared by meaning")
    extra = [spec for rel in getattr(args, "add_catalog", None) or [] for spec in _added(rel)]
    stream: list[tuple[list[str], Any, Any, frozenset[str]]] = []
    names: dict[str, frozenset[str]] = {}  # catalogue -> its tool names, for the learner's `available`
    ranks_out = open(args.ranks_out, "w", encoding="utf-8") if args.ranks_out else None  # noqa: SIM115
    try:
        for it in progress(items, "tools", not args.no_progress):
            expected = it["expected"]
            if not isinstance(expected, list):
                raise DataFileError(str(path), it["_line"], "'expected' must be a list of tool names")
            if isinstance(it.get("tools"), list):
                specs = _with(specs_from_dicts(it["tools"]), extra)
                available = frozenset(s.name for s in specs)
                index = ToolIndex(specs, params=params)
                if vectors is not None:
                    vectors.attach(index, specs)
            elif isinstance(it.get("catalog"), str):
                rel = it["catalog"]
                if rel not in indexes:
                    specs = _with(specs_from_dicts(load_catalog(path, rel, it["_line"])), extra)
                    indexes[rel] = ToolIndex(specs, params=params)
                    names[rel] = frozenset(s.name for s in specs)
                    if vectors is not None:
                        vectors.attach(indexes[rel], specs)
                index = indexes[rel]
                available = names[rel]
            else:
                raise DataFileError(str(path), it["_line"], "item has neither 'tools' nor 'catalog'")
            query = it["query"] if isinstance(it["query"], str) else ""
            qv = vectors.query(query) if vectors is not None else None
            t0, c0 = time.perf_counter(), time.thread_time()
            ranking = index.rank(query, k=10, vector=qv)
            lat.append((time.perf_counter() - t0) * 1000.0)
            cpu.append((time.thread_time() - c0) * 1000.0)
            ranked = [c.name for c in ranking.candidates]
            if online:
                stream.append((expected, ranking, qv, available))
            if expected:
                top1.append(1.0 if ranked and not ranking.no_tool and ranked[0] in expected else 0.0)
                recall.append(recall_at(ranked, expected))
            else:
                no_tool.append(1.0 if ranking.no_tool else 0.0)
            if ranks_out:
                ranks_out.write(json.dumps({"id": it["id"], "ranked": ranked, "no_tool": ranking.no_tool}) + "\n")
    finally:
        if ranks_out:
            ranks_out.close()
    if online:
        return _report_online(args, stream)
    res = {
        "n": len(items),
        "top1": round(sum(top1) / len(top1), 4) if top1 else None,
        "recall_at_5": round(sum(recall) / len(recall), 4) if recall else None,
        "no_tool_accuracy": round(sum(no_tool) / len(no_tool), 4) if no_tool else None,
        "p50_ms": round(percentile(lat, 50), 4),
        "p99_ms": round(percentile(lat, 99), 4),
    }
    context: list[tuple[str, object]] = [
        ("params", params.version),
        ("encoder", vectors.encoder.model_id if vectors is not None else "off"),
        ("cpu per decision", f"p50 {percentile(cpu, 50):.4f} ms, p99 {percentile(cpu, 99):.4f} ms"),
    ]
    if vectors is not None:
        context.append(("shipped examples", f"{vectors.shipped_tools} catalogue tools" if vectors.shipped else "off"))
        ms = vectors.encode_ms
        context.append(
            ("query vector", f"p50 {percentile(ms, 50):.3f} ms, p99 {percentile(ms, 99):.3f} ms (not in p50_ms/p99_ms)")
        )
    print_report("tools", args.data, res, context, as_json=args.json)
    return 0


def _taught(path: str | None, vectors: Vectors) -> Any:
    """`--examples FILE`: its items as tool examples (runtime/tool_examples.TaughtVectors), or None."""
    if path is None:
        return None
    from mcproute.runtime.tool_examples import encode_tool_examples

    items = read_jsonl(Path(path), required=("query", "expected"))
    pairs = [(tool, it["query"]) for it in items if isinstance(it["query"], str) for tool in it["expected"]]
    return encode_tool_examples(vectors.encoder, pairs)


def _report_online(args: argparse.Namespace, stream: list[tuple[list[str], Any, Any, frozenset[str]]]) -> int:
    from mcproute.eval.online import tools_online

    reveal = getattr(args, "reveal", None)
    res, context, _ = tools_online(stream, 1.0 if reveal is None else reveal, getattr(args, "seed", 0))
    print_report("tools --online", args.data, res, context, as_json=args.json)
    return 0
