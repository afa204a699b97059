"""Taught tools: how close a step is to the requests a tool was taught with (`tools.examples`).

A tool with examples (yours, or the shipped ones of the official reference servers:
runtime/tool_examples.py) has its examples' sentence vectors. Its *closeness* to a step is

    MIX x cos(step, the examples' centroid) + (1 - MIX) x max over its examples of cos(step, example)

and the ranking adds `EXAMPLE_WEIGHT x (closeness - BASELINE)` to each taught candidate's score,
after the reranker:

* the centroid says what the examples have in common, the nearest example keeps a request that
  *is* one of them on its tool: the sentence encoder puts "what time is it in Tokyo?", a shipped
  example of `get_current_time`, closer to the centroid of `convert_time`'s examples ("whats 23:00
  UTC in tokyo time") than to its own tool's;
* `BASELINE` sits above the closeness a request typically has with a tool it is *not* for (0.16 on
  average between the reference servers' own requests and the other tools, 0.24 for the nearest
  reference tool of a MetaTool request), so an untaught tool (term 0) is seldom passed by a taught
  one the step has nothing to do with, in a catalogue that mixes both. A fixed baseline, not the
  mean over the catalogue's taught tools: with one taught tool that mean would cancel the term;
* it re-orders the candidates; whether a tool fits at all is the no-tool model's P(fit) of the
  static leader (fitted without examples), moved in logit space by the new leader's closeness:
  `+ FIT_RAISE x (closeness - BASELINE - margin)` above the baseline, `FIT_LOWER` (smaller) below
  it ("its examples raise / lower P(fit)"), where a tool's margin is how close the requests taught
  to *other* tools come to its examples (their 0.9 quantile above BASELINE, 0 for most tools): the
  more examples a catalogue is taught, the closer some example comes to anything, and a margin
  measured on the examples themselves keeps that from calling a tool for a step that needs none.
  Unless a rule
  vetoed the step or it reads as a question for the model's own knowledge. A step as close to a
  tool's examples as its own requests are is a request for that tool whatever its words say ("give
  me Clara's entry" -> `open_nodes`), and one far from the leader's examples less likely to be.

Requests that need no tool can be taught the same way, under the name `NO_TOOL`: a step closer to
them than to the taught leader's own examples fits less (`FIT_NONE`), and so does one whose
nearest taught requests mostly needed no tool (`none_share`, `FIT_KNN`). The examples' classifier
(`retrieval_head`, held here as `head_probabilities`) is fitted on the same rows.

The examples also still pull the tool's own vector (the `cos` features, `blend` in
runtime/tool_examples.py); the two do different things: the blend changes what the reranker
sees, this term says how far the examples alone point. The constants were chosen on the
hand-written dev sets only, each taught by the others (docs/routing-tools.md).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence

import numpy as np

from mcproute.router.retrieval_head import HEAD_WEIGHT, Head, fit_head

EXAMPLE_WEIGHT = 12.0  # ranker units per unit of closeness above BASELINE
BASELINE = 0.3
MIX = 0.7  # the centroid's share of the closeness; the nearest example has the rest
# P(fit) moves in logit space by these per unit of the leader's closeness above / below BASELINE +
# its margin: less downwards, so a few narrow examples do not overrule a request in the tool's own
# words
FIT_RAISE = 12.0
FIT_LOWER = 4.0
# A tool's margin: the FIT_QUANTILE of the closeness that the requests taught to *other* tools have
# to its examples, above BASELINE (0 if below). A tool whose examples (many, or a near neighbour's)
# come close to other requests needs a closer step before it raises P(fit). Measured with at least
# MIN_OTHERS such requests (else 0), at most PROBE of them.
FIT_QUANTILE = 0.9
MIN_OTHERS = 20
PROBE = 2048
# Requests that need no tool can be taught too, under the name NO_TOOL ("push my branch to
# origin" for a git server that cannot push; the shipped ones: runtime/tool_examples.py). When a
# step is closer to them than to the taught leader's own examples, P(fit) falls by FIT_NONE per
# unit of the difference (logit space).
NO_TOOL = ""
FIT_NONE = 8.0
# ... and, read locally: among the KNN_K requests nearest the step (those of the tools with shipped
# examples and the no-tool ones), weighted by softmax(cos / KNN_TEMP), the share that needed no tool. Above
# KNN_FLOOR, P(fit) falls by FIT_KNN per 0.5 of share (logit space). A centroid of requests as
# unlike as "ugh, time zones", "is UTC the same as GMT?" and "push to origin" says little; their
# nearest neighbours do.
KNN_K = 10
KNN_TEMP = 0.05
KNN_FLOOR = 0.5
FIT_KNN = 6.0


def _unit_rows(got: np.ndarray | None) -> np.ndarray | None:
    """`got` (rows, or one vector) as unit rows, dropping zero and non-finite ones; None if none remain."""
    if got is None:
        return None
    rows = np.atleast_2d(np.asarray(got, dtype=np.float32))
    if not rows.size:
        return None
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    keep = np.isfinite(norms[:, 0]) & (norms[:, 0] > 0.0)
    return rows[keep] / norms[keep] if keep.any() else None


class TaughtTools:
    """Tool name -> its examples' unit vectors; mutable like the index that owns it."""

    def __init__(self) -> None:
        self._rows: dict[str, np.ndarray] = {}
        self._names: tuple[str, ...] = ()
        self._centroids: np.ndarray | None = None
        self._examples: np.ndarray | None = None
        self._starts: np.ndarray | None = None
        self._fit_margin: dict[str, float] = {}
        self._none: np.ndarray | None = None  # the no-tool examples' rows
        self._none_centroid: np.ndarray | None = None
        self._shipped: set[str] = set()  # taught tools whose examples are mcproute's own
        self._shipped_rows: np.ndarray | None = None  # their rows of `_examples`
        self._head: Head | None = None  # the examples' classifier (retrieval_head.py)
        self._head_given = False  # fitted by the caller (else fitted here, on first use)

    def __len__(self) -> int:
        return len(self._rows)

    def set(self, names: Iterable[str], examples: Mapping[str, np.ndarray], shipped: Container[str] = ()) -> None:
        """For each of `names`: the example vectors `examples` gives it (rows, or one vector), or
        none when it gives none; `shipped`: those whose examples are mcproute's own."""
        for name in names:
            rows = _unit_rows(examples.get(name))
            if rows is not None:
                self._rows[name] = rows
            else:
                self._rows.pop(name, None)
            if rows is not None and name in shipped:
                self._shipped.add(name)
            else:
                self._shipped.discard(name)
        self._centroids = None

    def set_head(self, head: Head | None) -> None:
        """The examples' classifier, fitted by the caller on these examples
        (`TaughtVectors.head_for`, off the event loop); None: fit it here from the rows in force,
        when first needed."""
        self._head = head
        self._head_given = head is not None
        self._centroids = None

    def head_probabilities(self, vector: np.ndarray) -> dict[str, float] | None:
        """P(class) by the examples' classifier (a class per taught tool, and NO_TOOL when requests
        needing none are taught); None without a classifier for vectors of this size."""
        if self._centroids is None:
            self._compile()
        head = self._head
        if head is None or head.dims != vector.shape[0]:
            return None
        return head.probabilities(vector)

    def ships(self, name: str) -> bool:
        """True when `name`'s examples are mcproute's own (shipped), not yours."""
        return name in self._shipped

    def set_none(self, rows: np.ndarray | None) -> None:
        """The vectors of requests taught as needing no tool (None or empty: none)."""
        got = _unit_rows(rows)
        if got is None:
            self._none = self._none_centroid = None
            return
        self._none = got
        mean = got.mean(axis=0)
        self._none_centroid = mean / max(float(np.linalg.norm(mean)), 1e-12)

    def none_closeness(self, vector: np.ndarray) -> float | None:
        """The step's closeness to the no-tool examples (the same measure as a tool's), or None."""
        if self._none is None or self._none_centroid is None or self._none.shape[1] != vector.shape[0]:
            return None
        v = np.asarray(vector, dtype=np.float32)
        return float(MIX * (self._none_centroid @ v) + (1.0 - MIX) * float((self._none @ v).max()))

    def none_share(self, vector: np.ndarray) -> float | None:
        """Of the KNN_K requests nearest the step among the no-tool ones and those of the tools
        with shipped examples (softmax-weighted by closeness), the share taught as needing no tool;
        None without no-tool examples or shipped tool examples."""
        if self._centroids is None:
            self._compile()
        own = self._shipped_rows
        if self._none is None or own is None or not len(own) or self._none.shape[1] != vector.shape[0]:
            return None
        v = np.asarray(vector, dtype=np.float32)
        sims = np.concatenate([self._none @ v, own @ v])
        k = min(KNN_K, len(sims))
        top = np.argpartition(-sims, k - 1)[:k]
        w = np.exp((sims[top] - sims[top].max()) / KNN_TEMP)
        return float(w[top < len(self._none)].sum() / w.sum())

    def _compile(self) -> None:
        self._names = tuple(self._rows)
        self._shipped_rows = None
        if not self._head_given:
            self._head = fit_head({**self._rows, **({NO_TOOL: self._none} if self._none is not None else {})})
        if not self._names:
            return
        means = np.stack([self._rows[n].mean(axis=0) for n in self._names])
        self._centroids = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
        self._examples = np.concatenate([self._rows[n] for n in self._names])
        self._starts = np.cumsum([0] + [len(self._rows[n]) for n in self._names[:-1]])
        shipped = [self._rows[n] for n in self._names if n in self._shipped]
        self._shipped_rows = np.concatenate(shipped) if shipped else None
        self._fit_margin = self._margins()

    def _margins(self) -> dict[str, float]:
        assert self._examples is not None and self._centroids is not None and self._starts is not None
        owner = np.repeat(np.arange(len(self._names)), [len(self._rows[n]) for n in self._names])
        probe = np.arange(len(owner))
        if len(probe) > PROBE:  # an even, deterministic sample
            probe = np.linspace(0, len(owner) - 1, PROBE).astype(int)
        close = np.empty((len(probe), len(self._names)), dtype=np.float32)
        for lo in range(0, len(probe), 256):  # (256, all examples) at a time
            rows = self._examples[probe[lo : lo + 256]]
            nearest = np.maximum.reduceat(rows @ self._examples.T, self._starts, axis=1)
            close[lo : lo + 256] = MIX * (rows @ self._centroids.T) + (1.0 - MIX) * nearest
        margins = {}
        for t, name in enumerate(self._names):
            others = close[owner[probe] != t, t]
            if len(others) >= MIN_OTHERS:
                margins[name] = max(0.0, float(np.quantile(others, FIT_QUANTILE)) - BASELINE)
        return margins

    def fit_margin(self, name: str) -> float:
        """How far above BASELINE the requests taught to other tools come to `name`'s examples
        (their FIT_QUANTILE); 0 when fewer than MIN_OTHERS such requests exist."""
        if self._centroids is None:
            self._compile()
        return self._fit_margin.get(name, 0.0)

    def closeness(self, vector: np.ndarray, alive: Container[str]) -> dict[str, float]:
        """Per taught tool still in the catalogue: its closeness to the step, minus BASELINE."""
        if self._centroids is None:
            self._compile()
        if self._centroids is None or self._examples is None or self._starts is None:
            return {}
        if self._centroids.shape[1] != vector.shape[0]:
            return {}
        v = np.asarray(vector, dtype=np.float32)
        nearest = np.maximum.reduceat(self._examples @ v, self._starts)
        close = MIX * (self._centroids @ v) + (1.0 - MIX) * nearest
        return {n: float(c) - BASELINE for n, c in zip(self._names, close, strict=True) if n in alive}

    def scores(
        self,
        names: Sequence[str],
        ties: Sequence[tuple[int, int]],
        static: list[float],
        vector: np.ndarray | None,
        alive: Container[str],
        *,
        bonus: bool = True,
    ) -> tuple[list[float], dict[str, float] | None, dict[str, float]]:
        """The candidates' (`names`, tie-broken by `ties`) scores with the taught-examples terms
        added (closeness, and the classifier's bonus), the closeness term per taught tool (None: no
        tool in the catalogue is taught, or no step vector), and the classifier's P per class ({}
        without one). `bonus`: False for a step that asks for a command after something else
        ("derive each case, then get the current time"): the step vector is the whole message's,
        and the classifier, sure of itself, would order the tools by the preamble (it gave
        convert_time 50 % and get_current_time 1 % for a meeting between Tokyo and London)."""
        if vector is None or not len(self):
            return static, None, {}
        close = self.closeness(vector, alive)
        if not close:
            return static, None, {}
        probs = self.head_probabilities(vector) or {}
        # The classifier's P(tool) as a bonus, when a tool it knows leads without it: it learned
        # to tell the taught tools apart, not a step for a tool nobody taught (next to an airline's
        # tools, it sent "from Chicago to Miami on 2025-07-03, direct only" to convert_time). A
        # bonus takes nothing from any tool, so the words' second choices stay near the top.
        base = [sc + EXAMPLE_WEIGHT * close.get(n, 0.0) for sc, n in zip(static, names, strict=True)]
        lead = names[min(range(len(names)), key=lambda i: (-base[i], ties[i]))]
        if lead not in probs or not bonus:
            return base, close, probs
        return [sc + HEAD_WEIGHT * probs.get(n, 0.0) for sc, n in zip(base, names, strict=True)], close, probs


def taught_reason(new: str, old: str, taught: Mapping[str, float] | None, probs: Mapping[str, float]) -> str:
    """Why the examples moved `new` ahead of `old` (the words' leader), for the explanation; "" when
    they did not."""
    if taught is None or new == old:
        return ""

    def said(name: str) -> str:
        if name not in taught:
            return "no examples"
        by = f", classifier {probs[name]:.0%}" if name in probs else ""
        return f"closeness {taught[name] + BASELINE:.2f} to its examples{by}"

    return f"the tools' examples put {new} ({said(new)}) ahead of {old} ({said(old)}); "
