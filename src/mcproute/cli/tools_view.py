"""How `mcproute tools` reads on a screen: servers, encoder, models, then every served tool."""

from __future__ import annotations

import sys
from typing import Any

from rich.text import Text

from mcproute.cli.render import console, emit, plural, shorten, state_style, table

GATEWAY = "(gateway)"  # the server column of a meta-tool: mcproute serves it itself
DESCRIPTION_WIDTH = 80


def encoder_line(enc: dict[str, Any] | None) -> str | None:
    """One line for the encoder's state, from /status or the offline probe."""
    if not enc:
        return None
    state, reason = enc.get("state", "?"), enc.get("reason") or ""
    if state in ("off", "unavailable"):
        return f"encoder: {state}: {reason} (tool retrieval is lexical only)"
    detail = f"{enc.get('model_id')}"
    if "tools_with_vectors" in enc:
        detail += f", {enc['tools_with_vectors']}/{enc.get('tools', 0)} tools have vectors"
    return f"encoder: {state} ({detail}){': ' + reason if reason else ''}"


def _state(word: str) -> Text:
    return Text(word, style=state_style(word))


def print_report(report: dict[str, Any]) -> None:
    con = console()
    servers = report["servers"]
    rows = []
    for name, s in servers.items():
        detail = s.get("reason") or "-"
        rows.append(
            [
                name,
                _state(s["state"]),
                s.get("protocol_version") or "-",
                s.get("pid") or "-",
                s.get("tools", 0),
                s.get("restarts", 0),
                detail,
            ]
        )
    emit(con, table(["server", "state", "protocol", "pid", "tools", "restarts", "detail"], rows, styles=["bold"]))
    if (line := encoder_line(report.get("encoder"))) is not None:
        emit(con, "", line)
    if report.get("models") is not None:
        from mcproute.providers.status import NO_MODELS, status_tables
        from mcproute.runtime.status import models_from_report

        models = models_from_report(report["models"])
        if not models:
            emit(con, "", NO_MODELS)
        else:
            for header, *body in status_tables(models):
                state_col = header.index("STATE") if "STATE" in header else header.index("CIRCUIT")
                styled = [[_state(c) if i == state_col else c for i, c in enumerate(r)] for r in body]
                if styled:
                    emit(con, "", table(header, styled, styles=["bold"]))
    tools = report.get("tools") or []
    meta = sum(1 for t in tools if not t.get("server"))
    emit(con, "", f"{plural(len(tools), 'tool')} served ({meta} of them the gateway's own):")
    emit(
        con,
        table(
            ["tool", "server", "description"],
            [
                [_flagged(t), t.get("server") or GATEWAY, shorten(t.get("description") or "", DESCRIPTION_WIDTH) or "-"]
                for t in tools
            ],
            styles=["bold cyan", None, None],
        ),
    )
    flagged = [t for t in tools if t.get("flags")]
    if flagged:
        emit(
            con,
            "",
            f"{FLAG_MARK} instruction-like text aimed at the model in {plural(len(flagged), 'description')} "
            "(read them before trusting the server):",
        )
        for t in flagged:
            emit(con, f"  {t['name']}: {', '.join(t['flags'])}")
    for name, why in (report.get("withheld") or {}).items():
        print(f"withheld: {name}: {why}", file=sys.stderr)
    for c in report.get("collisions", []):
        print(f"collision: {c}", file=sys.stderr)


FLAG_MARK = "(!)"


def _flagged(tool: dict[str, Any]) -> str:
    return f"{tool['name']} {FLAG_MARK}" if tool.get("flags") else tool["name"]
