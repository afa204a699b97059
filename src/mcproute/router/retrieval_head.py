"""The examples' classifier: which taught tool (or none) a step is for, learned from the examples.

Closeness to a tool's examples (`retrieval_examples`) measures each tool on its own: how near the
step comes to that tool's centroid and nearest example. Siblings whose requests are near each
other ("note that Miso hates the vacuum" for `add_observations`, "start keeping track of my new
cat, Miso" for `create_entities`) are near both, and closeness cannot say which. A classifier
trained on all the examples at once learns what sets each tool's requests apart from the others':
a multinomial logistic regression over the step's sentence vector, one class per taught tool and
one for the requests taught as needing no tool (`NO_TOOL`).

* It is fitted over the catalogue's taught tools with at least MIN_EXAMPLES examples each
  (`TaughtVectors.head_for`, in a worker thread once per encoding pass: ~0.3 s for the shipped
  ~2,300 examples), or by the index itself when it is given examples without one; deterministic
  (zero start, full-batch Nesterov gradient descent, fixed steps), so a replay fits the same one.
* The ranking adds `HEAD_WEIGHT x P(tool)` to each taught candidate's score, after the closeness
  term: a bonus that orders the taught tools and takes nothing from any tool, so a tool the words
  point at stays among the first few however unlikely the classifier finds it, and a tool nobody
  taught keeps its place. (Tried first: log P relative to the likeliest taught tool, as good on
  the reference catalogue but, next to untaught tools, it pushed the classifier's second choices
  below them: recall@5 0.95 -> 0.895 on `everyday_dev18` in a catalogue with an airline's and a
  store's tools added.)
* A taught leader's P(fit) falls in logit space by `FIT_HEAD x logit(P(no tool))` when the
  classifier gives `NO_TOOL` more than half; never up (it is sure of itself well beyond its
  accuracy: raising P(fit) by it called tools for requests that only looked like theirs).
* The constants were chosen on the hand-written dev sets, each set ranked with a classifier
  fitted on the others (docs/routing-tools.md, "The examples' classifier").

Pure numpy, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

HEAD_WEIGHT = 4.0  # ranker units per unit of P(tool)
FIT_HEAD = 0.25  # logit of P(fit) per unit of logit(P(no tool)) above 0.5, for a taught leader in the classifier
NONE_FLOOR = 1e-6  # P(no tool) is read within [NONE_FLOOR, 1 - NONE_FLOOR] for P(fit)
TEMPERATURE = 20.0  # the logits are TEMPERATURE x (step . weights) + bias: unit vectors have small dot products
L2 = 1e-3
# Nesterov-accelerated full-batch gradient descent from zero: 80 steps reach the loss 300 plain
# steps did (0.137 vs 0.127 on the shipped examples, the same argmax for 99.9 % of them) in a
# quarter of the time (~0.3 s for 2,265 examples on one core), which keeps the tool examples
# within the first step's wait (routing.encoder.step_wait).
STEPS = 80
RATE = 0.5
MOMENTUM = 0.9
# A class needs this many examples to be in the classifier. With fewer it is confidently wrong:
# fitted on 3 examples per tool, the term cost 5 points of cross-fitted top1 (10: even, 20: +2.6,
# all ~35: +4.6); a tool with fewer examples keeps only its closeness term.
MIN_EXAMPLES = 20


@dataclass(frozen=True, eq=False)
class Head:
    """A fitted classifier: `names[k]` is class k (a tool name, or NO_TOOL)."""

    names: tuple[str, ...]
    weights: np.ndarray  # (dims, classes)
    bias: np.ndarray  # (classes,)

    @property
    def dims(self) -> int:
        return int(self.weights.shape[0])

    def probabilities(self, vector: np.ndarray) -> dict[str, float]:
        """P(class) for the step's unit vector, per class name."""
        z = TEMPERATURE * (np.asarray(vector, dtype=np.float32) @ self.weights) + self.bias
        z = np.exp(z - z.max())
        p = z / z.sum()
        return dict(zip(self.names, p.tolist(), strict=True))


def fit_head(rows: Mapping[str, np.ndarray]) -> Head | None:
    """The classifier of `rows` (class name -> its examples' unit vectors, one a row), over the
    classes with at least MIN_EXAMPLES rows; None with fewer than two such classes or mixed
    dimensions."""
    names = tuple(sorted(n for n, r in rows.items() if r is not None and len(np.atleast_2d(r)) >= MIN_EXAMPLES))
    if len(names) < 2:
        return None
    blocks = [np.atleast_2d(np.asarray(rows[n], dtype=np.float32)) for n in names]
    if len({b.shape[1] for b in blocks}) != 1:
        return None
    x = np.concatenate(blocks)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.maximum(norms, 1e-12)
    y = np.repeat(np.arange(len(names)), [len(b) for b in blocks])
    target = np.eye(len(names), dtype=np.float32)[y]
    w = np.zeros((x.shape[1], len(names)), dtype=np.float32)
    b = np.zeros(len(names), dtype=np.float32)
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    n = float(len(x))
    for _ in range(STEPS):
        aw, ab = w + MOMENTUM * vw, b + MOMENTUM * vb  # the gradient is taken where the step leads
        z = TEMPERATURE * (x @ aw) + ab
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - target) / n
        vw = MOMENTUM * vw - RATE * (TEMPERATURE * (x.T @ g) + L2 * aw)
        vb = MOMENTUM * vb - RATE * g.sum(axis=0)
        w, b = w + vw, b + vb
    w.setflags(write=False)
    b.setflags(write=False)
    return Head(names, w, b)
