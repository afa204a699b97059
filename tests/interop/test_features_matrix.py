"""Server-to-client features through the gateway, in every era combination.

Upstream: the Python SDK client (a real client: `mcp.Client`) over streamable HTTP, in the
handshake era (`mode="legacy"`, 2025-11-25) and the stateless era (`mode="2026-07-28"`).
Downstream, behind one `mcproute serve`:
  - `everything`          server-everything (TypeScript SDK, handshake era);
  - `fixture_modern`      the conformance fixture, negotiated automatically (2026-07-28 era);
  - `fixture_handshake`   the same fixture forced to the handshake era (`mode: legacy`).

Features: sampling and elicitation round-trips, progress, logging, list_changed. Where a
combination cannot work (a handshake-era downstream asking a 2026-07-28 client mid-call: that
client's connection cannot carry a server-initiated request), the client must get an error that
names the combination. docs/interop.md holds the resulting matrix.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import mcp_types as t
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

from .support import FIXTURE, Peers, Proc, server_entries

CLIENT_ERAS = ["legacy", "2026-07-28"]
DOWNSTREAMS = ["everything", "fixture_modern", "fixture_handshake"]
HANDSHAKE_DOWNSTREAMS = {"everything", "fixture_handshake"}

# tool (per downstream) and arguments for each feature
TOOLS: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {
    "sampling": {
        "everything": ("trigger-sampling-request", {"prompt": "say hi"}),
        "fixture_modern": ("test_sampling", {"prompt": "say hi"}),
        "fixture_handshake": ("test_sampling", {"prompt": "say hi"}),
    },
    "elicitation": {
        "everything": ("trigger-elicitation-request", {}),
        "fixture_modern": ("test_elicitation", {"message": "who are you?"}),
        "fixture_handshake": ("test_elicitation", {"message": "who are you?"}),
    },
    "progress": {
        "everything": ("trigger-long-running-operation", {"duration": 0.3, "steps": 3}),
        "fixture_modern": ("test_tool_with_progress", {}),
        "fixture_handshake": ("test_tool_with_progress", {}),
    },
    "logging": {
        # server-everything logs once at once when simulated logging is switched on (then every 5 s
        # until switched off again, which the test does).
        "everything": ("toggle-simulated-logging", {}),
        "fixture_modern": ("test_tool_with_logging", {}),
        "fixture_handshake": ("test_tool_with_logging", {}),
    },
}
SAMPLED = "sampled-by-interop-test"

# Combinations that should work but do not yet: gateway gaps (strict xfail: the day one starts
# working the test fails, and the entry must go — and docs/interop.md's matrix be updated).
GAPS: dict[tuple[str, str, str], str] = {}


@pytest.fixture(scope="module")
def gateway(
    peers: Peers, interop_tmp: Path, write_config: Callable[..., Path], mcproute_http: Callable[..., Proc]
) -> Proc:
    everything = server_entries(peers, interop_tmp)["everything"]
    servers = {
        "everything": everything,
        "fixture_modern": {"command": "python", "args": [str(FIXTURE)]},
        "fixture_handshake": {"command": "python", "args": [str(FIXTURE)], "mode": "legacy"},
    }
    return mcproute_http(write_config(servers))


async def _sample(ctx: Any, params: t.CreateMessageRequestParams) -> t.CreateMessageResult:
    return t.CreateMessageResult(
        role="assistant", content=t.TextContent(type="text", text=SAMPLED), model="interop-test", stop_reason="endTurn"
    )


def _answer(prop: dict[str, Any]) -> Any:
    if prop.get("enum"):
        return prop["enum"][0]
    kind = prop.get("type")
    if kind in ("number", "integer"):
        return 1
    if kind == "boolean":
        return True
    return {"email": "interop@example.com", "date": "2024-01-01", "uri": "https://example.com"}.get(
        prop.get("format", ""), "interop"
    )


async def _elicit(ctx: Any, params: Any) -> t.ElicitResult:
    props = (getattr(params, "requested_schema", None) or {}).get("properties", {})
    return t.ElicitResult(action="accept", content={k: _answer(v) for k, v in props.items()})


class Seen:
    def __init__(self) -> None:
        self.logs: list[t.LoggingMessageNotificationParams] = []
        self.notifications: list[str] = []
        self.progress: list[float] = []

    async def log(self, params: t.LoggingMessageNotificationParams) -> None:
        self.logs.append(params)

    async def message(self, message: Any) -> None:
        self.notifications.append(type(message).__name__)

    async def on_progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.progress.append(progress)


def _client(url: str, era: str, seen: Seen) -> Client:
    return Client(
        url,
        mode=era,
        sampling_callback=_sample,
        elicitation_callback=_elicit,
        logging_callback=seen.log,
        message_handler=seen.message,
        log_level="debug",  # the 2026-07-28 per-request opt-in; ignored on handshake connections
        read_timeout_seconds=30,
    )


async def _set_level_if_handshake(client: Client, era: str) -> None:
    if era == "legacy":
        # logging/setLevel is the handshake era's opt-in (deprecated by 2026-07-28, hence the filter).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await client.set_logging_level("debug")


def _text(result: t.CallToolResult) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


def _params() -> list[Any]:
    out = []
    for feature in TOOLS:
        for era in CLIENT_ERAS:
            for ds in DOWNSTREAMS:
                marks = (
                    [pytest.mark.xfail(strict=True, reason=GAPS[(feature, era, ds)])]
                    if (feature, era, ds) in GAPS
                    else []
                )
                out.append(pytest.param(feature, era, ds, marks=marks, id=f"{feature}-{era}-client-{ds}"))
    return out


def refused(feature: str, era: str, downstream: str) -> bool:
    """The combinations that cannot work: a handshake-era downstream sends its sampling/elicitation
    request mid-call, and a 2026-07-28 client's connection has no channel for server-initiated
    requests (that era asks through InputRequiredResult + retry instead)."""
    return feature in ("sampling", "elicitation") and era != "legacy" and downstream in HANDSHAKE_DOWNSTREAMS


@pytest.mark.anyio
@pytest.mark.parametrize(("feature", "era", "downstream"), _params())
async def test_feature_through_gateway(feature: str, era: str, downstream: str, gateway: Proc) -> None:
    assert gateway.url is not None
    tool, args = TOOLS[feature][downstream]
    name = f"{downstream}__{tool}"
    seen = Seen()
    async with _client(gateway.url, era, seen) as client:
        await _set_level_if_handshake(client, era)
        listed = {x.name for x in (await client.list_tools()).tools}
        # server-everything registers its sampling/elicitation tools only for a client that declared
        # those capabilities: their presence shows mcproute declared them downstream.
        assert name in listed, f"{name} not in the catalogue: {sorted(listed)}"

        error: str | None = None
        result: t.CallToolResult | None = None
        with anyio.fail_after(40):
            try:
                result = await client.call_tool(name, args, progress_callback=seen.on_progress)
            except MCPError as exc:
                error = str(exc)
            if result is not None and result.is_error:
                error = _text(result)
            if feature == "logging":
                with anyio.move_on_after(5):
                    while not seen.logs:
                        await anyio.sleep(0.05)
                if downstream == "everything":
                    await client.call_tool(name, args)  # switch the simulated logging off again

    if refused(feature, era, downstream):
        assert error is not None, f"{feature} from a handshake-era downstream to a {era} client should be refused"
        for fragment in (
            downstream,
            "handshake",
            era,
            feature.replace("sampling", "sampling/createMessage").replace("elicitation", "elicitation/create"),
        ):
            assert fragment in error, f"the refusal should name {fragment!r}: {error}"
        return

    assert error is None, f"{feature} via {downstream} for a {era} client failed: {error}"
    assert result is not None
    text = _text(result)
    if feature == "sampling":
        assert SAMPLED in text, text
    elif feature == "elicitation":
        assert "accept" in text.lower() or "provided" in text.lower(), text
        assert "interop" in text, f"the elicited answer did not reach the tool: {text}"
    elif feature == "progress":
        assert len(seen.progress) >= 3 and seen.progress == sorted(seen.progress), seen.progress
    elif feature == "logging":
        assert seen.logs, f"no notifications/message reached the {era} client from {downstream}"


@pytest.mark.anyio
@pytest.mark.parametrize("era", CLIENT_ERAS)
async def test_downstream_list_changed_reaches_client(era: str, gateway: Proc) -> None:
    """server-everything's gzip-file-as-resource registers a session resource, so it announces
    `notifications/resources/list_changed`; the gateway must pass the change on, in each client's
    own way (a notification on a handshake connection, a `subscriptions/listen` event on 2026-07-28)."""
    assert gateway.url is not None
    seen = Seen()
    args = {"name": f"interop-{era}.txt", "data": "data:text/plain;base64,aGVsbG8="}
    async with _client(gateway.url, era, seen) as client:
        await client.list_resources()  # a handshake connection gets list_changed once it has listed
        if era == "legacy":
            await client.call_tool("everything__gzip-file-as-resource", args)
            with anyio.fail_after(10):
                while "ResourceListChangedNotification" not in seen.notifications:
                    await anyio.sleep(0.05)
        else:
            async with client.listen(resources_list_changed=True, tools_list_changed=True) as sub:
                await client.call_tool("everything__gzip-file-as-resource", args)
                with anyio.fail_after(10):
                    event = await sub.__anext__()
                assert "Resource" in type(event).__name__ or "Tool" in type(event).__name__, event
        uris = [str(r.uri) for r in (await client.list_resources()).resources]
        assert any(f"interop-{era}.txt" in u for u in uris), f"the new resource is not listed: {uris}"
