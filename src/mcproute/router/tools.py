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
   General-English gates (`retrieval_gates`) veto a leader for composing, explaining, small
   talk, a change no candidate can make, made-up text it does not speak of, material given
   after a colon, or an errand or question it matches only by the words that say when; and move
   a better candidate to the lead (`new_leader`).
3. **Taught tools** (`retrieval_examples`): a tool with examples gains by how close the step is
   to them, which re-orders the candidates; a leader the step is closer to by its examples than
   other tools' requests come (its margin) fits even when the no-tool model says otherwise, and
   one the step is less close to than to the requests taught as needing no tool fits less. A
   classifier fitted on all the examples at once (`retrieval_head`) orders the taught tools among
   themselves (siblings that closeness alone confuses) and lowers P(fit) when it reads the step
   as one of the requests that need no tool.

The index is built once; `update(server, tools)` replaces one server's tools without touching the
others' postings. Ties break by score, then by stable catalogue order (server first seen, then
the server's own order) — never by name.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from itertools import pairwise

import numpy as np

from mcproute.router.retrieval_compose import crafts, stores
from mcproute.router.retrieval_embed import ToolVectors, tool_text
from mcproute.router.retrieval_examples import (
    BASELINE,
    FIT_KNN,
    FIT_LOWER,
    FIT_NONE,
    FIT_RAISE,
    KNN_FLOOR,
    KNN_K,
    NO_TOOL,
    TaughtTools,
    taught_reason,
)
from mcproute.router.retrieval_features import COL, PoolFeatures, ToolDoc
from mcproute.router.retrieval_focus import focus, sequenced
from mcproute.router.retrieval_followups import amends, picks
from mcproute.router.retrieval_gates import new_leader, spares, vetoes
from mcproute.router.retrieval_head import FIT_HEAD, NONE_FLOOR, Head
from mcproute.router.retrieval_history import follow_up, offer, own_best
from mcproute.router.retrieval_intent import tool_action, tool_actions, tool_kinds, tool_many
from mcproute.router.retrieval_params import FEATURES, RetrievalParams
from mcproute.router.retrieval_questions import asks_knowledge
from mcproute.router.retrieval_slots import tool_slots
from mcproute.router.retrieval_text import schema_text, tool_fields, unique
from mcproute.router.retrieval_types import Ranking, RetrievalContext, specs_from_dicts
from mcproute.router.step import Candidate, ToolSpec

__all__ = ["Ranking", "RetrievalContext", "ToolIndex", "specs_from_dicts"]

_FIELDS = ("name", "desc", "params")
# A step led by a tool of the server the conversation last used continues that work ("and to
# india?" after convert_time, "commit it as 'fix'" after a staged diff): a short follow-up says
# little on its own, so its P(fit) rises by this much (logit). On everyday conversations
# (`tests/data/everyday_convs_dev.jsonl`) 0.5 / 1.0 / 2.0 read top1 0.748 / 0.762 / 0.772 and no-tool
# 0.875 / 0.875 / 0.839, from 0.728 / 0.893.
FIT_CONTINUE = 1.0
# ... and one that asks for the last step's request again ("now the same for ~/Downloads", "and
# to india?") is led by the conversation's last tool and fits by this much more.
FIT_AGAIN = 1.0
# What the explanation says of each follow-up the history leads (retrieval_history.follow_up).
_FOLLOW_UPS = {
    "again": "it asks for the last step's request again ({lead}, the conversation's last tool, leads); ",
    "pick": "it picks out an item of the last step's result ({lead}, of the server that gave it, leads); ",
    "amend": "it changes what the last step showed ({lead}, of the server that showed it, changes things in place); ",
    "named": "its verb names {lead}, a tool of the server the conversation is working with; ",
}


def _clip(text: str, n: int = 80) -> str:
    """`text` quoted, cut to `n` characters (an explanation stays one readable line)."""
    one = " ".join(text.split())
    return repr(one if len(one) <= n else one[: n - 3] + "...")


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, x))))


def _logit(p: float) -> float:
    p = min(max(p, 1e-12), 1.0 - 1e-12)
    return math.log(p / (1.0 - p))


