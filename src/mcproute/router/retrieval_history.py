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
from mcproute.router.retrieval_gates import amends, edits_in_place, picks, refers_back, repeats
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
    kind of thing asked, and not made for several things unless the step asks for several); "amend", the
    best-ranked tool of `last`'s server that changes a thing in place, in the family asked for, for
    "make it two cups of sugar" after a step that showed one thing (a file read, an entity opened).
    (None, "") for any other step."""
    if last is None:
        return None, ""
    if repeats(ask):
        return next((i for i, c in enumerate(cands) if c is last), None), "again"
    if picks(ask):
        # one item ("open the lasagna one"): a tool made for several only when nothing else of the server fits
        rows = [i for i in order if cands[i].spec.server == last.spec.server]
        m = opening_word(ask.lower())
        verb = verb_of(m.group()) if m is not None else None
        kin = family(verb[1]) if verb is not None else None  # "open the lasagna one": a reading tool
        row = next(
            (
                i
                for i in rows
                if (query_many(ask) or not cands[i].many) and (kin is None or family(cands[i].action) in (kin, None))
            ),
            rows[0] if rows else None,
        )
        return row, "pick" if row is not None else ""
    # "good, ok commit that" after the staged diff: a command whose verb names a tool of the last
    # server ("commit" -> git_commit) is for it; only verbs that change things (a verb of seeing,
    # "show me what will go in", names git_show as much as any reading tool)
    if changes(ask) is not None:
        m = opening_word(ask.lower())
        verb = m.group() if m is not None else ""
        said = set(tokens(_QUOTED.sub(" ", ask)))  # not the message quoted: "commit it as 'add retry logic'"
        own = [i for i in order if cands[i].spec.server == last.spec.server]
        row = next((i for i in own if verb in split_identifier(cands[i].spec.name.rpartition("__")[2])), None)
        # ... unless a close rival's name says more of the step ("adjust the cruise control":
        # setCruiseControl, not adjustClimateControl)
        if row is not None and not any(
            _name_hits(cands[i], said) > _name_hits(cands[row], said, verb) for i in own[:_RIVALS] if i != row
        ):
            return row, "named"
    # one thing shown (a file read, an entity opened, or just edited), and a command that points
    # back at it ("make it two cups of sugar") or changes a part of a file it showed ("bump the font size")
    shown = not last.many and (reads(last.action) or edits_in_place(last))
    change = amends(ask) if shown else None
    if change is not None:
        kin = family(change)
        row = next(
            (
                i
                for i in order
                if cands[i].spec.server == last.spec.server
                and edits_in_place(cands[i])
                and family(cands[i].action) == kin
                and (refers_back(ask) or bool(cands[i].kinds & last.kinds))
            ),
            None,
        )
        return row, "amend" if row is not None else ""
    return None, ""
