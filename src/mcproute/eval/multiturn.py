"""`mcproute eval multiturn`: does conversation history help tool retrieval?

Every conversation gets its own `ToolIndex` over the tools available to it (server = the BFCL
class, e.g. GorillaFileSystem; for a plain list catalogue, each tool's `server` field or the
catalogue's file name). Turns are ranked in order twice: with a `RetrievalContext`
built from what the conversation did so far (earlier turn texts; tools and servers of the calls
earlier turns made: their `expected_calls` where a turn lists them, as BFCL does, else the first of
its `expected_tools`, which are then alternatives) and without it. A turn whose `tools_added`
brings a tool back (BFCL "miss_func") is applied with `ToolIndex.update` on that tool's server, as the
gateway would on a list_changed notification. The ranking with history then gets the gateway's
bounded boost for the servers and tools the conversation used (`conversation.apply_affinity`). A
turn that expects a tool is scored for recall@5 and top1 (`n_turns` counts them); a turn with text
that expects none, for no-tool accuracy (`n_no_tool_turns`): both with the history and stateless.

With the sentence encoder (on by default, as in `eval tools`; `--no-encoder` turns it off), each
catalogue's tools are encoded once per run through the encoder's on-disk vector cache, every
conversation's index gets the vectors of its tools (again after `tools_added`) and, as in the
gateway, the shipped examples of the tools that have them (the reference servers'), and each
turn's text is encoded once and used for both rankings.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from mcproute.errors import DataFileError
from mcproute.eval.data import progress, read_catalog, read_jsonl
from mcproute.eval.report import print_report
from mcproute.eval.tools import Vectors, load_params, load_vectors, recall_at
from mcproute.router.conversation import apply_affinity
from mcproute.router.step import ConversationState, ToolSpec
from mcproute.router.tools import RetrievalContext, ToolIndex, specs_from_dicts

_KEEP_USED = 8
_KEEP_TEXTS = 4


def _classes(path: Path, rel: str, line: int) -> dict[str, tuple[str, dict[str, Any]]]:
    """Tool name -> (server, tool). Two shapes: BFCL's class -> tools mapping, or the plain list
    every other catalogue uses (`[{name, description, input_schema}]`, as the evaldata README
    gives it), whose tools belong to their `server` field, else to one server named after the file."""
    obj = read_catalog(
        path, rel, line, (dict, list), "a multi-turn catalog is a list of tools, or maps class name -> list of tools"
    )
    if isinstance(obj, list):
        default = Path(rel).stem
        groups: dict[str, list[Any]] = {}
        for t in obj:
            if isinstance(t, dict):
                groups.setdefault(str(t.get("server") or default), []).append(t)
    else:
        groups = {cls: tools for cls, tools in obj.items() if isinstance(tools, list)}
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for cls, tools in groups.items():
        for i, t in enumerate(tools):
            if not isinstance(t, dict) or not isinstance(t.get("name"), str):
                raise DataFileError(
                    str(path.parent / rel), 1, f"tool {i} of {cls!r} must be an object with a string 'name'"
                )
            out[t["name"]] = (cls, t)
    return out


def run(args: argparse.Namespace) -> int:
    path = Path(args.data)
    items = read_jsonl(path, required=("id", "catalog", "tools", "turns"))
    if args.filter:
        items = [it for it in items if it.get("source") == args.filter]
    if args.limit is not None:
        items = items[: args.limit]
    params = load_params()
    vectors = load_vectors(getattr(args, "encoder", None))
    catalogs: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {}
    with_hist: list[float] = []
    stateless: list[float] = []
    top1: tuple[list[float], list[float]] = ([], [])  # with history, stateless
    no_tool: tuple[list[float], list[float]] = ([], [])
    out = open(args.ranks_out, "w", encoding="utf-8") if args.ranks_out else None  # noqa: SIM115
    try:
        for it in progress(items, "multiturn", not args.no_progress):
            line = it["_line"]
            if it["catalog"] not in catalogs:
                catalogs[it["catalog"]] = _classes(path, it["catalog"], line)
                if vectors is not None:  # the whole catalogue through the disk cache, once
                    vectors.for_specs(_specs(catalogs[it["catalog"]].values()))
            by_name = catalogs[it["catalog"]]
            unknown = [n for n in it["tools"] if n not in by_name]
            if unknown:
                raise DataFileError(str(path), line, f"tools not in {it['catalog']}: {', '.join(unknown[:5])}")
            available: dict[str, list[ToolSpec]] = {}
            for n in it["tools"]:
                cls, t = by_name[n]
                available.setdefault(cls, []).extend(specs_from_dicts([t], server=cls))
            index = _indexed(available, params, vectors)
            used: list[str] = []
            servers: list[str] = []  # one per call, as the gateway's state keeps them
            texts: list[str] = []
            server_of = _server_lookup(by_name)

            for ti, turn in enumerate(it["turns"]):
                if not isinstance(turn, dict) or not isinstance(turn.get("expected_tools", []), list):
                    raise DataFileError(str(path), line, f"turn {ti} must be an object with 'expected_tools'")
                for n in turn.get("tools_added") or ():
                    if n in by_name:
                        cls, t = by_name[n]
                        available.setdefault(cls, []).extend(specs_from_dicts([t], server=cls))
                        index.update(cls, available[cls])
                        if vectors is not None:  # update() drops the replaced server's vectors
                            vectors.attach(index, [s for group in available.values() for s in group])
                text = turn.get("user") or it.get("user_goal") or ""
                ctx = RetrievalContext(
                    tools_used=tuple(used[-_KEEP_USED:]),
                    servers_used=tuple(dict.fromkeys(by_name[u][0] for u in used if u in by_name)),
                    recent_texts=tuple(texts[-_KEEP_TEXTS:]),
                )
                expected = turn.get("expected_tools") or []
                qv = vectors.query(text) if vectors is not None and text else None
                ranking = index.rank(text, context=ctx, k=10, vector=qv)
                alone = index.rank(text, k=10, vector=qv)
                # ... then, as the gateway decides, the bounded boost for the servers and tools used
                state = ConversationState("eval", tools_used=ctx.tools_used, servers_used=tuple(servers[-_KEEP_USED:]))
                ranked = [c.name for c in apply_affinity(ranking.candidates, state, server_of).candidates]
                for i, (r, names) in enumerate(((ranking, ranked), (alone, [c.name for c in alone.candidates]))):
                    if expected:
                        top1[i].append(1.0 if names and not r.no_tool and names[0] in expected else 0.0)
                        (with_hist if i == 0 else stateless).append(recall_at(names, expected))
                    elif text:
                        no_tool[i].append(1.0 if r.no_tool else 0.0)
                if out:
                    out.write(
                        json.dumps({"id": it["id"], "turn": ti, "ranked": ranked, "no_tool": ranking.no_tool}) + "\n"
                    )
                # The tools this turn called: BFCL lists its calls (`expected_calls`); a turn without
                # them lists alternatives, any of which is fine, and a model calls one.
                calls = turn.get("expected_calls")
                now = [c["name"] for c in calls if isinstance(c, dict)] if isinstance(calls, list) else expected[:1]
                used.extend(now)
                servers.extend(by_name[u][0] for u in now if u in by_name)
                if turn.get("user"):
                    texts.append(turn["user"])
    finally:
        if out:
            out.close()
    res = {
        "n_turns": len(with_hist),
        "recall_at_5": round(sum(with_hist) / len(with_hist), 4) if with_hist else None,
        "recall_at_5_stateless": round(sum(stateless) / len(stateless), 4) if stateless else None,
        "top1": _mean(top1[0]),
        "top1_stateless": _mean(top1[1]),
        "no_tool_accuracy": _mean(no_tool[0]),
        "no_tool_accuracy_stateless": _mean(no_tool[1]),
        "n_no_tool_turns": len(no_tool[0]),
    }
    print_report(
        "multiturn",
        args.data,
        res,
        [("params", params.version), ("encoder", vectors.encoder.model_id if vectors is not None else "off")],
        as_json=args.json,
    )
    return 0


def _server_lookup(by_name: dict[str, tuple[str, dict[str, Any]]]) -> Callable[[str], str | None]:
    return lambda name: by_name[name][0] if name in by_name else None


def _specs(tools: Iterable[tuple[str, dict[str, Any]]]) -> list[ToolSpec]:
    return [s for cls, t in tools for s in specs_from_dicts([t], server=cls)]


def _indexed(available: dict[str, list[ToolSpec]], params: Any, vectors: Vectors | None) -> ToolIndex:
    """The conversation's index, with what the gateway would attach: encoder vectors and, for
    tools that have them, the shipped examples."""
    specs = [s for group in available.values() for s in group]
    index = ToolIndex(specs, params=params)
    return vectors.attach(index, specs) if vectors is not None else index


def _mean(xs: list[float]) -> float | None:
    return round(sum(xs) / len(xs), 4) if xs else None
