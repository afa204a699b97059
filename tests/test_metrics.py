"""Metrics (issue 15, item 7): `mcproute serve --transport http` with `telemetry.metrics.prometheus`
on, real tool calls and run_step calls over MCP, then `GET /metrics` scraped over loopback and parsed
with prometheus_client's own text-format parser. The Grafana dashboard may only query what it serves.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from mcproute.config import TelemetryConfig
from mcproute.telemetry.setup import setup
from runtime_support import EASY, config_dict, serve_http

DASHBOARD = Path(__file__).parent.parent / "docs" / "grafana" / "mcproute.json"
STEPS = 3
DIRECT_CALLS = 2


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens here any more: connections are refused
    return port


@dataclass(frozen=True)
class Scrape:
    text: str
    families: dict[str, Any]
    steps: list[dict[str, Any]]
    tool_names: list[str]

    def samples(self, name: str, **labels: str) -> list[Sample]:
        return [
            s
            for f in self.families.values()
            for s in f.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    def total(self, name: str, **labels: str) -> float:
        return sum(s.value for s in self.samples(name, **labels))


async def _run(tmp_path: Path) -> Scrape:
    cfg = config_dict(tmp_path / "data", backend="memory")
    # A fast model nobody answers for (cheapest, so tried first): its circuit opens after two failures
    # and the scripted model answers instead; the gauge must show it open.
    cfg["models"]["broken"] = {
        "tier": "fast",
        "provider": "openai",
        "model": "gpt-down",
        "api_key": "sk-test-not-real",
        "base_url": f"http://127.0.0.1:{_closed_port()}/v1",
        "price": {"input": 0.01, "output": 0.01},
    }
    cfg["reliability"].update({"breaker_failures": 2, "breaker_cooldown": 600})
    cfg["telemetry"]["metrics"] = {"prometheus": True}
    cfg["cache"] = {"enabled": False}  # every step must reach the models (a repeat would be a cache hit)
    path = tmp_path / "servers.yaml"
    path.write_text(json.dumps(cfg))
    async with serve_http(path) as (_, url), Client(url, mode="legacy") as client:
        steps = []
        for i in range(STEPS):
            result = await client.call_tool("mcproute__run_step", {"text": EASY, "conversation_id": f"m{i}"})
            assert not result.is_error, result.content
            assert result.structured_content is not None
            steps.append(dict(result.structured_content))
        listed = [t.name for t in (await client.list_tools()).tools]
        for _ in range(DIRECT_CALLS):
            result = await client.call_tool("time__get_current_time", {"timezone": "UTC"})
            assert not result.is_error, result.content
        async with httpx.AsyncClient() as http:
            reply = await http.get(url.removesuffix("/mcp") + "/metrics")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(reply.text)}
    return Scrape(reply.text, families, steps, listed)


@pytest.fixture(scope="module")
def scrape(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scrape]:
    yield anyio.run(_run, tmp_path_factory.mktemp("metrics"))


def test_tool_calls_are_counted_by_server(scrape: Scrape) -> None:
    assert "time__get_current_time" in scrape.tool_names
    engine_calls = sum(1 for s in scrape.steps if s.get("tool"))
    assert engine_calls >= 1, scrape.steps  # the scripted model calls the first offered tool
    count = scrape.total(
        "mcp_client_operation_duration_seconds_count", mcproute_server="time", mcp_method_name="tools/call"
    )
    assert count == engine_calls + DIRECT_CALLS
    direct = scrape.total("mcp_client_operation_duration_seconds_count", gen_ai_tool_name="time__get_current_time")
    assert direct >= DIRECT_CALLS
    assert scrape.total("mcp_client_operation_duration_seconds_sum", mcproute_server="time") > 0
    assert scrape.families["mcp_client_operation_duration_seconds"].type == "histogram"


def test_decisions_are_counted_by_tier_and_model(scrape: Scrape) -> None:
    decisions = scrape.samples("mcproute_decisions_total")
    assert sum(s.value for s in decisions) == STEPS
    by_key = {
        (s.labels["mcproute_decision_tier"], s.labels["mcproute_decision_model"], s.labels["mcproute_decision_kind"])
        for s in decisions
    }
    # The counter holds the router's choice; a step's result reports the model that answered (the
    # broken one's fallback), so compare per tier, and models against the configured ones.
    for tier in {s["tier"] for s in scrape.steps}:
        counted = sum(s.value for s in decisions if s.labels["mcproute_decision_tier"] == tier)
        assert counted == sum(1 for s in scrape.steps if s["decision"]["tier"] == tier)
    assert {m for _, m, _ in by_key} <= {"quick", "broken", "deep"}
    assert any(m == "broken" for _, m, _ in by_key)  # the cheapest fast model was decided first
    assert {k for _, _, k in by_key} <= {"sticky", "scored", "cascade", "no_model"}
    assert scrape.total("mcproute_decision_duration_seconds_count") == STEPS


def test_provider_attempts_tokens_and_cost(scrape: Scrape) -> None:
    ok = scrape.total(
        "gen_ai_client_operation_duration_seconds_count", gen_ai_request_model="quick", gen_ai_operation_name="chat"
    )
    failed = [
        s
        for s in scrape.samples("gen_ai_client_operation_duration_seconds_count", gen_ai_request_model="gpt-down")
        if s.labels.get("error_type")
    ]
    assert ok == sum(1 for s in scrape.steps if s["model"] == "quick")
    assert failed and sum(s.value for s in failed) >= 2  # the broken deployment failed before its circuit opened
    tokens = scrape.samples("gen_ai_client_token_usage_sum", gen_ai_request_model="quick")
    assert {s.labels["gen_ai_token_type"] for s in tokens} == {"input", "output"}
    assert all(s.value > 0 for s in tokens)
    cost = scrape.total("mcproute_cost_usd_total")
    assert cost == pytest.approx(sum(s["cost_usd"] for s in scrape.steps), rel=1e-4, abs=1e-8)
    assert cost > 0


def test_breaker_and_server_health_gauges(scrape: Scrape) -> None:
    (broken,) = scrape.samples("mcproute_circuit_state", mcproute_deployment="broken#0")
    assert broken.value == 2  # open
    (quick,) = scrape.samples("mcproute_circuit_state", mcproute_deployment="quick#0")
    assert quick.value == 0  # closed
    (time_server,) = scrape.samples("mcproute_server_healthy", mcproute_server="time")
    assert time_server.value == 1


# ------------------------------------------------------------------ the dashboard

_PROMQL_WORDS = frozenset(
    {
        "sum",
        "rate",
        "irate",
        "increase",
        "histogram_quantile",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "avg",
        "max",
        "min",
        "count",
        "topk",
        "bottomk",
        "clamp_min",
        "clamp_max",
        "and",
        "or",
        "unless",
        "offset",
        "bool",
        "le",
        "delta",
        "deriv",
        "abs",
        "vector",
        "scalar",
        "time",
        "avg_over_time",
        "max_over_time",
        "min_over_time",
        "last_over_time",
        "sum_over_time",
        "label_replace",
        "sort",
        "sort_desc",
    }
)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers outside label matchers, strings,
    grouping clauses and range/duration brackets that are not function names or keywords."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\$\w+|\$\{[^}]*\}", "", text)  # Grafana variables
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = m.group(0)
        after = text[m.end() :].lstrip()
        if word in _PROMQL_WORDS or after.startswith("("):
            continue
        if (
            re.fullmatch(r"\d+[smhdwy]", word)
            or m.start() > 0
            and (text[m.start() - 1].isdigit() or text[m.start() - 1] == ".")
        ):
            continue
        names.add(word)
    return names


def test_metric_names_parser() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, gen_ai_request_model) "
        '(rate(gen_ai_client_operation_duration_seconds_bucket{error_type="",job=~"$job"}[5m])))'
    )
    assert metric_names(expr) == {"gen_ai_client_operation_duration_seconds_bucket"}
    assert metric_names("sum(mcproute_cost_usd_total) / 2") == {"mcproute_cost_usd_total"}
    assert metric_names("up == 1 or absent(nothing_here)") == {"up", "nothing_here"}


def _panels(node: Any) -> Iterator[dict[str, Any]]:
    for panel in node.get("panels", []):
        yield panel
        yield from _panels(panel)  # rows nest panels


def test_every_dashboard_query_names_an_exported_metric(scrape: Scrape) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exported = {s.name for f in scrape.families.values() for s in f.samples}
    queried: set[str] = set()
    panels = list(_panels(dashboard))
    assert len(panels) >= 6
    for panel in panels:
        for target in panel.get("targets", []):
            names = metric_names(target["expr"])
            assert names, f"panel {panel['title']!r}: no metric in {target['expr']!r}"
            missing = names - exported
            assert not missing, f"panel {panel['title']!r} queries {sorted(missing)}, which /metrics does not export"
            queried |= names
    # Every mcproute family is on the dashboard somewhere (target_info is metadata).
    families = {f.name for f in scrape.families.values() if f.name != "target_info"}
    shown = {f for f in families if any(q == f or q.startswith(f + "_") for q in queried)}
    assert shown == families, f"not on the dashboard: {sorted(families - shown)}"


def test_metrics_endpoint_is_off_by_default() -> None:
    from mcproute.cli.serve import _metrics_routes

    with setup(TelemetryConfig.model_validate({"exporter": "none"})) as handle:
        assert handle.prometheus_text() is None
        assert _metrics_routes(handle) == []
    with setup(TelemetryConfig.model_validate({"exporter": "none", "metrics": {"prometheus": True}})) as handle:
        assert [r.path for r in _metrics_routes(handle)] == ["/metrics"]  # type: ignore[attr-defined]


# ------------------------------------------------------------------ OTLP


@pytest.mark.anyio
async def test_metrics_go_over_otlp_with_the_traces(tmp_path: Path) -> None:
    from otlp_receiver import otlp_receiver

    cfg = config_dict(tmp_path / "data", backend="memory")
    with otlp_receiver() as rx:
        cfg["telemetry"] = {
            "exporter": "otlp",
            "endpoint": rx.url,
            "service_name": "mcproute-metrics",
            "metrics": {"export_interval": 0.2},
        }
        path = tmp_path / "servers.yaml"
        path.write_text(json.dumps(cfg))
        async with serve_http(path) as (_, url), Client(url, mode="legacy") as client:
            result = await client.call_tool("mcproute__run_step", {"text": EASY, "conversation_id": "otlp"})
            assert not result.is_error, result.content
            want = {
                "mcproute.decisions",
                "gen_ai.client.operation.duration",
                "mcp.client.operation.duration",
                "mcproute.server.healthy",
            }
            with anyio.fail_after(20):
                while not want <= {name for _, name, _, _ in rx.metrics}:
                    await anyio.sleep(0.1)
        points = list(rx.metrics)
    assert {service for service, _, _, _ in points} == {"mcproute-metrics"}
    decisions = [v for _, name, attrs, v in points if name == "mcproute.decisions"]
    assert decisions and max(decisions) == 1  # cumulative: one step so far, in every export
    healthy = [(attrs, v) for _, name, attrs, v in points if name == "mcproute.server.healthy"]
    assert ({"mcproute.server": "time"}, 1.0) in healthy


@pytest.mark.anyio
async def test_gauges_are_there_before_any_call(tmp_path: Path) -> None:
    cfg = config_dict(tmp_path / "data", backend="memory")
    cfg["telemetry"]["metrics"] = {"prometheus": True}
    path = tmp_path / "servers.yaml"
    path.write_text(json.dumps(cfg))
    async with serve_http(path) as (_, url), httpx.AsyncClient() as http:
        reply = await http.get(url.removesuffix("/mcp") + "/metrics")
    assert reply.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(reply.text)}
    (healthy,) = families["mcproute_server_healthy"].samples
    assert healthy.labels["mcproute_server"] == "time" and healthy.value == 1
    circuits = {s.labels["mcproute_deployment"]: s.value for s in families["mcproute_circuit_state"].samples}
    assert circuits == {"quick#0": 0, "deep#0": 0}
    assert "mcproute_decisions" not in families  # nothing decided yet: no series invented
