#!/usr/bin/env python3
"""Do the examples of the tools a config does not serve help when taught as needing no tool?

The bundled servers.yaml denies git's writing tools and runs no fetch, memory or filesystem
server. Each everyday dev set is ranked over the catalogue that config serves (time, and git's
other tools), taught by every other set: the served tools' requests as their examples, the no-tool
requests and the withheld tools' requests under NO_TOOL (as `runtime/tool_examples` does since the
eleventh session), and the requests for the absent servers either (OLD) dropped or (NEW) taught
under NO_TOOL too, as it does since the seventeenth. The holdout and fresh sets are never read.

    PYTHONPATH=$PWD/src .venv/bin/python scripts/crossfit_withheld.py

Prints, per variant: top1 / recall@5 on requests for served tools (and how many went to no tool),
and how often requests for withheld tools, for servers the config lacks, and for no tool at all
get no tool.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crossfit_examples import DATA, NEGATIVES, NO_TOOL_SETS, TOOL_SETS, load_sets  # noqa: E402  (this folder)

from mcproute.config import load_config  # noqa: E402
from mcproute.eval.tools import load_params, load_vectors  # noqa: E402
from mcproute.gateway.catalog import tool_allowed  # noqa: E402
from mcproute.router.retrieval_examples import NO_TOOL  # noqa: E402
from mcproute.router.tools import ToolIndex, specs_from_dicts  # noqa: E402
from mcproute.runtime.tool_examples import blend, encode_tool_examples  # noqa: E402


def catalogue() -> tuple[list[Any], set[str]]:
    """The reference tools servers.yaml serves, and the ones it withholds (by its allow/deny)."""
    config = load_config(ROOT / "servers.yaml", environ={}).config
    specs = specs_from_dicts(json.loads((DATA / "catalogs" / "reference_servers.json").read_text(encoding="utf-8")))
    served, withheld = [], set()
    for spec in specs:
        server, _, tool = spec.name.partition("__")
        cfg = config.servers.get(server)
        if cfg is None:
            continue
        (served.append(spec) if tool_allowed(tool, cfg) else withheld.add(spec.name))
    return served, withheld


def main() -> int:
    sets = load_sets()
    specs, withheld = catalogue()
    names = {s.name for s in specs}
    vectors = load_vectors(True)
    if vectors is None:
        raise SystemExit("the sentence encoder is needed")
    found = vectors.for_specs(specs)
    query: dict[str, Any] = {}

    def vec(text: str) -> Any:
        if text not in query:
            query[text] = vectors.encoder.encode_one(text)
        return query[text]

    for variant in ("OLD", "NEW"):
        served = [0, 0, 0, 0]  # top1, recall@5, n, sent to no tool
        none = {"withheld": [0, 0], "other servers": [0, 0], "no tool": [0, 0]}  # no tool, n
        for f in TOOL_SETS + NO_TOOL_SETS:
            teach = [it for g in TOOL_SETS if g != f for it in sets[g] if it["expected"]]
            pairs = [(it["expected"][0], it["query"]) for it in teach if it["expected"][0] in names]
            pairs += [(NO_TOOL, it["query"]) for it in teach if it["expected"][0] in withheld]
            if variant == "NEW":
                pairs += [(NO_TOOL, it["query"]) for it in teach if it["expected"][0] not in names | withheld]
            pairs += [(NO_TOOL, it["query"]) for g in NEGATIVES if g != f for it in sets[g] if not it["expected"]]
            taught = encode_tool_examples(
                vectors.encoder, pairs, shipped={t for t, _ in pairs if t != NO_TOOL} | {NO_TOOL}
            )
            index = ToolIndex(specs, params=load_params())
            index.attach_vectors(
                blend(found, taught.means),
                examples=taught.rows,
                shipped=taught.shipped,
                head=taught.head_for(names),
            )
            for it in sets[f]:
                r = index.rank(it["query"], k=10, vector=vec(it["query"]))
                lead = None if r.no_tool or not r.candidates else r.candidates[0].name
                expected = it["expected"]
                if expected and expected[0] in names:
                    served[0] += lead in expected
                    served[1] += bool({c.name for c in r.candidates[:5]} & set(expected))
                    served[2] += 1
                    served[3] += lead is None
                    continue
                kind = "no tool" if not expected else "withheld" if expected[0] in withheld else "other servers"
                none[kind][0] += lead is None
                none[kind][1] += 1
        print(
            f"{variant}: served tools top1 {served[0] / served[2]:.3f} recall@5 {served[1] / served[2]:.3f} "
            f"(n {served[2]}, {served[3]} sent to no tool); no tool for "
            + ", ".join(f"{k} {v[0] / v[1]:.3f} (n {v[1]})" for k, v in none.items()),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