class ToolIndex(PoolFeatures):
    """An incremental BM25F + reranker index over a tool catalogue (features: retrieval_features.py)."""

    def __init__(self, tools: Sequence[ToolSpec] = (), *, params: RetrievalParams | None = None) -> None:
        self.params = params or RetrievalParams.default()
        self._wv = np.array([self.params.weights[f] for f in FEATURES])
        emb = self.params.embedder()
        self._vecs = ToolVectors(emb) if emb is not None else None
        c = np.array(self.params.embed_centroid, dtype=np.float32)
        self._centroid = c if emb is not None and c.shape == (emb.dims,) else None
        self._enc: ToolVectors | None = None  # sentence-encoder rows, attached by the engine
        self._enc_mean: np.ndarray | None = None
        self._taught = TaughtTools()  # the example vectors of taught tools (retrieval_examples.py)
        self._docs: dict[int, ToolDoc] = {}
        self._post: dict[str, dict[int, float]] = {}
        self._arr: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # compiled postings
        self._fields: dict[int, dict[str, list[str]]] = {}
        self._by_name: dict[str, int] = {}
        self._by_lname: dict[str, int] = {}  # lower-cased names, for exact mentions in the text
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
        self._add_servers(groups)

    # ------------------------------------------------------------------ building
    def __len__(self) -> int:
        return len(self._docs)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.spec.name for d in sorted(self._docs.values(), key=lambda d: d.order))

    def _set_avg(self, n: int) -> None:
        self._avg = {f: max(1.0, self._len_sum[f] / n) if n else 1.0 for f in _FIELDS}

    def _add_servers(self, groups: Mapping[str, Sequence[ToolSpec]]) -> None:
        # Postings are compiled and names indexed once for the whole batch: per server, both
        # walk the entire index, which made building N servers quadratic (a 10,000-tool
        # catalogue of 505 servers spent 35 of 51 s there).
        touched: set[str] = set()
        for server, specs in groups.items():
            touched |= self._add_server(server, specs, finish=False)
        self._compile(touched)
        self._index_names()

    def _add_server(self, server: str, specs: Sequence[ToolSpec], *, finish: bool = True) -> set[str]:
        rank = self._server_rank.setdefault(server, len(self._server_rank))
        slots = self._by_server.setdefault(server, [])
        p = self.params
        touched: set[str] = set()
        for pos, spec in enumerate(specs):
            slot = self._next
            self._next += 1
            fields = tool_fields(spec.name, spec.description, spec.input_schema)
            self._fields[slot] = fields
            tfw: dict[str, float] = defaultdict(float)  # BM25F weights are fractional
            for f in _FIELDS:
                terms = fields[f]
                if not terms:
                    continue
                norm = 1.0 - p.field_b[f] + p.field_b[f] * len(terms) / self._avg[f]
                for term, tf in Counter(terms).items():
                    tfw[term] += p.field_weights[f] * tf / norm
            for term, w in tfw.items():
                self._post.setdefault(term, {})[slot] = w / (p.k1 + w)
            touched.update(tfw)
            all_terms = frozenset(t for f in _FIELDS for t in fields[f])
            nm, ds = fields["name"], fields["desc"]
            bigrams = frozenset((*pairwise(nm), *pairwise(ds)))
            nt = tuple(unique(nm))
            nidf = tuple(p.bg_idf(t) for t in nt)
            short = spec.name.rpartition("__")[2]  # without the gateway's server prefix
            act, many = tool_action(short, spec.description), tool_many(short, spec.description)
            st = stores(short, spec.description, act)
            self._docs[slot] = ToolDoc(
                spec,
                (rank, pos),
                all_terms,
                nt,
                frozenset(nm),
                bigrams,
                nidf,
                sum(nidf) or 1e-9,
                act,
                many,
                st,
                tool_slots(spec.input_schema),
                tool_kinds(short, spec.description),
                tool_actions(short, spec.description),
            )
            if self._vecs is not None:
                self._vecs.set(slot, tool_text(spec.name, spec.description, schema_text(spec.input_schema)[0]))
            slots.append(slot)
        if finish:
            self._compile(touched)
            self._index_names()
        return touched

    def _index_names(self) -> None:
        # First in catalogue order wins when two servers expose the same (un-namespaced) name.
        self._by_name.clear()
        self._by_lname.clear()
        for slot, doc in sorted(self._docs.items(), key=lambda kv: kv[1].order):
            self._by_name.setdefault(doc.spec.name, slot)
            self._by_lname.setdefault(doc.spec.name.lower(), slot)

    def _remove_server(self, server: str) -> None:
        touched: set[str] = set()
        for slot in self._by_server.pop(server, []):
            doc = self._docs.pop(slot)
            fields = self._fields.pop(slot)
            if self._vecs is not None:
                self._vecs.remove(slot)
            if self._enc is not None:
                self._enc.remove(slot)
            for f in _FIELDS:
                self._len_sum[f] -= len(fields[f])
            for term in doc.terms:
                plist = self._post.get(term)
                if plist is not None:
                    plist.pop(slot, None)
                    if not plist:
                        del self._post[term]
            touched.update(doc.terms)
        self._compile(touched)
        self._index_names()

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
        keep = self._enc_rows()  # the updated server's rows are already gone: nothing stale is kept
        by_rank = sorted(self._server_rank.items(), key=lambda kv: kv[1])
        groups = {s: [self._docs[x].spec for x in self._by_server.get(s, [])] for s, _ in by_rank}
        groups[server] = list(specs)
        self._docs.clear()
        self._post.clear()
        self._arr.clear()
        self._fields.clear()
        self._by_name.clear()
        self._by_lname.clear()
        self._by_server.clear()
        if self._vecs is not None:
            self._vecs = ToolVectors(self._vecs.embedder)
        self._enc = None
        self._add_servers(groups)
        self.attach_vectors(keep)

    # ------------------------------------------------------------ encoder vectors
    def attach_vectors(
        self,
        vectors: Mapping[str, np.ndarray],
        examples: Mapping[str, np.ndarray] | None = None,
        shipped: Collection[str] = (),
        head: Head | None = None,
    ) -> int:
        """Give tools (by name) their sentence-encoder vector (unit length, all of one model).

        The lexical index is untouched; tools without a vector keep ranking on the static table
        and the lexical channels. `update()` drops the vectors of the server it replaces (their
        text may have changed); the caller attaches the new ones. `examples`: tool name -> its
        examples' vectors (one a row), for these tools (one without an entry has none); None leaves
        their examples as they were. `shipped`: those of them whose examples are mcproute's own
        (runtime/tool_examples.py), which the nearest-requests vote reads. `head`: the examples'
        classifier fitted on them (`TaughtVectors.head_for`; None: fitted here when first needed).
        Returns how many vectors were attached."""
        if examples is not None:
            self._taught.set(vectors, examples, shipped=shipped)
            self._taught.set_none(examples.get(NO_TOOL))
            self._taught.set_head(head)
        n = 0
        for name, vec in vectors.items():
            slot = self._by_name.get(name)
            if slot is None:
                continue
            if self._enc is None:
                self._enc = ToolVectors(None, dims=int(vec.shape[0]))
            self._enc.put(slot, vec)
            n += 1
        self._enc_mean = None
        return n

    @property
    def vector_count(self) -> int:
        """Tools that have a sentence-encoder vector."""
        return len(self._enc) if self._enc is not None else 0

    @property
    def taught_count(self) -> int:
        """Tools with examples in force (0 until the gateway's encoding pass has attached them)."""
        return len(self._taught)

    def _enc_rows(self) -> dict[str, np.ndarray]:
        if self._enc is None:
            return {}
        alive = self._enc.alive(self._next)
        return {d.spec.name: self._enc.row(slot) for slot, d in self._docs.items() if alive[slot]}

    # ------------------------------------------------------------------ index upkeep
    def _compile(self, terms: Iterable[str]) -> None:
        """Refresh the numpy copy of these terms' postings (the dicts stay the source of truth)."""
        for term in terms:
            plist = self._post.get(term)
            if not plist:
                self._arr.pop(term, None)
                continue
            self._arr[term] = (
                np.fromiter(plist.keys(), dtype=np.int64, count=len(plist)),
                np.fromiter(plist.values(), dtype=np.float64, count=len(plist)),
            )

    # ------------------------------------------------------------------ deciding
    def rank(
        self, text: str, *, context: RetrievalContext | None = None, k: int = 10, vector: np.ndarray | None = None
    ) -> Ranking:
        """The top-`k` tools for `text` (best first) and whether any tool fits at all. `vector`:
        the step's sentence-encoder vector (`Step.vector`), used where tools have one."""
        p = self.params
        if not self._docs:
            return Ranking((), True, 1.0, p.no_tool_threshold, "catalogue is empty")
        # "We are freezing features today. Could you make a new branch release/4.1?": the ask is
        # the query; the other sentences' words count at SETTING_WEIGHT (retrieval_focus). The
        # rules about the command (its verb, its object, made-up text) read the ask; those that
        # veto a leader for what the whole message is (explaining, small talk, ...) read it all.
        whole = text or ""
        ask, setting = focus(whole)
        # A follow-up the history may lead ("open the lasagna one", "make it 12.5") sees every tool
        # of the conversation's last server, which may share no word with it.
        last = self._by_name.get(context.tools_used[-1]) if context is not None and context.tools_used else None
        widen = self._docs[last].spec.server if last is not None and (picks(ask) or amends(ask)) else None
        pool, x, qterms = self.features(ask, context, vector, setting, widen)
        if not pool:
            why = "no query terms" if not qterms else "no tool shares a term with the step"
            return Ranking((), True, 1.0, p.no_tool_threshold, why)
        static = (x @ self._wv).tolist()
        first = sorted(range(len(pool)), key=lambda i: (-static[i], self._docs[pool[i]].order))
        then = sequenced(whole)  # "prove why ..., then get the current time": the command comes last
        names = [self._docs[s].spec.name for s in pool]
        ties = [self._docs[s].order for s in pool]
        scores, taught, probs = self._taught.scores(names, ties, static, vector, self._by_name, bonus=not then)
        order = (
            first if taught is None else sorted(range(len(pool)), key=lambda i: (-scores[i], self._docs[pool[i]].order))
        )
        craft = crafts(ask)
        cands = [self._docs[s] for s in pool]
        speaker, moved = new_leader(ask, cands, order, craft)
        order0 = order[0]
        if speaker is not None and speaker != order0:
            scores = list(scores)
            scores[speaker] = scores[order[0]] + 1e-6
            order = [speaker, *(i for i in order if i != speaker)]
            first = [speaker, *(i for i in first if i != speaker)]
        # A pool found by meaning alone (no tool shares a term with the step, its history or its
        # expansion) is ranked, but never trusted: in the dev set no such leader was right.
        lexical = bool(x[:, COL["lexical"]].any())
        if context is not None:
            order, scores = offer(order, scores, own_best(x, self._wv, static, scores, order))
        # "now the same for ~/Downloads", "open the second one": led from the history.
        again, kind = follow_up(ask, cands, order, self._docs[last] if last is not None else None)
        if again is not None and order[0] != again:
            scores = list(scores)
            scores[again] = scores[order[0]] + 1e-6
            order = [again, *(i for i in order if i != again)]
        leader = cands[order[0]]
        veto = vetoes(whole, ask, bool(setting), cands, leader, cands[first[0]], craft, speaker is not None)
        asking = asks_knowledge(whole)  # softer: one feature of P(fit), not a veto
        trusted = (lexical or not p.require_lexical) and not veto.any
        p_fit = (
            self._p_fit(
                x[first[0]],
                max(0.0, static[first[0]] - (static[first[1]] if len(first) > 1 else 0.0)),
                actionable=not asking,
            )
            if trusted
            else 0.0
        )
        lead = leader.spec.name
        # How close the step is to the leader's examples says, beside its words, whether it is a
        # request for that tool (no rule above said otherwise; not for a question to the model).
        # (Not for a follow-up led from the history: "now the same for ~/videos" and "open the
        # second one" say nothing of their tool but through the conversation, so neither the
        # examples nor the no-tool requests judge them.)
        judged = trusted and taught is not None and again is None
        above = taught[lead] if judged and not asking and taught and lead in taught else None  # closeness - BASELINE
        margin = self._taught.fit_margin(lead) if above is not None else 0.0
        if above is not None:
            above -= margin  # counted from where the requests taught to other tools reach
            p_fit = _sigmoid(_logit(p_fit) + (FIT_RAISE if above >= 0.0 else FIT_LOWER) * above)
        # A step closer to the requests taught as needing no tool than to the taught leader's own
        # examples is less likely to be for it ("git push to origin" on a git server that cannot push).
        own = taught.get(lead) if judged and taught else None  # closeness - BASELINE
        nearer = self._taught.none_closeness(vector) if own is not None and vector is not None else None
        unlike = nearer is not None and own is not None and nearer > own + BASELINE
        if nearer is not None and own is not None and unlike:
            p_fit = _sigmoid(_logit(p_fit) - FIT_NONE * (nearer - own - BASELINE))
        # ... and one whose nearest taught requests mostly needed none, unless it asks for a
        # command after something else ("prove why ..., then get the current time") or the gates
        # spare the leader (retrieval_gates.spares: a path or URL it takes, "save a haiku about
        # rain to poems/rain.txt"; a fact to keep; a question about what was kept).
        # Only for a leader with the shipped examples: the no-tool requests were written with them,
        # at a matching density; a handful of your own would be outvoted by hundreds of those.
        spared = spares(whole, ask, leader) if own is not None else None
        kept_fact, recalled = spared == "fact", spared == "recall"
        told = own is not None and spared is None and not then
        share = self._taught.none_share(vector) if told and vector is not None and self._taught.ships(lead) else None
        crowded = share if share is not None and share > KNN_FLOOR else None
        if crowded is not None:
            p_fit = _sigmoid(_logit(p_fit) - FIT_KNN * (crowded - KNN_FLOOR) / 0.5)
        # ... and one the examples' classifier finds more likely to need no tool than not, with the
        # same two exceptions (it reads the whole message, as the vote does). Only down: the
        # classifier is sure of itself well beyond its accuracy, and raising P(fit) by it called
        # tools for requests that only look like theirs.
        none_p = probs.get(NO_TOOL) if told and lead in probs else None
        doubted = none_p is not None and none_p > 0.5
        if none_p is not None and doubted:
            p_fit = _sigmoid(_logit(p_fit) - FIT_HEAD * _logit(min(none_p, 1.0 - NONE_FLOOR)))
        continues = trusted and last is not None and self._docs[last].spec.server == leader.spec.server
        if continues:
            p_fit = _sigmoid(_logit(p_fit) + FIT_CONTINUE + (FIT_AGAIN if again is not None else 0.0))
        no_tool = p_fit < p.no_tool_threshold
        r0 = dict(zip(FEATURES, x[order[0]].tolist(), strict=True))
        expl = (
            f"{'no tool fits' if no_tool else lead}: P(fit)={p_fit:.2f} (threshold {p.no_tool_threshold:.2f}); "
            + ("no tool shares a term with the step; closest in meaning: " if not lexical else "")
            + veto.reasons(leader, f"{lead} moved up: {moved}" if speaker is not None and speaker != order0 else "")
            + (
                "the step reads as a question for the model's own knowledge (lowers P(fit)); "
                if asking and trusted and "actionable" in p.no_tool_weights
                else ""
            )
            + (
                f"its examples {'raise' if above >= 0.0 else 'lower'} P(fit) (closeness {above + margin + BASELINE:.2f}"
                + (f", other tools' requests reach {margin + BASELINE:.2f}" if margin > 0.0 else "")
                + "); "
                if above is not None
                else ""
            )
            + (
                f"requests that need no tool come closer ({nearer:.2f}) than its examples "
                f"({(own or 0.0) + BASELINE:.2f}), lowering P(fit); "
                if unlike
                else ""
            )
            + (
                f"of the taught requests nearest the step (up to {KNN_K}), {crowded:.0%} by closeness needed "
                "no tool, lowering P(fit); "
                if crowded is not None
                else ""
            )
            + (
                f"the examples' classifier gives no tool {none_p:.0%} ({lead} {probs[lead]:.0%}), lowering P(fit); "
                if none_p is not None and doubted
                else ""
            )
            + (
                "the step gives a fact to keep, so neither its nearest taught requests nor the classifier lower P(fit); "
                if kept_fact
                else ""
            )
            + (
                "the step asks back what it was told before, so neither its nearest taught requests nor the "
                "classifier lower P(fit); "
                if recalled
                else ""
            )
            + (_FOLLOW_UPS[kind].format(lead=lead) if again is not None and continues else "")
            + (f"it continues the conversation's work on {leader.spec.server} (raises P(fit)); " if continues else "")
            + (taught_reason(names[order[0]], names[first[0]], taught, probs) if again is None else "")
            + (f"the ask: {_clip(ask)} (the rest of the message counts at half weight); " if setting else "")
            + "".join(f"read '{typo}' as '{fix}'; " for typo, fix in self.typos(ask))
            + f"{lead} covers {r0['coverage']:.0%} of the query, name {r0['name_cov']:.0%}"
            + (", named in the step" if r0["mentioned"] > 0 else "")
            + (", used before" if r0["used"] > 0 else "")
            + (", history match" if r0["history"] > 0.2 else "")
            + (f", meaning {r0['cos']:.2f}" if r0["cos"] else "")
        )
        top = tuple(Candidate(self._docs[pool[i]].spec.name, round(scores[i], 6)) for i in order[:k])
        return Ranking(top, no_tool, round(1.0 - p_fit, 6), p.no_tool_threshold, expl)

    def _p_fit(self, lead: np.ndarray, margin: float, *, actionable: bool = True) -> float:
        """Calibrated P(some tool fits) from the leader's features and whether the request reads
        as something to act on rather than a question for the model (logistic, see the build script)."""
        f = dict(zip(FEATURES, lead.tolist(), strict=True))
        f["margin"] = margin
        f["actionable"] = 1.0 if actionable else 0.0
        f["bias"] = 1.0
        z = sum(wt * f.get(name, 0.0) for name, wt in self.params.no_tool_weights.items())
        return _sigmoid(z)
