"""History reorders, it does not hide.

The ranking reads a conversation's history (its texts, the tools and servers it used:
`retrieval_features`), and that may push down the tools a step asks for on its own words. On
everyday conversations it had pushed the step's own choice out of the five tools offered ("it cut
off, get the rest" after a fetch lost `fetch`: BFCL taught the reranker that a tool just used is
seldom called again): recall@5 0.877 with history against 0.898 without
(`tests/data/everyday_convs_dev.jsonl`). So the `KEEP_OWN` tools the step ranks best without the
history's features stay within the first `KEEP_WITHIN` (the tools `run_step` offers by default).
`offer` never changes the leader. A follow-up that says little on its own is led from the history
(`follow_up`): the same request again by the conversation's last tool ("and in lisbon?"), an item
of the last result picked by its place by the best-ranked tool of the server that gave it ("open
the second one" after a fetch). Pure functions over the pool.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mcproute.router.retrieval_compose import _QUOTED
from mcproute.router.retrieval_features import COL, ToolDoc
from mcproute.router.retrieval_followups import amends, picks, refers_back, repeats
from mcproute.router.retrieval_gates import edits_in_place
from mcproute.router.retrieval_intent import changes, family, opening_word, query_many, reads, verb_of
from mcproute.router.retrieval_text import split_identifier, stem, tokens

__all__ = ["KEEP_OWN", "KEEP_WITHIN", "follow_up", "offer", "own_best"]

KEEP_OWN = 2
KEEP_WITHIN = 5
_RIVALS = 3  # the last server's best-ranked tools a tool named by the step's verb is weighed against
_HISTORY_COLS = [COL[f] for f in ("history", "used", "same_server", "hist_cos")]


def own_best(
    x: np.ndarray, weights: np.ndarray, static: Sequence[float], scores: Sequence[float], order: Sequence[int]
) -> list[int]:
    """The pool rows of the `KEEP_OWN` best tools by the step alone: `scores` with the reranker's
    part (`static` = `x @ weights`) recomputed without the history's features (the examples' terms,
    which read the step, stay as they are); ties in `order`. [] when the history scored nothing."""
    if not x[:, _HISTORY_COLS].any():
        return []
    alone = x.copy()
    alone[:, _HISTORY_COLS] = 0.0
    # Without the history, a tool is lexical by the step's own words.
    alone[:, COL["lexical"]] = (x[:, COL["bm25"]] > 0) | (x[:, COL["expansion"]] > 0) | (x[:, COL["thesaurus"]] > 0)
    by = [sc - st + o for sc, st, o in zip(scores, static, (alone @ weights).tolist(), strict=True)]
    rank = {i: r for r, i in enumerate(order)}
    return sorted(range(len(by)), key=lambda i: (-by[i], rank[i]))[:KEEP_OWN]


def offer(order: list[int], scores: list[float], kept: Sequence[int]) -> tuple[list[int], list[float]]:
    """`order` with those of `kept` that are not within the first `KEEP_WITHIN` moved to its last
    places, in `kept`'s order (the leader stays first); their scores between their new neighbours',
    so the ranking still reads best first (the affinity boost re-sorts by score)."""
    missing = [i for i in kept if i not in order[:KEEP_WITHIN]]
    if not missing:
        return order, scores
    rest = [i for i in order if i not in missing]
    cut = max(1, min(KEEP_WITHIN, len(order)) - len(missing))
    scores = list(scores)
    hi = scores[rest[cut - 1]]
    lo = scores[rest[cut]] if cut < len(rest) else min(scores[i] for i in missing)
    for n, i in enumerate(missing, 1):
        scores[i] = hi - (hi - lo) * n / (len(missing) + 1)
    return [*rest[:cut], *missing, *rest[cut:]], scores


def _name_hits(doc: ToolDoc, said: set[str], verb: str = "") -> int:
    """How many words of the tool's name (its verb and its server's name aside) the step says."""
    words = split_identifier(doc.spec.name.rpartition("__")[2])
    return sum(1 for w in words if w not in (verb, doc.spec.server) and stem(w) in said)


def follow_up(ask: str, cands: Sequence[ToolDoc], order: Sequence[int], last: ToolDoc | None) -> tuple[int | None, str]:
    """The pool row that leads a follow-up the history decides, and what kind it is: "again", the
    last tool `last` for "now the same for ~/Downloads" (when it is in the pool); "pick", the
    best-ranked tool of `last`'s server in `order` for "open the second one" (one that does the
    kind of thing asked, and not made for several things unless the step asks for several);
    "named", the tool of that server the step's verb names ("good, ok commit that"); "amend", the
    best-ranked tool of that server that changes a thing in place, in the family asked for, for
    "make it two cups of sugar" after a step that showed one thing (a file read, an entity
    opened). (None, "") for any other step."""
    if last is None:
        return None, ""
    if repeats(ask):
        return next((i for i, c in enumerate(cands) if c is last), None), "again"
    own = [i for i in order if cands[i].spec.server == last.spec.server]
    if picks(ask):
        row = _picked(ask, cands, own)
        return row, "pick" if row is not None else ""
    row = _named(ask, cands, own)
    if row is not None:
        return row, "named"
    row = _amended(ask, cands, own, last)
    return row, "amend" if row is not None else ""


def _picked(ask: str, cands: Sequence[ToolDoc], own: Sequence[int]) -> int | None:
    """One item ("open the lasagna one"): the first of `own` that does what the opening verb asks
    and is not made for several things (unless the step asks for several), else the first."""
    m = opening_word(ask.lower())
    hit = verb_of(m.group()) if m is not None else None
    kin = family(hit[1]) if hit is not None else None  # "open ...": a reading tool
    many = query_many(ask)
    fits = (i for i in own if (many or not cands[i].many) and (kin is None or family(cands[i].action) in (kin, None)))
    return next(fits, own[0] if own else None)


def _named(ask: str, cands: Sequence[ToolDoc], own: Sequence[int]) -> int | None:
    """ "good, ok commit that" after the staged diff: the first of `own` whose name has the verb of
    a command that changes things (a verb of seeing, "show me what will go in", names git_show as
    much as any reading tool), unless one of the first `_RIVALS` has a name that says more of the
    step ("adjust the cruise control": setCruiseControl, not adjustClimateControl)."""
    if changes(ask) is None:
        return None
    m = opening_word(ask.lower())
    verb = m.group() if m is not None else ""
    said = set(tokens(_QUOTED.sub(" ", ask)))  # not the message quoted: "commit it as 'add retry logic'"
    row = next((i for i in own if verb in split_identifier(cands[i].spec.name.rpartition("__")[2])), None)
    if row is None:
        return None
    mine = _name_hits(cands[row], said, verb)
    return None if any(_name_hits(cands[i], said) > mine for i in own[:_RIVALS] if i != row) else row


def _amended(ask: str, cands: Sequence[ToolDoc], own: Sequence[int], last: ToolDoc) -> int | None:
    """After a step that showed one thing (a reading tool not made for several, or an edit), a
    command that changes something it does not name, and points back at it ("make it two cups of
    sugar") or at a part of a thing of the same kind ("bump the font size"): the first of `own`
    that changes a thing in place, in the family the command asks for."""
    if last.many or not (reads(last.action) or edits_in_place(last)):
        return None
    change = amends(ask)
    if change is None:
        return None
    kin, back = family(change), refers_back(ask)
    return next(
        (
            i
            for i in own
            if edits_in_place(cands[i])
            and family(cands[i].action) == kin
            and (back or bool(cands[i].kinds & last.kinds))
        ),
        None,
    )
