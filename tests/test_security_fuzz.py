"""Issue 14: bounded Hypothesis fuzzing of the two places untrusted bytes first land.

- The config loader: any text (YAML built from the real keys, with anchors/aliases, `${VAR}`s,
  odd scalars and nesting) either loads or raises `ConfigError` whose every issue prints — never
  another exception, never unbounded work.
- The JSON-RPC entry of a real running gateway (loopback HTTP, `/mcp` through the guard, the
  JSON limits, the fast path and the SDK, with mcp-server-time behind it): any body, in either
  era's headers, gets an HTTP answer below 500 — and afterwards the downstream was never
  restarted and a well-formed call still works.

Example counts are small (each test runs well under 20 s here) and the database is off, so the
suite stays deterministic in time; `HYPOTHESIS_PROFILE=long` runs more.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mcproute.config import parse_config
from mcproute.errors import ConfigError

_LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
_FAST = settings(
    max_examples=1000 if _LONG else 150,
    deadline=None,
    database=None,
    derandomize=not _LONG,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# ------------------------------------------------------------------------------ config loader

_KEYS = [
    "servers",
    "models",
    "gateway",
    "http",
    "routing",
    "state",
    "telemetry",
    "command",
    "args",
    "url",
    "urls",
    "env",
    "inherit_env",
    "prefix",
    "separator",
    "provider",
    "tier",
    "api_key",
    "base_url",
    "token",
    "timeout",
    "tools",
    "allow",
    "deny",
    "enabled",
    "max_json_depth",
    "header_timeout",
    "x",
    "a__b",
    "<<",
]
_SCALARS = st.one_of(
    st.sampled_from(
        [
            "${HOME}",
            "${NOPE}",
            "${NOPE:-d}",
            "${A",
            "openai",
            "fast",
            "~",
            "null",
            "yes",
            "0x10",
            "1e999",
            "-.inf",
            "'q'",
            '"\\u0000"',
            "!!binary aGk=",
            "!!python/none",
            "*a",
            "&a v",
            "[",
            "]",
            "{",
            "}",
            ": ",
            "- ",
            "|",
            ">",
            "%YAML 1.1",
            "---",
            "...",
        ]
    ),
    st.integers(-(10**20), 10**20).map(str),
    st.text(max_size=12),
)


@st.composite
def _yaml(draw: st.DrawFn, depth: int = 0) -> str:
    indent = "  " * depth
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.sampled_from(_KEYS))
        anchor = f"&{draw(st.sampled_from('abc'))} " if draw(st.booleans()) else ""
        kind = draw(st.sampled_from(["scalar", "map", "list", "alias", "flow"]))
        if kind == "map" and depth < 4:
            lines.append(f"{indent}{key}: {anchor}\n{draw(_yaml(depth + 1))}")
        elif kind == "list":
            items = draw(st.lists(_SCALARS, max_size=4))
            lines.append(f"{indent}{key}: {anchor}[{', '.join(items)}]\n")
        elif kind == "alias":
            lines.append(f"{indent}{key}: *{draw(st.sampled_from('abc'))}\n")
        elif kind == "flow":
            inner = ", ".join(
                f"{draw(st.sampled_from(_KEYS))}: {draw(_SCALARS)}" for _ in range(draw(st.integers(0, 3)))
            )
            lines.append(f"{indent}{key}: {anchor}{{{inner}}}\n")
        else:
            lines.append(f"{indent}{key}: {anchor}{draw(_SCALARS)}\n")
    return "".join(lines)


@_FAST
@given(st.one_of(_yaml(), st.text(max_size=200)))
def test_fuzz_config_loader_loads_or_reports(text: str) -> None:
    try:
        loaded = parse_config(text, source="fuzz.yaml", environ={"HOME": "/home/fuzz", "A": "sk-" + "x" * 20})
    except ConfigError as exc:
        assert exc.issues and all(str(i) for i in exc.issues)
        return
    assert loaded.config is not None and all(str(i) for i in loaded.issues)


# ------------------------------------------------------------------------------ JSON-RPC entry

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=25,
)
_METHODS = st.sampled_from(
    [
        "tools/call",
        "tools/list",
        "initialize",
        "ping",
        "resources/read",
        "prompts/get",
        "server/discover",
        "notifications/initialized",
        "logging/setLevel",
        "completion/complete",
        "subscriptions/listen",
        "nope",
        "",
    ]
)
_TOOLS = st.sampled_from(["time__get_current_time", "time__convert_time", "mcproute__nothing", "", "a" * 300])
_ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "fuzz", "version": "1"},
}


@st.composite
def _message(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["rpc", "rpc", "rpc", "json", "bytes", "batch"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "json":
        return json.dumps(draw(_JSON)).encode()
    msg: dict[str, Any] = {"jsonrpc": draw(st.sampled_from(["2.0", "2.0", "1.0", None]))}
    if draw(st.booleans()):
        msg["id"] = draw(st.one_of(st.integers(), st.text(max_size=10), st.none(), st.floats(allow_nan=False), _JSON))
    msg["method"] = draw(_METHODS)
    params: Any = draw(st.one_of(_JSON, st.fixed_dictionaries({"name": _TOOLS, "arguments": _JSON})))
    if isinstance(params, dict) and draw(st.booleans()):
        params["_meta"] = {**_ENVELOPE, **draw(st.dictionaries(st.text(max_size=8), _JSON, max_size=2))}
    msg["params"] = params
    return json.dumps([msg, msg] if kind == "batch" else msg).encode()


_HEADERS = st.sampled_from(
    [
        {
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
            "mcp-protocol-version": "2026-07-28",
            "mcp-method": "tools/call",
            "mcp-name": "time__get_current_time",
        },
        {
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
            "mcp-protocol-version": "2026-07-28",
        },
        {"accept": "application/json, text/event-stream", "content-type": "application/json"},
        {"accept": "application/json", "content-type": "application/json", "mcp-protocol-version": "2025-11-25"},
        {"content-type": "application/json"},
    ]
)


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[tuple[Any, str]]:
    import anyio.from_thread

    from test_gateway_upstream import running

    cfg = json.dumps(
        {
            "reliability": {"backoff_base": 0.05, "backoff_max": 0.2},
            "gateway": {"http": {"max_request_bytes": 100_000}},
            "servers": {
                "time": {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}
            },
        }
    )
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(running(cfg)) as (gw, url),
    ):
        yield gw, url


@_FAST
@given(body=_message(), headers=_HEADERS)
def test_fuzz_jsonrpc_entry_never_fails_the_gateway(
    gateway_url: tuple[Any, str], body: bytes, headers: dict[str, str]
) -> None:
    gw, url = gateway_url
    pid = gw.health()["time"].pid
    with httpx.Client(timeout=30) as http:
        r = http.post(url, content=body, headers=headers)
        assert r.status_code < 500, (r.status_code, r.text[:300])
        if r.headers.get("content-type", "").startswith("application/json") and r.content:
            r.json()  # whatever it says, it says it in JSON
    assert gw.health()["time"].pid == pid and gw.health()["time"].state == "healthy"


def test_after_the_fuzz_a_good_call_still_works(gateway_url: tuple[Any, str]) -> None:
    gw, url = gateway_url
    headers = {
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
        "mcp-name": "time__get_current_time",
    }
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "time__get_current_time", "arguments": {"timezone": "UTC"}, "_meta": _ENVELOPE},
    }
    with httpx.Client(timeout=30) as http:
        r = http.post(url, json=body, headers=headers)
    assert r.status_code == 200 and "UTC" in r.json()["result"]["content"][0]["text"]
    assert gw.health()["time"].restarts == 0
