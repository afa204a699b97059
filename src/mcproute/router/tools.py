"""Tool retrieval: rank a catalogue for one step's text, or say that no tool fits.

Two stages, both pure and in-memory:

1. **BM25F** over three fields of every tool (name words, description, parameter names and
   descriptions), plus two extra query channels: terms from a learned expansion table (query word
   -> tool word, see scripts/build_retrieval_params.py) and, in a conversation, the recent step
   texts and the last tool result. This keeps a pool of the best ~40 tools.
2. A **linear reranker** over a few per-candidate features (relative BM25F, IDF-weighted coverage of
   the query, how much of the tool's name the query mentions, expansion and history scores, whether
   the tool or its server was used earlier in the conversation). A logistic model on the leader's
   features gives P(some tool fits); below the calibrated threshold the ranking says `no_tool`.

The index is built once; `update(server, tools)` replaces one server's tools without touching the
others' postings. Ties break by score, then by stable catalogue order (server first seen, then
the server's own order) — never by name.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mcproute.router.retrieval_params import FEATURES, RetrievalParams
from mcproute.router.retrieval_text import tokens, tool_fields, unique
from mcproute.router.step import Candidate, ConversationState, ToolSpec

_FIELDS = ("name", "desc", "params")
_HISTORY_TEXTS = 2  # how many earlier step texts feed the history channel
_RESULT_CHARS = 600


@dataclass(frozen=True, slots=True)
class RetrievalContext:
    """What the conversation tells retrieval (mirrors the `ConversationState` fields)."""

    tools_used: tuple[str, ...] = ()  # most recent last
    servers_used: tuple[str, ...] = ()
    recent_texts: tuple[str, ...] = ()  # earlier step texts, most recent last
    last_result: str = ""

    @classmethod
    def from_state(cls, state: ConversationState) -> RetrievalContext:
        return cls(state.tools_used, state.servers_used, state.recent_texts, state.last_result)


@dataclass(frozen=True, slots=True)
class Ranking:
    candidates: tuple[Candidate, ...]  # best first
    no_tool: bool  # True: no tool in the catalogue fits this step
    no_tool_score: float  # 0..1, calibrated P(no tool fits); compare with `threshold`
    threshold: float
    explanation: str

    @property
    def best(self) -> Candidate | None:
        return None if self.no_tool or not self.candidates else self.candidates[0]

    @property
    def confidence(self) -> float:
        return 1.0 - self.no_tool_score


@dataclass(slots=True)
class _Doc:
    spec: ToolSpec
    order: tuple[int, int]
    terms: frozenset[str]
    name_terms: tuple[str, ...]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, x))))


class ToolIndex:
    """An incremental BM25F + reranker index over a tool catalogue."""

    def __init__(self, tools: Sequence[ToolSpec] = (), *, params: RetrievalParams | None = None) -> None:
        self.params = params or RetrievalParams.default()
        self._docs: dict[int, _Doc] = {}
        self._post: dict[str, dict[int, float]] = {}
        self._fields: dict[int, dict[str, list[str]]] = {}
        self._by_name: dict[str, int] = {}
        self._by_server: dict[str, list[int]] = {}
        self._server_rank: dict[str, int] = {}
        self._next = 0
        self._len_sum = dict.fromkeys(_FIELDS, 0)
        self._avg = dict.fromkeys(_FIELDS, 1.0)
        groups: dict[str, list[ToolSpec]] = {}
        for t in tools:
            groups.setdefault(t.server, []).append(t)
        for t in tools:  # fix avg lengths on the whole catalogue before computing any norm
            for f, terms in tool_fields(t.name, t.description, t.input_schema).items():
                self._len_sum[f] += len(terms)
        self._set_avg(len(tools))
        for server, specs in groups.items():
            self._add_server(server, specs)

    # ------------------------------------------------------------------ building
    def __len__(self) -> int:
        return len(self._docs)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.spec.name for d in sorted(self._docs.values(), key=lambda d: d.order))

    def _set_avg(self, n: int) -> None:
        self._avg = {f: max(1.0, self._len_sum[f] / n) if n else 1.0 for f in _FIELDS}

    def _add_server(self, server: str, specs: Sequence[ToolSpec]) -> None:
        rank = self._server_rank.setdefault(server, len(self._server_rank))
        slots = self._by_server.setdefault(server, [])
        p = self.params
        for pos, spec in enumerate(specs):
            slot = self._next
            self._next += 1
            fields = tool_fields(spec.name, spec.description, spec.input_schema)
            self._fields[slot] = fields
            tfw: Counter[str] = Counter()
            for f in _FIELDS:
                terms = fields[f]
                if not terms:
                    continue
                norm = 1.0 - p.field_b[f] + p.field_b[f] * len(terms) / self._avg[f]
                for term, tf in Counter(terms).items():
                    tfw[term] += p.field_weights[f] * tf / norm
            for term, tf in tfw.items():
                self._post.setdefault(term, {})[slot] = tf / (p.k1 + tf)
            all_terms = frozenset(t for f in _FIELDS for t in fields[f])
            self._docs[slot] = _Doc(spec, (rank, pos), all_terms, tuple(unique(fields["name"])))
            self._by_name.setdefault(spec.name, slot)
            slots.append(slot)

    def _remove_server(self, server: str) -> None:
        for slot in self._by_server.pop(server, []):
            doc = self._docs.pop(slot)
            fields = self._fields.pop(slot)
            for f in _FIELDS:
                self._len_sum[f] -= len(fields[f])
            for term in doc.terms:
                plist = self._post.get(term)
                if plist is not None:
                    plist.pop(slot, None)
                    if not plist:
                        del self._post[term]
            if self._by_name.get(doc.spec.name) == slot:
                del self._by_name[doc.spec.name]
                for other in sorted(self._docs.values(), key=lambda d: d.order):
                    if other.spec.name == doc.spec.name:  # a duplicate name elsewhere takes over
                        self._by_name[doc.spec.name] = next(
                            s for s, d in self._docs.items() if d is other
                        )
                        break

    def update(self, server: str, tools: Sequence[ToolSpec]) -> None:
        """Replace `server`'s tools; other servers' postings are left as they are.

        Length norms use the average field lengths at the time a tool was added; when an update
        moves an average by more than 25 % the whole index is renormalised (rare: it takes a
        server that dwarfs the rest).
        """
        self._remove_server(server)
        specs = [ToolSpec(t.name, t.description, t.input_schema, server) for t in tools]
        for t in specs:
            for f, terms in tool_fields(t.name, t.description, t.input_schema).items():
                self._len_sum[f] += len(terms)
        old = dict(self._avg)
        self._set_avg(len(self._docs) + len(specs))
        if any(abs(self._avg[f] - old[f]) > 0.25 * old[f] for f in _FIELDS):
            self._renormalise(server, specs)
            return
        self._avg = old  # keep the norms consistent with the postings already built
        self._add_server(server, specs)

    def _renormalise(self, server: str, specs: Sequence[ToolSpec]) -> None:
        by_rank = sorted(self._server_rank.items(), key=lambda kv: kv[1])
        groups = {s: [self._docs[x].spec for x in self._by_server.get(s, [])] for s, _ in by_rank}
        groups[server] = list(specs)
        self._docs.clear()
        self._post.clear()
        self._fields.clear()
        self._by_name.clear()
        self._by_server.clear()
        for s, group in groups.items():
            self._add_server(s, group)

    # ------------------------------------------------------------------ scoring
    def _idf(self, term: str, df: int) -> float:
        n = len(self._docs)
        cat = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
        return cat

    def _channel(self, terms: dict[str, float], acc: dict[int, float]) -> float:
        """Add sum(weight * idf * tf-part) to `acc`; return the channel's IDF mass."""
        mass = 0.0
        post = self._post
        bg = self.params.bg_idf
        for term, w in terms.items():
            mass += w * bg(term)
            plist = post.get(term)
            if not plist:
                continue
            iw = w * self._idf(term, len(plist))
            for slot, v in plist.items():
                acc[slot] = acc.get(slot, 0.0) + iw * v
        return mass

    def features(
        self, text: str, context: RetrievalContext | None = None
    ) -> tuple[list[int], list[list[float]], dict[str, float]]:
        """Pool slots, their feature rows (in `FEATURES` order), and the query's term weights."""
        p = self.params
        q = Counter(tokens(text))
        qterms = {t: 1.0 + 0.3 * math.log(c) for t, c in list(q.items())[: p.max_query_terms]}
        base: dict[int, float] = {}
        qmass = self._channel(qterms, base)
        exp_terms: dict[str, float] = {}
        for t in qterms:
            for t2, w in p.expansion.get(t, ()):
                if t2 not in qterms:
                    exp_terms[t2] = max(exp_terms.get(t2, 0.0), w)
        exp: dict[int, float] = {}
        emass = self._channel(exp_terms, exp) if exp_terms else 0.0
        hist: dict[int, float] = {}
        hmass = 0.0
        used: dict[int, float] = {}
        servers: set[str] = set()
        if context is not None:
            htext = " ".join((*context.recent_texts[-_HISTORY_TEXTS:], context.last_result[:_RESULT_CHARS]))
            hq = Counter(tokens(htext))
            hterms = {t: 0.5 for t, _ in hq.most_common(p.max_query_terms) if t not in qterms}
            hmass = self._channel(hterms, hist) if hterms else 0.0
            for age, name in enumerate(reversed(context.tools_used)):
                slot = self._by_name.get(name)
                if slot is not None:
                    used[slot] = max(used.get(slot, 0.0), 0.7**age)
            servers = {s for s in context.servers_used if s}
        w = p.weights
        qm, em, hm = max(qmass, 1e-9), max(emass, 1e-9), max(hmass, 1e-9)
        stage1: dict[int, float] = dict.fromkeys(base.keys() | exp.keys() | hist.keys() | used.keys(), 0.0)
        for slot in stage1:
            stage1[slot] = (
                w["bm25"] * base.get(slot, 0.0) / qm
                + w["expansion"] * exp.get(slot, 0.0) / em
                + w["history"] * hist.get(slot, 0.0) / hm
                + w["used"] * used.get(slot, 0.0)
            )
        pool = sorted(stage1, key=lambda s: (-stage1[s], self._docs[s].order))[: p.pool]
        top_base = max((base.get(s, 0.0) for s in pool), default=0.0) or 1e-9
        qset = set(qterms)
        qexp = qset | set(exp_terms)
        bgq = {t: p.bg_idf(t) for t in qset}
        bgq_sum = sum(bgq.values()) or 1e-9
        rows: list[list[float]] = []
        for s in pool:
            doc = self._docs[s]
            cov = sum(v for t, v in bgq.items() if t in doc.terms) / bgq_sum
            nt = doc.name_terms
            name_cov = sum(1 for t in nt if t in qexp) / len(nt) if nt else 0.0
            name_set = set(nt)
            name_hit = sum(v for t, v in bgq.items() if t in name_set) / bgq_sum
            rows.append(
                [
                    base.get(s, 0.0) / qm,
                    base.get(s, 0.0) / top_base,
                    cov,
                    name_cov,
                    name_hit,
                    exp.get(s, 0.0) / em,
                    hist.get(s, 0.0) / hm,
                    used.get(s, 0.0),
                    1.0 if doc.spec.server in servers else 0.0,
                ]
            )
        return pool, rows, qterms

    def rank(self, text: str, *, context: RetrievalContext | None = None, k: int = 10) -> Ranking:
        """The top-`k` tools for `text` (best first) and whether any tool fits at all."""
        p = self.params
        if not self._docs:
            return Ranking((), True, 1.0, p.no_tool_threshold, "catalogue is empty")
        pool, rows, qterms = self.features(text or "", context)
        if not pool:
            why = "no query terms" if not qterms else "no tool shares a term with the step"
            return Ranking((), True, 1.0, p.no_tool_threshold, why)
        wv = [p.weights[f] for f in FEATURES]
        scored = [(sum(a * b for a, b in zip(wv, r, strict=True)), s, r) for s, r in zip(pool, rows, strict=True)]
        scored.sort(key=lambda x: (-x[0], self._docs[x[1]].order))
        top = scored[:k]
        p_fit = self._p_fit(scored)
        no_tool_score = 1.0 - p_fit
        no_tool = p_fit < p.no_tool_threshold
        lead = self._docs[top[0][1]].spec.name
        r0 = dict(zip(FEATURES, top[0][2], strict=True))
        expl = (
            f"{'no tool fits' if no_tool else lead}: P(fit)={p_fit:.2f} (threshold {p.no_tool_threshold:.2f}); "
            f"{lead} covers {r0['coverage']:.0%} of the query, name {r0['name_cov']:.0%}"
            + (", used before" if r0["used"] > 0 else "")
            + (", history match" if r0["history"] > 0.2 else "")
        )
        cands = tuple(Candidate(self._docs[s].spec.name, round(sc, 6)) for sc, s, _ in top)
        return Ranking(cands, no_tool, round(no_tool_score, 6), p.no_tool_threshold, expl)

    def _p_fit(self, scored: list[tuple[float, int, list[float]]]) -> float:
        f = dict(zip(FEATURES, scored[0][2], strict=True))
        f["margin"] = scored[0][0] - (scored[1][0] if len(scored) > 1 else 0.0)
        f["bias"] = 1.0
        z = sum(wt * f.get(name, 0.0) for name, wt in self.params.no_tool_weights.items())
        return _sigmoid(z)


def specs_from_dicts(items: Iterable[dict[str, object]], server: str = "") -> list[ToolSpec]:
    """Catalogue entries `{name, description?, input_schema?}` (the evaldata shape) as ToolSpecs."""
    out: list[ToolSpec] = []
    for it in items:
        schema = it.get("input_schema") or it.get("parameters") or {}
        out.append(
            ToolSpec(
                str(it.get("name", "")),
                str(it.get("description") or ""),
                schema if isinstance(schema, dict) else {},
                str(it.get("server") or server),
            )
        )
    return out
