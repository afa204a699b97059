"""Build `src/mcproute/data/tool_examples.json`: usage examples for the official reference servers.

The examples are the tool requests of the twenty everyday dev sets, grouped by the tool they expect:
`tests/data/everyday_dev.jsonl` (hand-written, 132 requests against time, git, fetch, memory and
filesystem), `everyday_dev2.jsonl` (111 more, about three per tool, written later),
`everyday_dev3.jsonl` (129, mostly the memory server and the git and filesystem tools the first two
confused) and `everyday_dev4` to `everyday_dev20` (other authors and styles; tests/data/README.md).
Shipping them was chosen on `scripts/crossfit_examples.py` (docs/routing-tools.md). The requests
of those sets and of the no-tool dev sets (`--no-tool-data`) that need no tool are shipped as
`no_tool`: requests the reference servers cannot serve. Each tool keeps
the sha256 of its description as the catalogue file gives it, so a catalogue tool gets examples
only when it is that tool (runtime/tool_examples.py). The holdout and fresh sets are never read.

    PYTHONPATH=$PWD/src .venv/bin/python scripts/build_tool_examples.py

Deterministic: the same input gives a byte-identical file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mcproute.runtime.tool_examples import REFERENCE_PACKAGES, description_sha  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    dev = ROOT / "tests" / "data"
    ap.add_argument(
        "--data",
        type=Path,
        nargs="+",
        default=[dev / f"everyday_dev{n}.jsonl" for n in ("", *range(2, 21))],
    )
    ap.add_argument(
        "--no-tool-data",
        type=Path,
        nargs="*",
        default=[
            dev / f"everyday_{name}.jsonl"
            for name in ("notool_dev2", "notool_dev3", "notool_dev4", "outside_dev", "traps_dev")
        ],
        # not everyday_notool_dev: the no-tool model was fitted on it (build_retrieval_params.py)
        help="more files whose no-tool requests are shipped (those of --data are too)",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "src" / "mcproute" / "data" / "tool_examples.json")
    a = ap.parse_args(argv)
    if any("holdout" in p.name or "fresh" in p.name for p in (*a.data, *a.no_tool_data)):
        ap.error("--data must name dev files: the holdout and fresh sets are never learned from")
    items = [
        (path, json.loads(line))
        for path in a.data
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    catalogs: dict[Path, dict[str, dict]] = {}
    servers: dict[str, dict] = {}
    for path, it in items:
        rel = (path.parent / it["catalog"]).resolve()
        if rel not in catalogs:
            catalogs[rel] = {t["name"]: t for t in json.loads(rel.read_text(encoding="utf-8"))}
        for name in it["expected"][:1]:  # the first expected tool is what the request is for
            tool = catalogs[rel][name]
            server = tool["server"]
            if server not in REFERENCE_PACKAGES:
                raise SystemExit(f"{path}: {name} is not on a reference server mcproute knows ({server})")
            bare = name.removeprefix(f"{server}__")
            entry = servers.setdefault(server, {}).setdefault(
                bare, {"description_sha256": description_sha(tool.get("description", "")), "examples": []}
            )
            text = " ".join(it["query"].split())
            if text not in entry["examples"]:
                entry["examples"].append(text)
    no_tool: list[str] = []
    for path in (*a.data, *a.no_tool_data):
        for line in path.read_text(encoding="utf-8").splitlines():
            it = json.loads(line) if line.strip() else None
            text = " ".join(it["query"].split()) if it and not it["expected"] else None
            if text and text not in no_tool:
                no_tool.append(text)
    out = {
        "format": 1,
        "built_by": "scripts/build_tool_examples.py",
        "from": [f"tests/data/{p.name}" for p in (*a.data, *a.no_tool_data)],
        "servers": {s: dict(sorted(t.items())) for s, t in sorted(servers.items())},
        "no_tool": no_tool,
    }
    a.out.write_text(json.dumps(out, indent=1, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")
    n = sum(len(e["examples"]) for t in servers.values() for e in t.values())
    print(
        f"wrote {a.out}: {n} examples for {sum(len(t) for t in servers.values())} tools, {len(no_tool)} needing none",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
