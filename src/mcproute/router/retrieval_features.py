"""Per-candidate features of tool retrieval: stage-1 channels, the pool, and its feature matrix.

`ToolIndex` (router/tools.py) owns the postings, the tool documents and the vectors; this base
class reads them to turn one step's text into (pool, feature matrix). Kept apart so the index's
bookkeeping (add, remove, renormalise) and the arithmetic of a decision can be read separately.
Pure and in-memory, like the rest of the router.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from mcproute.router.retrieval_embed import ToolVectors
from mcproute.router.retrieval_intent import agreement, query_actions, query_many
from mcproute.router.retrieval_params import FEATURES, RetrievalParams
from mcproute.router.retrieval_slots import folded, number_fit, query_slots, slot_fit
from mcproute.router.retrieval_text import tokens
from mcproute.router.retrieval_thesaurus import thesaurus_terms
from mcproute.router.retrieval_types import RetrievalContext
from mcproute.router.step import ToolSpec

_IDENT = re.compile(r"[A-Za-z_][\w.\-]*\w")
# A negated verb names a state or something not wanted, not the action asked for: "which files
# have I modified but *not committed*", "don't delete anything, just list them". Its word is
# dropped from the request's lexical terms (the thesaurus still reads the whole phrase).
_NEGATED = re.compile(
    r"\b(?:not|never|without|no longer|(?:do|does|did|have|has|had|is|are|was|were|wo|ca|should|would)n['’]?t|cannot)"
    r"\s+(?:(?:yet|been|be|ever|even|actually|really)\s+)?([A-Za-z]+)",
    re.IGNORECASE,
)


def _drop_negated(text: str) -> str:
    return _NEGATED.sub(lambda m: m.group(0)[: m.start(1) - m.start(0)], text) if "n" in text else text


_HISTORY_TEXTS = 2  # how many earlier step texts feed the history channel
_TYPO_MAX = 24  # longer words are not looked at for swapped letters (cost grows with the square)
SETTING_WEIGHT = 0.5  # a word only the request's setting says, against one of its ask (retrieval_focus)
_RESULT_CHARS = 600
# How much history counts grows with the static-embedding cosine of the step and its history: none
# at RELATED_FROM or below (another topic: "what do you know about Alice" after "show git status"),
# all of it from RELATED_FROM + RELATED_SPAN. A BFCL multi-turn step and its history: median 0.39,
# tenth percentile 0.19; two everyday requests for tools of different servers: median 0.15.
RELATED_FROM = 0.1
RELATED_SPAN = 0.2
COL = {f: i for i, f in enumerate(FEATURES)}  # feature name -> column of the matrix


@dataclass(slots=True)
class ToolDoc:
    spec: ToolSpec
    order: tuple[int, int]
    terms: frozenset[str]
    name_terms: tuple[str, ...]
    name_set: frozenset[str]
    bigrams: frozenset[tuple[str, str]]  # adjacent word pairs of the name and the description
    name_idf: tuple[float, ...]  # background IDF of each name word (params are fixed per index)
    name_idf_sum: float
    action: str | None  # the tool's action class (retrieval_intent.tool_action)
    many: bool  # the tool is made for several things at once (retrieval_intent.tool_many)
    stores: bool  # the tool creates/writes files or directories (retrieval_compose.stores)
    slots: frozenset[str]  # the kinds of value its input schema takes (retrieval_slots.tool_slots)
    kinds: frozenset[str]  # the kinds of thing it speaks of: folder, file, branch (retrieval_intent.tool_kinds)
    actions: frozenset[str]  # every class its description opens with: "Add, edit or delete ..." (tool_actions)


class PoolFeatures:
    """Feature computation over the index state that `ToolIndex` maintains (declared here)."""

    params: RetrievalParams
    _vecs: ToolVectors | None
    _centroid: np.ndarray | None
    _enc: ToolVectors | None
    _enc_mean: np.ndarray | None
    _docs: dict[int, ToolDoc]
    _arr: dict[str, tuple[np.ndarray, np.ndarray]]
    _by_name: dict[str, int]
    _by_lname: dict[str, int]
    _next: int

    def _mentioned(self, text: str) -> set[int]:
        """Tools whose exact name appears in the text ("use the lawsuit_search function")."""
        out: set[int] = set()
        if not text:
            return out
        for m in _IDENT.finditer(text):
            word = m.group().strip(".")
            slot = self._by_lname.get(word.lower())
            if slot is not None and (len(word) >= 4 and ("_" in word or "." in word or not word.islower())):
                out.add(slot)
        return out

    def _channel(self, terms: dict[str, float], size: int) -> tuple[np.ndarray, float]:
        """Scores sum(weight * idf * tf-part) per slot, and the channel's background IDF mass.

        One `bincount` over the concatenated postings: a numpy call per term would cost more
        than the arithmetic.
        """
        mass = 0.0
        n = len(self._docs)
        bg = self.params.bg_idf
        arr = self._arr
        slot_parts: list[np.ndarray] = []
        val_parts: list[np.ndarray] = []
        iws: list[float] = []
        for term, w in terms.items():
            mass += w * bg(term)
            hit = arr.get(term)
            if hit is None:
                continue
            slots, vals = hit
            df = len(slots)
            slot_parts.append(slots)
            val_parts.append(vals)
            iws.append(w * self.params.catalogue_idf(term, df, n))
        if not slot_parts:
            return np.zeros(size), mass
        lens = [len(x) for x in slot_parts]
        vals = np.concatenate(val_parts) * np.repeat(iws, lens)
        return np.bincount(np.concatenate(slot_parts), vals, minlength=size), mass

    def _spelled(self, term: str) -> str:
        """`term`, or the one catalogue term it is a typo of by two swapped neighbouring letters
        ("shwo" -> show, "brnach" -> branch, "commtis" -> commit). Only a word neither the
        catalogue nor the background corpus knows is corrected, and only when one fix fits."""
        if not 4 <= len(term) <= _TYPO_MAX or not term.isascii() or term in self._arr or term in self.params.bg_df:
            return term
        fixes = {
            f for i in range(len(term) - 1) if (f := term[:i] + term[i + 1] + term[i] + term[i + 2 :]) in self._arr
        }
        return fixes.pop() if len(fixes) == 1 else term

    def typos(self, text: str) -> list[tuple[str, str]]:
        """The (word, catalogue term) pairs `_spelled` fixes in `text`, for the explanation."""
        return [(t, f) for t in dict.fromkeys(tokens(text)) if (f := self._spelled(t)) != t]

    def _query_terms(self, toks: list[str], cap: int, weight: float = 1.0) -> dict[str, float]:
        """Term -> weight, keeping the `cap` most informative terms of a long text."""
        q = Counter(toks)
        if len(q) > cap:
            bg = self.params.bg_idf
            q = Counter(dict(sorted(q.items(), key=lambda kv: -bg(kv[0]))[:cap]))
        return {t: weight * (1.0 + 0.3 * math.log(c)) for t, c in q.items()}

    def features(
        self,
        text: str,
        context: RetrievalContext | None = None,
        vector: np.ndarray | None = None,
        setting: str = "",
        server: str | None = None,
    ) -> tuple[list[int], np.ndarray, dict[str, float]]:
        """Pool slots, their feature matrix (columns in `FEATURES` order), the query's term weights.
        `setting`: the request's sentences that do not ask for anything (`retrieval_focus`); their
        words count at SETTING_WEIGHT of the ask's, their paths, URLs and values as the step's own.
        `server`: a server whose every tool joins the pool (a follow-up the history leads: "open the
        lasagna one" may be for a tool that shares no word with it)."""
        p = self.params
        size = self._next
        # A path's folders, a URL's page and a short quote are values, not what is asked
        # (`retrieval_slots.folded`): the words leave them out.
        words, said_words = folded(text, words=True), folded(setting, words=True) if setting else ""
        qtoks = [self._spelled(t) for t in tokens(_drop_negated(words))]
        qterms = self._query_terms(qtoks, p.max_query_terms)
        if setting:
            stoks = tokens(_drop_negated(said_words))
            for t, w in self._query_terms(stoks, p.max_query_terms).items():
                if t not in qterms:
                    qterms[t] = SETTING_WEIGHT * w
            qtoks = stoks + qtoks
        base, qmass = self._channel(qterms, size)
        exp_terms: dict[str, float] = {}
        for t in qterms:
            for t2, w in p.expansion.get(t, ()):
                if t2 not in qterms and w > exp_terms.get(t2, 0.0):
                    exp_terms[t2] = w
        if len(exp_terms) > p.max_query_terms:
            exp_terms = dict(sorted(exp_terms.items(), key=lambda kv: -kv[1])[: p.max_query_terms])
        exp, emass = self._channel(exp_terms, size)
        # The thesaurus channel: the words tool authors use for the request's everyday words.
        said = {t: SETTING_WEIGHT for t in thesaurus_terms(said_words)} if setting else {}
        said.update(dict.fromkeys(thesaurus_terms(words), 1.0))
        thes, tmass = self._channel({t: w for t, w in said.items() if t not in qterms}, size)
        hist = np.zeros(size)
        hmass = 0.0
        used = np.zeros(size)
        servers: set[str] = set()
        related, hv = 1.0, None
        if context is not None:
            htext = " ".join((*context.recent_texts[-_HISTORY_TEXTS:], context.last_result[:_RESULT_CHARS]))
            if self._vecs is not None and self._vecs.embedder is not None:
                hv = self._vecs.embedder.embed(htext)  # the history's static vector, read once
                related = self._related(self._vecs.embedder.embed(text), hv)
            hterms = {
                t: w
                for t, w in self._query_terms(tokens(htext), p.max_query_terms // 2, 0.5).items()
                if t not in qterms
            }
            hist, hmass = self._channel(hterms, size)
            hist *= related
            for age, name in enumerate(reversed(context.tools_used)):
                slot = self._by_name.get(name)
                if slot is not None:
                    used[slot] = max(used[slot], 0.7**age)
            servers = {s for s in context.servers_used if s}
        qm, em, hm, tm = max(qmass, 1e-9), max(emass, 1e-9), max(hmass, 1e-9), max(tmass, 1e-9)
        whole = f"{setting} {text}" if setting else text
        mentioned = self._mentioned(whole)
        # Stage 1 is a fixed blend (not the reranker's weights): its only job is recall, and a
        # learned weight that trusts one channel would crowd the others out of the pool.
        stage1 = base / qm + 0.5 * exp / em + 0.5 * thes / tm + 0.3 * hist / hm + 0.3 * used
        for slot in mentioned:
            stage1[slot] += 10.0
        live = np.flatnonzero(stage1 > 0)
        if len(live) > p.pool:
            live = live[np.argpartition(-stage1[live], p.pool - 1)[: p.pool]]
        cos, cos_bg = self._cosines(text, size, vector) if qterms and self._docs else (None, 0.0)
        if cos is not None and p.embed_pool > 0:
            # Stage 1 is a union: the lexical pool and the semantic neighbours, so a tool described
            # in other words than the query's still reaches the reranker.
            near = np.argpartition(-cos, min(p.embed_pool, size) - 1)[: p.embed_pool]
            cos_max = float(cos[near].max())
            live = np.fromiter(set(live.tolist()).union(near[cos[near] > 0].tolist()), dtype=np.int64)
        if server is not None:
            own = [slot for slot, doc in self._docs.items() if doc.spec.server == server]
            live = np.union1d(live, np.array(own, dtype=np.int64)).astype(np.int64)
        s1 = dict(zip(live.tolist(), stage1[live].tolist(), strict=True))
        docs = self._docs
        pool = sorted(s1, key=lambda s: (-s1[s], docs[s].order))
        if not pool:
            return pool, np.zeros((0, len(FEATURES))), qterms
        pa = np.array(pool)
        qset = set(qterms)
        # Tool names abbreviate ("hypot", "calc", "temp"): a name word that starts a query word counts.
        qexp = qset | set(exp_terms) | {t[:i] for t in qset if t.isascii() for i in range(4, len(t))}
        bgq = {t: p.bg_idf(t) for t in qset}
        bgq_sum = sum(bgq.values()) or 1e-9
        qbi = set(pairwise(qtoks))
        x = np.zeros((len(pool), len(FEATURES)))
        pb = base[pa]
        x[:, 0] = pb / qm
        x[:, 1] = pb / (pb.max() or 1e-9)
        x[:, 5] = exp[pa] / em
        x[:, 6] = hist[pa] / hm
        x[:, 7] = used[pa]
        x[:, COL["thesaurus"]] = thes[pa] / tm
        x[:, COL["lexical"]] = (pb > 0) | (exp[pa] > 0) | (thes[pa] > 0) | (hist[pa] > 0) | (used[pa] > 0)
        if cos is not None:
            pc = cos[pa].astype(np.float64)
            if p.embed_pool <= 0:
                cos_max = float(cos.max())
            # Rank = how many pool tools are strictly closer, so equal vectors tie.
            top = 1.0 / (1.0 + np.searchsorted(np.sort(-pc), -pc, side="left"))
            x[:, COL["cos"] : COL["cos_top"] + 1] = np.column_stack((pc, pc - cos_max, pc - cos_bg, top))
            if hv is not None and hv.any() and self._vecs is not None:
                x[:, COL["hist_cos"]] = related * self._vecs.cosines(hv, size)[pa]
        qact = query_actions(_drop_negated(text))
        if qact:
            x[:, COL["intent"]] = [agreement(qact, docs[s].action) for s in pool]
        qslots = query_slots(whole)
        if qslots:
            x[:, COL["slot"]] = [slot_fit(qslots, docs[s].slots) for s in pool]
            x[:, COL["slot_number"]] = [number_fit(qslots, docs[s].slots) for s in pool]
        if query_many(text):
            x[:, COL["many"]] = [1.0 if docs[s].many else 0.0 for s in pool]
        py_cols: list[tuple[float, float, float, float, float, float]] = []
        # Name words weighted by background IDF, so "get"/"api" in a name explain little.
        for s in pool:
            doc = docs[s]
            nt = doc.name_terms
            py_cols.append(
                (
                    sum(bgq[t] for t in doc.terms & qset) / bgq_sum,
                    sum(i for t, i in zip(nt, doc.name_idf, strict=True) if t in qexp) / doc.name_idf_sum
                    if nt
                    else 0.0,
                    sum(bgq[t] for t in doc.name_set & qset) / bgq_sum,
                    1.0 if doc.spec.server in servers else 0.0,
                    1.0 if s in mentioned else 0.0,
                    min(1.0, len(doc.bigrams & qbi) / 2.0) if qbi else 0.0,
                )
            )
        x[:, [2, 3, 4, 8, 9, 10]] = py_cols
        return pool, x, qterms

    @staticmethod
    def _related(a: np.ndarray, b: np.ndarray) -> float:
        """How much the step (static vector `a`) continues its history (`b`), from 0 (another
        topic) to 1 (the same task): the weight of the history channels (`RELATED_FROM`)."""
        na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
        if not na or not nb:
            return 1.0
        c = float(a @ b) / (na * nb)
        return min(1.0, max(0.0, (c - RELATED_FROM) / RELATED_SPAN))

    def _cosines(self, text: str, size: int, vector: np.ndarray | None = None) -> tuple[np.ndarray | None, float]:
        """Cosine of the query with every slot, and with the dev catalogues' mean tool.

        Provisional: with a query vector from the sentence encoder, tools that have an encoder
        vector get the encoder's cosine (and the background is this catalogue's mean tool);
        the others keep the static table's."""
        enc = self._enc
        if vector is not None and enc is not None and len(enc) and vector.shape == (enc.dims,):
            cos = enc.cosines(vector, size)
            static, _ = self._cosines(text, size) if len(enc) < len(self._docs) else (None, 0.0)
            if static is not None:
                cos = np.where(enc.alive(size), cos, static)
            if self._enc_mean is None:
                self._enc_mean = enc.mean()
            return cos, float(self._enc_mean @ vector)
        if self._vecs is None or self._vecs.embedder is None:
            return None, 0.0
        qv = self._vecs.embedder.embed(text)
        if not qv.any():
            return None, 0.0
        bg = float(self._centroid @ qv) if self._centroid is not None else 0.0
        return self._vecs.cosines(qv, size), bg
