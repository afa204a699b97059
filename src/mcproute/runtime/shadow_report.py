"""`mcproute shadow`'s figures from the stored shadow outcomes (pure: records in, a dict out).

Grouped by direction (`fast->reasoning`: a fast live step shadowed on the reasoning tier, and the
reverse), because the two answer different questions: what a fast step would have gained from
the reasoning tier, and whether a reasoning step could have been left to the fast one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mcproute.state.outcomes import OutcomeRecord


def _share(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def summarise(records: Iterable[OutcomeRecord]) -> dict[str, Any]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        if r.kind != "shadow":
            continue
        live, shadow = r.data.get("live") or {}, r.data.get("shadow") or {}
        direction = f"{live.get('tier', '?')}->{shadow.get('tier', '?')}"
        groups.setdefault(direction, []).append(r.data)
    out: dict[str, Any] = {"shadows": sum(len(g) for g in groups.values()), "by_direction": {}}
    for direction, rows in sorted(groups.items()):
        compared = [d for d in rows if d.get("status") == "compared"]
        with_tool = [d for d in compared if d.get("args_equal") is not None]
        judged = [d["judge"] for d in compared if isinstance(d.get("judge"), Mapping) and "live" in d["judge"]]
        statuses: dict[str, int] = {}
        for d in rows:
            statuses[str(d.get("status"))] = statuses.get(str(d.get("status")), 0) + 1
        out["by_direction"][direction] = {
            "shadows": len(rows),
            "by_status": dict(sorted(statuses.items())),
            "compared": len(compared),
            "same_tool_share": _share(sum(bool(d.get("same_tool")) for d in compared), len(compared)),
            "args_equal_share": _share(sum(bool(d.get("args_equal")) for d in with_tool), len(with_tool)),
            "args_equivalent_share": _share(sum(bool(d.get("args_equivalent")) for d in with_tool), len(with_tool)),
            "mean_agreement": _mean([float(d["agreement"]) for d in compared if d.get("agreement") is not None]),
            "judged": len(judged),
            "mean_judge_live": _mean([float(j["live"]) for j in judged]),
            "mean_judge_shadow": _mean([float(j["shadow"]) for j in judged]),
            "cost_usd": round(sum(float(d.get("cost_usd") or 0.0) for d in rows), 6),
        }
    return out
