"""How `mcproute traces` reads: a table of conversations, or one conversation as a story, step by
step (what was asked, which tool and what else was considered, which tier and why, what the
conversation's stickiness did, how it turned out)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text

from mcproute.cli.render import console, emit, plural, table

_ALSO = 4  # alternatives named beside the chosen tool
_TIER_STYLE = {"reasoning": "magenta", "fast": "cyan"}


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")


def _usd(x: float | None) -> str:
    return "-" if x is None else f"${x:.6f}"


def print_conversations(convs: Sequence[Any], where: str) -> None:
    con = console()
    emit(con, f"{plural(len(convs), 'conversation')} in {where} (most recent first):")
    emit(
        con,
        table(
            ["conversation", "steps", "last", "tiers", "cost_usd"],
            [
                [c.conversation_id, c.steps, _when(c.last_ns), "/".join(c.tiers) or "-", f"{c.cost_usd:.6f}"]
                for c in convs
            ],
            styles=["bold cyan"],
        ),
    )
    emit(con, "", "mcproute traces --conversation ID  tells one of them step by step (--json: every field)")


def print_story(cid: str, rows: Sequence[Any], where: str) -> None:
    con = console()
    cost = sum(r.cost_usd or 0.0 for r in rows)
    tiers = "/".join(dict.fromkeys(r.tier for r in rows if r.tier)) or "-"
    emit(
        con,
        Text.assemble(
            ("conversation ", "bold"),
            (cid, "bold cyan"),
            f": {plural(len(rows), 'step')}, {_when(rows[0].start_ns)} to {_when(rows[-1].start_ns)}, "
            f"tiers {tiers}, cost {_usd(cost)}  (from {where})",
        ),
    )
    for n, r in enumerate(rows, 1):
        emit(con, "", _heading(n, r), _body(r))
    if not any(r.text for r in rows):
        emit(con, "", "(the request texts are not in these traces: set telemetry.capture_content: true to record them)")


def _heading(n: int, r: Any) -> Text:
    bits = [f"step {r.step}", f"{r.latency_ms:.1f} ms", _usd(r.cost_usd)]
    if r.source == "client":
        bits.append("a tool call the client chose itself")
    if r.dry_run:
        bits.append("dry run")
    return Text.assemble((f"Step {n}", "bold"), f"  {_when(r.start_ns)}  ({', '.join(bits)})")


def _body(r: Any) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    if r.text:
        grid.add_row("asked", Text(r.text))
    grid.add_row("tool", _tool(r))
    grid.add_row("model", _tier(r))
    if r.reason:
        grid.add_row("why", Text(r.reason))
    if r.sticky_held is not None or r.sticky_reason:
        held = "held" if r.sticky_held else "broke" if r.sticky_held is False else "-"
        grid.add_row(
            "sticky",
            Text.assemble(
                (held, "green" if r.sticky_held else "yellow"), f": {r.sticky_reason}" if r.sticky_reason else ""
            ),
        )
    if r.cache in ("exact", "similar") or r.cache_bypass:  # a plain miss is every step's default: not shown
        grid.add_row("cache", _cache(r))
    grid.add_row("outcome", _outcome(r))
    return grid


def _cache(r: Any) -> Text:
    if r.cache in ("exact", "similar"):
        sim = f", similarity {r.cache_similarity:.3f}" if r.cache == "similar" and r.cache_similarity else ""
        return Text.assemble((f"{r.cache} hit", "green"), f": no model call{sim}, saved {_usd(r.cache_saved_usd)}")
    if r.cache == "miss":
        return Text("miss" + (" (not read: " + r.cache_bypass + ")" if r.cache_bypass else ""))
    return Text(f"bypassed: {r.cache_bypass}")


def _tool(r: Any) -> Text:
    if not r.tool:
        return Text("none (no tool fits)" if r.source != "client" else "none")
    out = Text.assemble((r.tool, "bold cyan"), f" (score {r.tool_score:.3f})" if r.tool_score is not None else "")
    others = [(name, score) for name, score in r.alternatives if name != r.tool][:_ALSO]
    if others:
        out.append(
            "; also considered "
            + ", ".join(name + (f" {score:.3f}" if score is not None else "") for name, score in others)
        )
    return out


def _tier(r: Any) -> Text:
    out = Text.assemble((r.model or "none", "bold"))
    if r.tier:
        out.append(", ")
        out.append(f"{r.tier} tier", style=_TIER_STYLE.get(r.tier))
    if r.reasoning_score is not None and r.threshold is not None:
        side = "at or above" if r.reasoning_score >= r.threshold else "below"
        out.append(f": reasoning score {r.reasoning_score:.3f} {side} the threshold {r.threshold:.3f}")
        alone = "reasoning" if r.reasoning_score >= r.threshold else "fast"
        if r.tier and r.tier != alone:
            out.append(f", which alone would pick {alone} (see sticky)")
    if r.policy_version:
        out.append(f" (policy {r.policy_version})")
    return out


def _outcome(r: Any) -> Text:
    ok = r.outcome == "ok"
    out = Text(r.outcome, style="green" if ok else "red")
    done = []
    if r.tool_calls:
        done.append("called " + ", ".join(r.tool_calls))
    if r.attempts:
        done.append(plural(r.attempts, "model attempt"))
    if r.errors and ok:
        done.append("errors on the way: " + ", ".join(r.errors))
    if r.errors and not ok and r.outcome != "error: " + ", ".join(dict.fromkeys(r.errors)):
        done.append(", ".join(r.errors))
    if done:
        out.append(": " + "; ".join(done))
    return out
