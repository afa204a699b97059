#!/usr/bin/env python3
"""Learn tool-retrieval parameters from ../shared/evaldata and write them as one JSON file.

What is learned (nothing is keyed to item ids or to tool names):
- background document frequencies of terms over all catalogue tool texts (IDF that means the
  same in a 2-tool and a 2,000-tool catalogue);
- a term-expansion table: query word -> tool word, from (query, expected tool) pairs of the
  training split, kept only when the pair occurs in >= --min-pairs distinct items and the tool
  word is >= --min-lift times likelier after the query word than overall;
- the linear reranker's feature weights (pairwise logistic regression over each item's pool);
  the expansion feature is computed with a table learned on the *other* fold (cross-fitting) so
  the reranker does not learn to trust memorised pairs;
- the no-tool logistic model and its threshold, from tool_selection.jsonl (inline candidates).

Split: an item is in the training split when md5(id) mod 10 < --train-tenths (default 5), the same
rule for every file, so `scripts/split_evaldata.py` gives the matching test files.
`--train-sources bfcl_v4` (or `metatool`) learns from one source only, for cross-source held-out runs.

    .venv/bin/python scripts/build_retrieval_params.py --out src/mcproute/data/retrieval_params.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from mcproute.router.retrieval_embed import StaticEmbedder, tool_text
from mcproute.router.retrieval_params import FEATURES, NO_TOOL_FEATURES, RetrievalParams
from mcproute.router.retrieval_questions import asks_knowledge
from mcproute.router.retrieval_text import schema_text, tokens, tool_fields
from mcproute.router.tools import RetrievalContext, ToolIndex, specs_from_dicts

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "evaldata"
_TEST_DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
# The hand-written dev requests, and the no-tool requests that share a word with a tool
# ("tell me about the history of jazz" vs git_log), written after the first set showed that gap.
DEFAULT_EVERYDAY = (_TEST_DATA / "everyday_dev.jsonl", _TEST_DATA / "everyday_notool_dev.jsonl")


# Stage 2 of the no-tool model: a correct pick turned into "no tool" costs twice a no-tool answer
# gained (each as its group's rate). 2 and 3 pick the same penalty; 1 picks a larger one that
# costs MetaTool 0.008 top1.
LOST_COST = 2.0


def in_train(item_id: str, tenths: int) -> bool:
    return int(hashlib.md5(item_id.encode()).hexdigest(), 16) % 10 < tenths


def load_jsonl(p: Path) -> list[dict]:
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def doc_terms(tool: dict) -> set[str]:
    f = tool_fields(tool["name"], tool.get("description") or "", tool.get("input_schema") or {})
    return set(f["name"]) | set(f["desc"])


def learn_bg(catalogs: list[list[dict]]) -> tuple[dict[str, int], int]:
    df: Counter[str] = Counter()
    n = 0
    for cat in catalogs:
        for t in cat:
            f = tool_fields(t["name"], t.get("description") or "", t.get("input_schema") or {})
            df.update(set(f["name"]) | set(f["desc"]) | set(f["params"]))
            n += 1
    return {k: v for k, v in df.items() if v >= 2}, n


def learn_expansion(pairs: list[tuple[list[str], list[set[str]]]], min_pairs: int, min_lift: float, top: int):
    """pairs: (query terms, [doc terms of each expected tool])."""
    q_count: Counter[str] = Counter()
    d_count: Counter[str] = Counter()
    qd: dict[str, Counter[str]] = defaultdict(Counter)
    n = 0
    for qterms, docs in pairs:
        qs = set(qterms)
        ds = set().union(*docs) if docs else set()
        n += 1
        q_count.update(qs)
        d_count.update(ds)
        for q in qs:
            qd[q].update(ds - qs)
    table: dict[str, list[tuple[str, float]]] = {}
    for q, ctr in qd.items():
        if q_count[q] < min_pairs:
            continue
        cands = []
        for d, c in ctr.items():
            if c < min_pairs:
                continue
            p_dq = c / q_count[q]
            lift = p_dq / (d_count[d] / n)
            if lift >= min_lift:
                cands.append((d, p_dq * min(1.0, math.log(lift) / math.log(20))))
        cands.sort(key=lambda x: (-x[1], x[0]))
        if cands:
            table[q] = [(d, round(w, 4)) for d, w in cands[:top]]
    return table


class Vectors:
    """Sentence-encoder vectors for the indexes and queries of the build (`--encoder`).

    The same encoder, tool text and disk cache as the engine, so the reranker and the no-tool
    model learn on the cosines they will see at run time. Without `--encoder` every index ranks
    on the static table, as before."""

    def __init__(self, on: bool) -> None:
        self.encoder = self.cache = None
        self._q: dict[str, np.ndarray] = {}
        if on:
            from mcproute.encoding import Encoder, default_cache_dir
            from mcproute.encoding.cache import ToolVectorCache

            self.encoder = Encoder.load()
            self.cache = ToolVectorCache(default_cache_dir() / "tool-vectors.sqlite3")

    def index(self, specs: list, params: RetrievalParams) -> ToolIndex:
        idx = ToolIndex(specs, params=params)
        if self.encoder is not None:
            from mcproute.encoding.texts import tool_text as enc_text

            got = self.cache.vectors(self.encoder, [enc_text(s) for s in specs])
            idx.attach_vectors({s.name: v for s, v in zip(specs, got.vectors, strict=True)})
        return idx

    def q(self, text: str) -> dict[str, np.ndarray]:
        """`features()` keyword arguments for this query: its encoder vector, if any."""
        if self.encoder is None or not text:
            return {}
        v = self._q.get(text)
        if v is None:
            v = self._q[text] = self.encoder.encode_one(text)
        return {"vector": v}


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30, min(30, x))))


def fit_pairwise(
    groups: list[tuple[list[list[float]], list[int]]], dim: int, item_w: list[float] | None = None, l2: float = 1e-3
) -> list[float]:
    """Pairwise logistic regression: every positive above every negative of its pool (Newton steps).

    Pairs are weighted so that each item counts once (times its `item_w`), whatever its pool size.
    """
    diffs, wts = [], []
    for gi, (rows, labels) in enumerate(groups):
        x = np.asarray(rows)
        y = np.asarray(labels, dtype=bool)
        d = (x[y][:, None, :] - x[~y][None, :, :]).reshape(-1, dim)
        diffs.append(d)
        wts.append(np.full(len(d), (item_w[gi] if item_w else 1.0) / len(d)))
    return _newton(np.concatenate(diffs), np.ones(sum(len(d) for d in diffs)), np.concatenate(wts), l2)


def fit_logistic(xs: list[list[float]], ys: list[int], sw: list[float], l2: float = 1e-3) -> list[float]:
    """Logistic regression whose feature weights are all >= 0 (the bias is free).

    Every no-tool feature is evidence that a tool fits; a negative weight only appears through
    collinearity (coverage vs name_hit vs bm25) and BFCL's near-miss "irrelevance" queries, and
    makes the model say "no tool" for plainly covered requests outside the dev set. Active set:
    refit without the features that came out negative until none does.
    """
    x = np.asarray(xs, dtype=float)
    w = np.asarray(sw, dtype=float)
    y = np.asarray(ys, dtype=float)
    active = list(range(x.shape[1]))
    bias = x.shape[1] - 1
    while True:
        sub = _newton(x[:, active], y, w / w.sum(), l2)
        neg = [j for j, v in zip(active, sub) if v < 0 and j != bias]
        if not neg:
            out = [0.0] * x.shape[1]
            for j, v in zip(active, sub):
                out[j] = v
            return out
        worst = min(neg, key=lambda j: sub[active.index(j)])
        active.remove(worst)


def _newton(x: np.ndarray, y: np.ndarray, sw: np.ndarray, l2: float, steps: int = 30) -> list[float]:
    """Weighted L2-regularised logistic regression by Newton's method (exact, a few features)."""
    w = np.zeros(x.shape[1])
    reg = l2 * np.eye(x.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (sw * (p - y)) + l2 * w
        hess = (x * (sw * p * (1 - p))[:, None]).T @ x + reg
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w.tolist()


def learn_embed_weights(texts: list[str], sif: float) -> tuple[dict[str, float], float]:
    """SIF weights a / (a + p(token)) from WordPiece document frequencies (tokens with df >= 2)."""
    emb = StaticEmbedder.shipped()
    if emb is None:
        return {}, 1.0
    df: Counter[int] = Counter()
    for t in texts:
        df.update(set(emb.tokenizer.ids(t)))
    n = len(texts)
    toks = emb.tokenizer.tokens
    weights = {toks[i]: round(sif / (sif + c / n), 4) for i, c in df.items() if c >= 2}
    return weights, round(sif / (sif + 1.0 / n), 4)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--train-tenths", type=int, default=5)
    ap.add_argument("--train-sources", default="", help="comma list; default: every source")
    ap.add_argument("--min-pairs", type=int, default=3)
    ap.add_argument("--min-lift", type=float, default=3.0)
    ap.add_argument("--top", type=int, default=6)
    ap.add_argument("--version", default="")
    ap.add_argument("--sif", type=float, default=0.03, help="SIF constant of the embedding token weights")
    ap.add_argument(
        "--pool", type=int, default=20, help="lexical stage-1 candidates (30 measured no better, and slower)"
    )
    ap.add_argument("--embed-pool", type=int, default=10, help="semantic neighbours added to the stage-1 pool")
    ap.add_argument("--embeddings", default="", help="another embedding table file, or 'off' (experiments)")
    ap.add_argument(
        "--everyday",
        type=Path,
        nargs="*",
        default=list(DEFAULT_EVERYDAY),
        help="hand-written everyday requests (*_dev files only: every item trains; source everyday-dev)",
    )
    ap.add_argument(
        "--everyday-weight", type=float, default=5.0, help="weight of one everyday item in the reranker fit"
    )
    ap.add_argument(
        "--encoder", action="store_true", help="learn on the sentence encoder's cosines (mcproute.encoding)"
    )
    ap.add_argument("--no-expansion", action="store_true", help="learn no query->tool word table (it memorises)")
    ap.add_argument("--features", default="", help="comma list: the reranker features that get a weight (default all)")
    ap.add_argument(
        "--idf-prior",
        type=float,
        default=30.0,
        help="pseudo-tools from the background corpus that smooth each catalogue's IDF (0: plain BM25)",
    )
    ap.add_argument(
        "--require-lexical",
        choices=("yes", "no"),
        default="yes",
        help="no: the no-tool model also judges pools found by meaning alone",
    )
    a = ap.parse_args(argv)
    if any("holdout" in p.name or "fresh" in p.name for p in a.everyday):
        ap.error("--everyday must name dev files: the holdout and fresh sets are never learned from")
    sources = {s for s in a.train_sources.split(",") if s}
    vec = Vectors(a.encoder)

    def keep(item: dict) -> bool:
        return in_train(item["id"], a.train_tenths) and (not sources or item.get("source") in sources)

    data = a.data
    cats = {
        rel: json.loads((data / rel).read_text(encoding="utf-8"))
        for rel in ("catalogs/bfcl_union.json", "catalogs/metatool.json")
    }
    mt_classes = json.loads((data / "catalogs/bfcl_multi_turn.json").read_text(encoding="utf-8"))
    mt_tools = {t["name"]: (cls, t) for cls, tools in mt_classes.items() for t in tools}
    large = [it for it in load_jsonl(data / "tool_selection_large.jsonl") if keep(it)]
    multi = [it for it in load_jsonl(data / "multiturn.jsonl") if keep(it)]
    small = [it for it in load_jsonl(data / "tool_selection.jsonl") if keep(it)]
    # Everyday requests: all of the dev file trains (it is a dev set by construction); their
    # catalogue path is relative to the file.
    everyday: list[dict] = []
    for path in a.everyday if not sources or "everyday-dev" in sources else ():
        if not path.exists():
            continue
        for it in load_jsonl(path):
            rel = str((path.parent / it["catalog"]).resolve())
            if rel not in cats:
                cats[rel] = json.loads(Path(rel).read_text(encoding="utf-8"))
            it["catalog"] = rel
            everyday.append(it)
    # Background DF over tool texts *and* training queries, so request boilerplate common in
    # queries ("suggest", "recommend") counts as uninformative even if no tool uses it.
    queries = [{"name": "", "description": it["query"]} for it in large]
    bg_df, bg_n = learn_bg([*cats.values(), [t for _, t in mt_tools.values()], queries])
    print(f"train: {len(large)} large, {len(multi)} multiturn, {len(small)} inline items", file=sys.stderr)
    by_name = {rel: {t["name"]: t for t in cat} for rel, cat in cats.items()}

    # (query terms, expected docs) pairs, each tagged with a fold for cross-fitting
    pairs: list[tuple[int, list[str], list[set[str]]]] = []
    for it in large:
        docs = [doc_terms(by_name[it["catalog"]][n]) for n in it["expected"] if n in by_name[it["catalog"]]]
        pairs.append((in_train(it["id"] + "#fold", 5), tokens(it["query"]), docs))
    for it in multi:
        for ti, turn in enumerate(it["turns"]):
            if turn.get("user") and turn["expected_tools"]:
                docs = [doc_terms(mt_tools[n][1]) for n in turn["expected_tools"] if n in mt_tools]
                pairs.append((in_train(f"{it['id']}#{ti}#fold", 5), tokens(turn["user"]), docs))

    pairs_large = len(pairs)

    def table(sel) -> dict:
        return learn_expansion([(q, d) for f, q, d in pairs if sel(f)], a.min_pairs, a.min_lift, a.top)

    full_table = {} if a.no_expansion else table(lambda f: True)
    fold_tables = {True: {}, False: {}} if a.no_expansion else {True: table(lambda f: not f), False: table(lambda f: f)}
    print(f"expansion table: {len(full_table)} query terms", file=sys.stderr)

    # Embedding token weights: document frequencies over the same texts as the background DF.
    tool_texts = [
        tool_text(t["name"], t.get("description") or "", schema_text(t.get("input_schema") or {})[0])
        for cat in [*cats.values(), [t for _, t in mt_tools.values()]]
        for t in cat
    ]
    embed_w, embed_default = learn_embed_weights(tool_texts + [it["query"] for it in large], a.sif)
    base = RetrievalParams.from_dict(
        {
            "bg_df": bg_df,
            "bg_n": bg_n,
            "idf_prior_docs": a.idf_prior,
            "embed_weights": embed_w,
            "embed_default": embed_default,
            "embed_pool": a.embed_pool,
            "pool": a.pool,
            "embeddings": a.embeddings,
        }
    )
    emb = base.embedder()
    if emb is not None:  # the mean tool vector, for the no-tool model's cos_bg
        centroid = emb.embed_many(tool_texts).mean(axis=0)
        base = RetrievalParams.from_dict({**base.to_dict(), "embed_centroid": centroid.tolist()})
    print(f"embeddings: {'off' if emb is None else f'{emb.dims} dims, {len(embed_w)} token weights'}", file=sys.stderr)
    fold_params = {k: RetrievalParams.from_dict({**base.to_dict(), "expansion": v}) for k, v in fold_tables.items()}
    fold_idx: dict[tuple[bool, str], ToolIndex] = {}

    def index_for(fold: bool, rel: str) -> ToolIndex:
        if (fold, rel) not in fold_idx:
            fold_idx[fold, rel] = vec.index(specs_from_dicts(cats[rel]), fold_params[fold])
        return fold_idx[fold, rel]

    groups: list[tuple[list[list[float]], list[int]]] = []
    group_w: list[float] = []
    for it, (fold, _, _) in zip(large, pairs[:pairs_large]):
        idx = index_for(fold, it["catalog"])
        pool, x, _ = idx.features(it["query"], **vec.q(it["query"]))
        rows = x.tolist()
        names = [idx._docs[s].spec.name for s in pool]
        labels = [1 if n in it["expected"] else 0 for n in names]
        if any(labels) and not all(labels):
            groups.append((rows, labels))
            group_w.append(1.0)
    # Everyday items weigh as much, in total, as a source of the dev catalogues: few, but the
    # kind of request users send.
    ev_pos = [it for it in everyday if it["expected"]]
    for it in ev_pos:
        idx = index_for(in_train(it["id"] + "#fold", 5), it["catalog"])
        pool, x, _ = idx.features(it["query"], **vec.q(it["query"]))
        labels = [1 if idx._docs[s].spec.name in it["expected"] else 0 for s in pool]
        if any(labels) and not all(labels):
            groups.append((x.tolist(), labels))
            group_w.append(a.everyday_weight)
    for it in multi:
        fold = in_train(it["id"] + "#fold", 5)
        specs = specs_from_dicts([{**mt_tools[n][1], "server": mt_tools[n][0]} for n in it["tools"] if n in mt_tools])
        idx = vec.index(specs, fold_params[fold])
        used: list[str] = []
        texts: list[str] = []
        for turn in it["turns"]:
            text = turn.get("user") or it.get("user_goal") or ""
            ctx = RetrievalContext(
                tuple(used[-8:]), tuple(dict.fromkeys(mt_tools[u][0] for u in used if u in mt_tools)), tuple(texts[-4:])
            )
            if turn["expected_tools"]:
                pool, x, _ = idx.features(text, ctx, **vec.q(text))
                rows = x.tolist()
                labels = [1 if idx._docs[s].spec.name in turn["expected_tools"] else 0 for s in pool]
                if any(labels) and not all(labels):
                    groups.append((rows, labels))
                    group_w.append(1.0)
            used.extend(turn["expected_tools"])
            if turn.get("user"):
                texts.append(turn["user"])
    # cos_rel and cos_bg differ from cos by a per-query constant: within one pool they carry no
    # extra information, so the reranker learns cos alone (they serve the no-tool model).
    chosen = {f for f in a.features.split(",") if f} or set(FEATURES)
    cols = [i for i, f in enumerate(FEATURES) if f not in ("cos_rel", "cos_bg") and f in chosen]
    w = fit_pairwise([([[r[i] for i in cols] for r in rows], labels) for rows, labels in groups], len(cols), group_w)
    weights = dict.fromkeys(FEATURES, 0.0)
    weights.update({FEATURES[i]: round(v, 4) for i, v in zip(cols, w)})
    print(f"reranker weights: {weights}", file=sys.stderr)

    # No-tool model on the leader's features; items expecting a tool are positives.
    params = RetrievalParams.from_dict(
        {**base.to_dict(), "expansion": full_table, "weights": weights, "require_lexical": a.require_lexical == "yes"}
    )
    xs: list[list[float]] = []
    ys: list[int] = []
    hits: list[int] = []
    wv = [weights[f] for f in FEATURES]

    lex_col = FEATURES.index("lexical")
    forced: list[bool] = []  # no lexical evidence in the pool: the router says "no tool" (p = 0)

    def leader(idx: ToolIndex, text: str, expected: list[str]) -> None:
        pool, x, _ = idx.features(text, **vec.q(text))
        forced.append(not pool or (params.require_lexical and not x[:, lex_col].any()))
        if not pool:
            xs.append([0.0] * (len(NO_TOOL_FEATURES) - 1) + [1.0])
            ys.append(1 if expected else 0)
            hits.append(0)
            return
        rows = x.tolist()
        scored = sorted(((sum(p * q for p, q in zip(wv, r)), s, r) for s, r in zip(pool, rows)), key=lambda t: -t[0])
        f = dict(zip(FEATURES, scored[0][2]))
        f["margin"] = scored[0][0] - (scored[1][0] if len(scored) > 1 else 0.0)
        f["actionable"] = 0.0 if asks_knowledge(text) else 1.0
        f["bias"] = 1.0
        xs.append([f[k] for k in NO_TOOL_FEATURES])
        ys.append(1 if expected else 0)
        hits.append(1 if expected and idx._docs[scored[0][1]].spec.name in expected else 0)

    for it in small:
        leader(vec.index(specs_from_dicts(it["tools"]), params), it["query"], it["expected"])
    n_small = len(xs)
    # Large-catalogue items are all positives: the threshold must not turn their picks into "no tool".
    big = {rel: vec.index(specs_from_dicts(cat), params) for rel, cat in cats.items()}
    for it in large:
        leader(big[it["catalog"]], it["query"], it["expected"])
    # The two groups weigh the same: the inline items are where "no tool" must be learned, and
    # twice as many all-positive large-catalogue items would otherwise drown them.
    n_big = len(xs) - n_small
    for it in everyday:
        leader(big[it["catalog"]], it["query"], it["expected"])
    n_ev = len(xs) - n_small - n_big
    bounds = [(0, n_small), (n_small, n_small + n_big)] + ([(n_small + n_big, len(xs))] if n_ev else [])
    sw = [1.0 / max(1, n_small)] * n_small + [1.0 / max(1, n_big)] * n_big + [1.0 / max(1, n_ev)] * n_ev
    # Stage 1: the match-strength model, learned and thresholded on the requests that read as
    # something to act on (asks_knowledge false: "actionable" is 1 on every row it sees).
    act = NO_TOOL_FEATURES.index("actionable")
    fit_rows = [i for i, f in enumerate(forced) if not f and xs[i][act] == 1.0]
    match_rows = [r[:act] + r[act + 1 :] for r in xs]
    nt = fit_logistic([match_rows[i] for i in fit_rows], [ys[i] for i in fit_rows], [sw[i] for i in fit_rows])
    nt = nt[:act] + [0.0] + nt[act:]

    def rates(weights: list[float], th: float, rows: set[int]) -> tuple[list[float], list[float]]:
        """Per group, over `rows`: the share of correct picks turned into "no tool", and the
        no-tool accuracy (groups with no-tool items only: inline BFCL irrelevance, everyday chit-chat)."""
        p_fit = {i: 0.0 if forced[i] else sigmoid(sum(x * y for x, y in zip(weights, xs[i]))) for i in rows}
        lost, accs = [], []
        for lo, hi in bounds:
            mine = [i for i in range(lo, hi) if i in rows]
            picks = [i for i in mine if hits[i]]
            negs = [i for i in mine if not ys[i]]
            lost.append(sum(1 for i in picks if p_fit[i] < th) / (len(picks) or 1))
            if negs:
                accs.append(sum(1 for i in negs if p_fit[i] < th) / len(negs))
        return lost, accs

    # Stage 1's threshold: the best no-tool accuracy (mean over the groups, so the small everyday
    # group is not drowned out) that turns at most 2 % of any group's correct picks into "no tool".
    acting = {i for i in range(len(xs)) if xs[i][act] == 1.0}
    best = (-1.0, 0.5)
    for th in [i / 100 for i in range(5, 96)]:
        lost, accs = rates(nt, th, acting)
        acc = sum(accs) / len(accs) if accs else 0.0
        if max(lost) <= 0.02 and acc > best[0]:
            best = (acc, th)
    th = best[1]
    # Stage 2: one penalty for a question to the model's own knowledge (asks_knowledge), at the
    # stage-1 threshold, so every other request keeps exactly its stage-1 P(fit). Written as a
    # positive weight on "actionable" with the bias lowered by as much. Chosen on every row: a
    # correct pick lost costs LOST_COST no-tool answers gained; the smallest best penalty wins.
    everyone = set(range(len(xs)))
    lost, accs = rates(nt, th, everyone)
    gain = (sum(accs) / len(accs) if accs else 0.0) - LOST_COST * sum(lost) / len(lost)
    best = (sum(accs) / len(accs) if accs else 0.0, th)
    base = list(nt)
    for step in range(1, 21):
        trial = list(base)
        trial[act], trial[-1] = step / 4, base[-1] - step / 4
        lost, accs = rates(trial, th, everyone)
        acc = sum(accs) / len(accs) if accs else 0.0
        if acc - LOST_COST * sum(lost) / len(lost) > gain + 1e-9:
            gain, best, nt = acc - LOST_COST * sum(lost) / len(lost), (acc, th), trial
    print(
        f"no-tool: weights {dict(zip(NO_TOOL_FEATURES, nt))}, threshold {best[1]} (train acc {best[0]:.3f})",
        file=sys.stderr,
    )
    final = params.to_dict()
    final.update(
        sources=sorted({it.get("source", "") for it in large + small + multi + everyday}),
        no_tool_weights={k: round(v, 4) for k, v in zip(NO_TOOL_FEATURES, nt)},
        no_tool_threshold=best[1],
    )
    # The version names the content, so a decision record can say which calibration it used.
    final["version"] = a.version or f"tools-{hashlib.md5(json.dumps(final, sort_keys=True).encode()).hexdigest()[:8]}"
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(final, separators=(",", ":"), ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {a.out} ({a.out.stat().st_size // 1024} KiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
