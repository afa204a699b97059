"""The learned parameters of tool retrieval: field weights, a term-expansion table, a linear
reranker, background document frequencies and the no-tool calibration.

They ship as one small JSON file (`mcproute/data/retrieval_params.json`) built by
`scripts/build_retrieval_params.py` from ../shared/evaldata; `RetrievalParams.default()` reads it
once per process. Every field has a hand-set fallback so a missing or partial file still gives
plain BM25F rather than an error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mcproute.router.retrieval_embed import StaticEmbedder

# Names of the reranker features, in the order `ToolIndex.features` computes them.
FEATURES: tuple[str, ...] = (
    "bm25",  # BM25F of the query terms, divided by the query's own IDF mass
    "bm25_rel",  # the same, divided by the best candidate's (1.0 for the leader)
    "coverage",  # IDF-weighted share of query terms the tool's text contains
    "name_cov",  # IDF-weighted share of the tool-name words the query (or its expansion) mentions
    "name_hit",  # IDF-weighted share of query terms found in the tool name
    "expansion",  # BM25F of the learned expansion terms, per query IDF mass
    "history",  # BM25F of the recent step texts and last result, per their IDF mass
    "used",  # the tool was used earlier in the conversation (recency-decayed)
    "same_server",  # the tool's server was used earlier in the conversation
    "mentioned",  # the step names the tool verbatim ("call get_weather")
    "phrase",  # adjacent query word pairs found adjacent in the tool's name or description
    "cos",  # cosine of the static-embedding vectors of the query and the tool (0 without embeddings)
    "cos_rel",  # the same minus the best cosine in the catalogue (0 for the semantic leader)
    "cos_bg",  # cosine minus the query's cosine with the mean tool of the dev catalogues
    "cos_top",  # 1 / (1 + rank of the tool's cosine within the pool): 1.0 for the closest
    "hist_cos",  # cosine of the tool with the recent step texts and last result
    "lexical",  # 1.0 when the tool shares a term with the query, its expansion or history, or was used
    "intent",  # the request's action verbs agree with the tool's (1 / 0.5 same family / -1; retrieval_intent.py)
    "many",  # the request is about several things and the tool is made for several (retrieval_intent.py)
    "thesaurus",  # BM25F of the thesaurus terms of the request (retrieval_thesaurus.py), per their IDF mass
    "slot",  # the tool's input schema takes the kinds of value the request carries (retrieval_slots.py)
    "slot_number",  # the request carries a number and the tool takes / does not take one (+1 / -1)
)

# No score margin and nothing relative to the other candidates: BFCL "irrelevance" items have a
# single candidate, so a margin there equals the whole score and a relative feature is constant;
# a model learns "a clear winner means no tool" -- an artefact of the data. Only absolute features.
# "actionable" is of the request, not of a tool: 1.0 unless it reads as a question for the model's
# own knowledge or advice (retrieval_questions.asks_knowledge). Bias last (the build script relies on it).
NO_TOOL_FEATURES: tuple[str, ...] = (
    *(f for f in FEATURES if f not in ("bm25_rel", "cos_rel", "cos_top")),
    "actionable",
    "bias",
)

_DEFAULT_WEIGHTS: Mapping[str, float] = {
    "bm25": 1.0,
    "bm25_rel": 0.5,
    "coverage": 1.0,
    "name_cov": 0.5,
    "name_hit": 0.5,
    "expansion": 0.5,
    "history": 0.3,
    "used": 0.3,
    "same_server": 0.1,
    "mentioned": 2.0,
    "phrase": 0.5,
    "cos": 1.0,
    "cos_rel": 0.5,
    "cos_bg": 0.0,
    "cos_top": 0.3,
    "hist_cos": 0.3,
    "lexical": 0.0,
    "intent": 0.3,
    "many": 0.1,
    "thesaurus": 0.3,
    "slot": 0.3,
    "slot_number": 0.0,
}


@dataclass(frozen=True, slots=True)
class RetrievalParams:
    version: str = "builtin-0"
    field_weights: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({"name": 3.0, "desc": 1.0, "params": 0.4})
    )
    field_b: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({"name": 0.5, "desc": 0.75, "params": 0.75})
    )
    k1: float = 1.2
    expansion: Mapping[str, tuple[tuple[str, float], ...]] = field(default_factory=lambda: MappingProxyType({}))
    weights: Mapping[str, float] = field(default_factory=lambda: MappingProxyType(dict(_DEFAULT_WEIGHTS)))
    # Background document frequencies (share of texts containing a term) learned from the dev
    # set; they give IDF that means the same in a 2-tool and a 2,000-tool catalogue.
    bg_df: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    bg_n: int = 0
    # BM25's IDF inside the catalogue is smoothed by this many pseudo-tools drawn from the
    # background corpus: in a 2-tool catalogue every shared word ("time") would otherwise weigh
    # nothing and one incidental word ("Tokyo" in a parameter example) decide the ranking.
    # Large catalogues barely notice it. 0 = plain BM25 IDF (files written before it).
    idf_prior_docs: float = 0.0
    no_tool_weights: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({"coverage": 6.0, "name_cov": 1.0, "bias": -2.0})
    )
    no_tool_threshold: float = 0.5  # "no tool fits" when P(fit) falls below this
    pool: int = 30  # candidates the reranker looks at
    max_query_terms: int = 32
    sources: tuple[str, ...] = ()
    # Static embeddings: SIF token weights learned from catalogue texts (WordPiece token -> weight;
    # unseen tokens get `embed_default`), how many semantic neighbours join the stage-1 pool, and
    # the mean tool vector of the dev catalogues (for `cos_bg`). `embeddings` is another table
    # file (experiments only; "" = the shipped one, "off" = lexical signals alone).
    embed_weights: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    embed_default: float = 1.0
    embed_pool: int = 10
    embed_centroid: tuple[float, ...] = ()
    embeddings: str = ""
    # True: a pool found by meaning alone (no shared term) always means "no tool" (static
    # embeddings were not trusted alone); False: the no-tool model decides from the cosine too.
    require_lexical: bool = True
    _bg_cache: dict[str, float] = field(default_factory=dict, compare=False, repr=False)
    _emb_cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def catalogue_idf(self, term: str, df: float, n: float) -> float:
        """BM25 IDF of `term` held by `df` of a catalogue's `n` tools, smoothed by
        `idf_prior_docs` pseudo-tools in which it is as common as in the background corpus."""
        n0 = self.idf_prior_docs
        if n0 > 0 and self.bg_n > 0:
            share = (self.bg_df.get(term, 0) + 0.5) / (self.bg_n + 1.0)
            df, n = df + n0 * share, n + n0
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def bg_idf(self, term: str) -> float:
        """IDF of `term` against the background corpus; unseen terms count as rare."""
        if self.bg_n <= 0:
            return 1.0
        v = self._bg_cache.get(term)
        if v is None:
            df = self.bg_df.get(term, 0)
            v = math.log(1.0 + (self.bg_n - df + 0.5) / (df + 0.5))
            if len(self._bg_cache) < 200_000:
                self._bg_cache[term] = v
        return v

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RetrievalParams:
        base = cls()
        exp = {str(k): tuple((str(t), float(w)) for t, w in v) for k, v in (d.get("expansion") or {}).items()}
        weights = dict(_DEFAULT_WEIGHTS)
        weights.update({k: float(v) for k, v in (d.get("weights") or {}).items() if k in FEATURES})
        return cls(
            version=str(d.get("version", base.version)),
            field_weights=MappingProxyType({**base.field_weights, **(d.get("field_weights") or {})}),
            field_b=MappingProxyType({**base.field_b, **(d.get("field_b") or {})}),
            k1=float(d.get("k1", base.k1)),
            expansion=MappingProxyType(exp),
            weights=MappingProxyType(weights),
            bg_df=MappingProxyType({str(k): int(v) for k, v in (d.get("bg_df") or {}).items()}),
            bg_n=int(d.get("bg_n", 0)),
            idf_prior_docs=float(d.get("idf_prior_docs", 0.0)),
            no_tool_weights=MappingProxyType(
                {k: float(v) for k, v in (d.get("no_tool_weights") or base.no_tool_weights).items()}
            ),
            no_tool_threshold=float(d.get("no_tool_threshold", base.no_tool_threshold)),
            pool=int(d.get("pool", base.pool)),
            max_query_terms=int(d.get("max_query_terms", base.max_query_terms)),
            sources=tuple(d.get("sources") or ()),
            embed_weights=MappingProxyType({str(k): float(v) for k, v in (d.get("embed_weights") or {}).items()}),
            embed_default=float(d.get("embed_default", base.embed_default)),
            embed_pool=int(d.get("embed_pool", base.embed_pool)),
            embed_centroid=tuple(float(v) for v in d.get("embed_centroid") or ()),
            embeddings=str(d.get("embeddings", "")),
            require_lexical=bool(d.get("require_lexical", True)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "sources": list(self.sources),
            "field_weights": dict(self.field_weights),
            "field_b": dict(self.field_b),
            "k1": self.k1,
            "weights": dict(self.weights),
            "no_tool_weights": dict(self.no_tool_weights),
            "no_tool_threshold": self.no_tool_threshold,
            "pool": self.pool,
            "max_query_terms": self.max_query_terms,
            "embed_default": self.embed_default,
            "embed_pool": self.embed_pool,
            "embed_centroid": [round(v, 5) for v in self.embed_centroid],
            **({"embeddings": self.embeddings} if self.embeddings else {}),
            "require_lexical": self.require_lexical,
            "embed_weights": {k: round(v, 4) for k, v in sorted(self.embed_weights.items())},
            "bg_n": self.bg_n,
            "idf_prior_docs": self.idf_prior_docs,
            "bg_df": dict(sorted(self.bg_df.items())),
            "expansion": {k: [[t, round(w, 4)] for t, w in v] for k, v in sorted(self.expansion.items())},
        }

    def embedder(self) -> StaticEmbedder | None:
        """The static embedder with this file's token weights (built once per params object)."""
        if "e" not in self._emb_cache:
            if self.embeddings == "off":
                emb = None
            elif self.embeddings:
                emb = StaticEmbedder.load(self.embeddings)
            else:
                emb = StaticEmbedder.shipped()
            if emb is not None and self.embed_weights:
                emb = emb.with_weights(self.embed_weights, self.embed_default)
            self._emb_cache["e"] = emb
        return self._emb_cache["e"]

    def with_no_tool_threshold(self, threshold: float | None) -> RetrievalParams:
        """These parameters with `routing.no_tool_threshold` in force (None: as they are). The
        version says so ("tools-367f372d+nt0.4", as `eval tools` prints it); a decision names the
        bar in its reason ("no tool fits this step (P(fit) 0.25 < 0.4)")."""
        if threshold is None or threshold == self.no_tool_threshold:
            return self
        return replace(self, no_tool_threshold=float(threshold), version=f"{self.version}+nt{threshold:g}")

    @classmethod
    def load(cls, path: str | Path) -> RetrievalParams:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    @staticmethod
    def default() -> RetrievalParams:
        return _shipped()


@lru_cache(maxsize=1)
def _shipped() -> RetrievalParams:
    # Read once per process; the router stays pure because this happens at index construction.
    try:
        text = resources.files("mcproute.data").joinpath("retrieval_params.json").read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError, OSError):
        return RetrievalParams()
    return RetrievalParams.from_dict(json.loads(text))
