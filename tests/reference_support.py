"""The reference servers' catalogue (tests/data/catalogs/reference_servers.json) ranked as a
gateway ranks it once the tool vectors are ready: shipped params, an encoder vector on every tool,
the step's own vector, and (`examples=True`) the shipped examples for those servers in force."""

from __future__ import annotations

import json
from collections.abc import Container
from pathlib import Path
from typing import Any

from mcproute.encoding.texts import tool_text
from mcproute.router.retrieval_types import Ranking, RetrievalContext
from mcproute.router.tools import ToolIndex, specs_from_dicts
from mcproute.runtime.tool_examples import blend, encode_tool_examples, shipped_for_catalog

REFERENCE = Path(__file__).parent / "data" / "catalogs" / "reference_servers.json"


class ReferenceIndex:
    def __init__(
        self, encoder: Any, *, examples: bool = False, only: Container[str] | None = None
    ) -> None:  # encoder: mcproute.encoding.Encoder; only: the tool names to keep (None: all)
        specs = specs_from_dicts(json.loads(REFERENCE.read_text(encoding="utf-8")))
        if only is not None:
            specs = [s for s in specs if s.name in only]
        self.encoder = encoder
        self.index = ToolIndex(specs)
        vectors = dict(zip((s.name for s in specs), encoder.encode([tool_text(s) for s in specs]), strict=True))
        if not examples:
            self.index.attach_vectors(vectors)
            return
        pairs = shipped_for_catalog((s.name, s.description) for s in specs)
        taught = encode_tool_examples(encoder, pairs, shipped={name for name, _ in pairs})
        self.index.attach_vectors(
            blend(vectors, taught.means),
            examples=taught.rows,
            shipped=taught.shipped,
            head=taught.head_for({s.name for s in specs}),
        )

    def rank(self, text: str, k: int = 5, context: RetrievalContext | None = None) -> Ranking:
        return self.index.rank(text, k=k, vector=self.encoder.encode_one(text), context=context)
