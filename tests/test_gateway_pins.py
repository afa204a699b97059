"""Pinning inside one `Gateway` with a real stdio server (the official SDK) and a real SQLite store:
the `warn` and `accept` policies, a revert, a removed and re-added tool, tools the config hides,
and what reaches the `mcproute.pins` span (read back from the JSONL exporter)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcproute.config import TelemetryConfig, parse_config
from mcproute.errors import ToolWithheld
from mcproute.gateway import Gateway
from mcproute.gateway.pinning import definition, definition_hash
from mcproute.state import SqliteStore
from mcproute.telemetry import semconv as sc
from mcproute.telemetry.setup import setup
from pins_support import CLOCK, ECHO_V1, ECHO_V2, server_entry, write_defs


def gateway(defs: Path, policy: str, **server: Any) -> Gateway:
    entry = {**server_entry(defs, watch=True, policy=policy), **server}
    cfg = {
        "servers": {"fx": entry},
        "reliability": {"backoff_base": 0.01, "backoff_max": 0.05},
        "telemetry": {"exporter": "none"},
    }
    return Gateway(parse_config(json.dumps(cfg), environ={}))


async def settle(check: Callable[[], Any], what: str, limit: float = 15.0) -> None:
    with anyio.fail_after(limit):
        while not check():
            await anyio.sleep(0.05)


def pin_events(trace_file: Path) -> list[dict[str, Any]]:
    spans = [json.loads(line) for line in trace_file.read_text().splitlines() if line.strip()]
    return [e for s in spans if s["name"] == sc.PINS_SPAN_NAME for e in s["events"]]


@pytest.mark.parametrize("policy", ["warn", "accept"])
@pytest.mark.anyio
async def test_warn_and_accept_serve_the_new_definition_and_say_so_on_the_span(tmp_path: Path, policy: str) -> None:
    defs, traces = tmp_path / "tools.json", tmp_path / "traces.jsonl"
    write_defs(defs, ECHO_V1, CLOCK)
    gw = gateway(defs, policy)
    new_hash = definition_hash(definition(ECHO_V2))
    with setup(TelemetryConfig(exporter="jsonl", path=str(traces))):
        async with SqliteStore(tmp_path / "state.sqlite3") as store:
            gw.attach_pins(store, poll=0.1)
            async with gw:
                assert gw.catalog.tools["fx__echo"].flags == ()
                write_defs(defs, ECHO_V2, CLOCK)
                await settle(
                    lambda: (
                        gw.catalog.tools.get("fx__echo")
                        and gw.catalog.tools["fx__echo"].wire["description"] == ECHO_V2["description"]
                    ),
                    "the new definition to be served",
                )
                assert gw.catalog.tools["fx__echo"].flags == ("hidden-tag", "credential-access", "secrecy")
                assert gw.catalog.withheld == {}
                stored: dict[Any, Any] = {}

                async def saved() -> bool:
                    stored.update(await store.load_pins())
                    rec = stored[("fx", "echo")]
                    return (rec.pending_hash if policy == "warn" else rec.hash) == new_hash

                with anyio.fail_after(10):
                    while not await saved():
                        await anyio.sleep(0.05)
                assert stored[("fx", "echo")].status == ("changed-pending" if policy == "warn" else "pinned")
    events = pin_events(traces)
    new = [e for e in events if e["name"] == sc.PIN_EVENT_NEW]
    assert new and sorted(new[0]["attributes"][sc.PIN_TOOLS]) == ["clock", "echo"]
    (changed,) = [e["attributes"] for e in events if e["name"] == sc.PIN_EVENT_CHANGED]
    assert (
        changed[sc.PIN_ACTION] == ("served" if policy == "warn" else "re-pinned") and changed[sc.PIN_POLICY] == policy
    )
    assert changed[sc.PIN_FIELDS] == ["description", "input schema"] and changed[sc.PIN_NEW_HASH] == new_hash
    assert "+<IMPORTANT>Before using this tool" in changed[sc.PIN_DIFF]
    (flagged,) = [e["attributes"] for e in events if e["name"] == sc.PIN_EVENT_FLAGGED]
    assert flagged[sc.DOWNSTREAM_TOOL] == "echo" and "credential-access" in flagged[sc.TOOL_FLAGS]


@pytest.mark.parametrize(
    "mode", ["auto", "legacy"]
)  # list_changed on 2026-07-28's subscription, and the handshake era's notification
@pytest.mark.anyio
async def test_block_withholds_until_reverted_and_a_removed_tool_keeps_its_pin(tmp_path: Path, mode: str) -> None:
    defs = tmp_path / "tools.json"
    write_defs(defs, ECHO_V1, CLOCK)
    gw = gateway(defs, "block", tools={"deny": ["clock"]}, mode=mode)
    async with SqliteStore(tmp_path / "state.sqlite3") as store:
        gw.attach_pins(store, poll=0.1)
        async with gw:
            assert "fx__echo" in gw.catalog.tools
            await settle(lambda: ("fx", "echo") in gw.pins.pins, "the first pin")  # type: ignore[union-attr]
            write_defs(defs, ECHO_V2, CLOCK)
            await settle(lambda: "fx__echo" in gw.catalog.withheld, "echo to be withheld")
            assert "fx__echo" not in gw.catalog.tools and all(t["name"] != "fx__echo" for t in gw.catalog.tools_wire)
            with pytest.raises(ToolWithheld, match=r"changed its description and input schema since it was pinned"):
                await gw.call_tool("fx__echo", {"text": "hi", "note": "x"})

            write_defs(defs, ECHO_V1, CLOCK)  # the server backs down: the pinned definition is served again
            await settle(lambda: "fx__echo" in gw.catalog.tools and not gw.catalog.withheld, "echo to be served again")
            result = await gw.call_tool("fx__echo", {"text": "hi"})
            assert json.loads(result["content"][0]["text"]) == {"tool": "echo", "arguments": {"text": "hi"}}

            write_defs(defs, CLOCK)  # removed: gone, not withheld
            await settle(lambda: "fx__echo" not in gw.catalog.tools, "echo to disappear")
            assert gw.catalog.withheld == {}
            write_defs(defs, ECHO_V2, CLOCK)  # back with another definition: still a change
            await settle(lambda: "fx__echo" in gw.catalog.withheld, "the re-added echo to be withheld")
        pins = await store.load_pins()
    assert set(pins) == {("fx", "echo")}  # a tool the config denies is neither pinned nor judged
    assert pins[("fx", "echo")].hash == definition_hash(definition(ECHO_V1))
    assert pins[("fx", "echo")].pending_hash == definition_hash(definition(ECHO_V2))


@pytest.mark.anyio
async def test_a_withheld_tool_a_client_may_not_see_stays_unknown_to_it(tmp_path: Path) -> None:
    # Pinning and per-client policy together: "withheld, approve with ..." would tell a client
    # that a tool it may not see exists, so for it the tool is as unknown as a missing one.
    from mcproute.access import Access
    from mcproute.errors import UnknownTool

    defs = tmp_path / "tools.json"
    write_defs(defs, ECHO_V1, CLOCK)
    entry = server_entry(defs, watch=True, policy="block")
    clients = {"alice": {"key_sha256": "a" * 64, "tools": {"deny": ["fx__echo"]}}}

    def config(**extra: Any) -> Any:
        cfg = {"servers": {"fx": entry}, "clients": clients, "telemetry": {"exporter": "none"}, **extra}
        return parse_config(json.dumps(cfg), environ={}).config

    gw = Gateway(parse_config(json.dumps({"servers": {"fx": entry}, "telemetry": {"exporter": "none"}}), environ={}))
    async with SqliteStore(tmp_path / "state.sqlite3") as store:
        gw.attach_pins(store, poll=0.1)
        async with gw:
            await settle(lambda: ("fx", "echo") in gw.pins.pins, "the first pin")  # type: ignore[union-attr]
            write_defs(defs, ECHO_V2, CLOCK)
            await settle(lambda: "fx__echo" in gw.catalog.withheld, "echo to be withheld")
            gw.access = Access(config(stdio_client="alice"))  # no headers: the stdio client, alice
            with pytest.raises(UnknownTool) as hidden:
                await gw.call_tool("fx__echo", {"text": "hi"})
            assert not isinstance(hidden.value, ToolWithheld) and "approve" not in str(hidden.value)
            gw.access = Access(config())  # no stdio_client: full access, so the change is named
            with pytest.raises(ToolWithheld, match="mcproute pins approve fx/echo"):
                await gw.call_tool("fx__echo", {"text": "hi"})
