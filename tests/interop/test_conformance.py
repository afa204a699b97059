"""The official MCP server conformance suite (`@modelcontextprotocol/conformance server --suite
all`) against the conformance fixture directly, and against `mcproute serve --transport http`
fronting the same fixture (single downstream, `gateway.prefix_tools: false`, so the suite's fixed
tool names and URIs are the downstream's own).

Rule: every scenario that passes directly must pass through the gateway. Known gateway gaps are
listed, each with its reason, in `conformance-baseline.yml` (the suite's own expected-failures
idea): a failure not in the baseline fails the test, and so does a baseline entry that now passes
(the fix must delete it), so the baseline can only shrink.

The pass counts of every run are printed in pytest's terminal summary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .support import FIXTURE, ConformanceReport, Peers, Proc, run_conformance

BASELINE = Path(__file__).with_name("conformance-baseline.yml")

# How the gateway reaches the fixture: transport x downstream era negotiation (`mode`).
DOWNSTREAMS = ["stdio-auto", "stdio-legacy", "http-auto"]


def _baseline(variant: str) -> dict[str, str]:
    data: dict[str, Any] = yaml.safe_load(BASELINE.read_text()) or {}
    merged: dict[str, str] = dict(data.get("all") or {})
    merged.update(data.get(variant) or {})
    return merged


@pytest.fixture(scope="module")
def direct(
    peers: Peers, fixture_http: Proc, interop_tmp: Path, record_conformance: Callable[[str, ConformanceReport], None]
) -> ConformanceReport:
    assert fixture_http.url is not None
    report = run_conformance(peers, fixture_http.url, interop_tmp / "conformance-direct")
    record_conformance("fixture directly", report)
    return report


def test_fixture_passes_every_scenario_directly(direct: ConformanceReport) -> None:
    # The fixture is the yardstick: if it fails a scenario directly, that scenario proves nothing
    # about the gateway, so the fixture itself must be fully conformant.
    assert not direct.failed(), {s: direct.why(s) for s in sorted(direct.failed())}


@pytest.fixture(scope="module")
def gateway_for(
    fixture_http: Proc, write_config: Callable[..., Path], mcproute_http: Callable[..., Proc]
) -> Iterator[Callable[[str], Proc]]:
    def start(variant: str) -> Proc:
        transport, mode = variant.split("-")
        entry: dict[str, Any] = (
            {"command": "python", "args": [str(FIXTURE)]} if transport == "stdio" else {"url": fixture_http.url}
        )
        entry["mode"] = mode
        return mcproute_http(write_config({"fixture": entry}, prefix_tools=False))

    yield start


@pytest.mark.parametrize("variant", DOWNSTREAMS)
def test_every_direct_pass_also_passes_through_the_gateway(
    variant: str,
    direct: ConformanceReport,
    gateway_for: Callable[[str], Proc],
    peers: Peers,
    interop_tmp: Path,
    record_conformance: Callable[[str, ConformanceReport], None],
) -> None:
    gateway = gateway_for(variant)
    assert gateway.url is not None
    report = run_conformance(peers, gateway.url, interop_tmp / f"conformance-gateway-{variant}")
    gateway.stop()  # free the ports and processes before the next variant starts
    record_conformance(f"through mcproute ({variant} downstream)", report)

    expected_failures = _baseline(variant)
    assert set(report.scenarios) == set(direct.scenarios), "the suite ran different scenarios through the gateway"
    regressions = {s: report.why(s) for s in sorted((direct.passed() & report.failed()) - set(expected_failures))}
    stale = sorted(set(expected_failures) & report.passed())
    assert not regressions, (
        f"scenarios that pass directly but fail through mcproute ({variant}):\n"
        + "\n".join(f"  {s}: {why}" for s, why in regressions.items())
        + f"\n--- gateway log ---\n{''.join(gateway.err)[-4000:]}"
    )
    assert not stale, f"now passing through mcproute ({variant}); delete from {BASELINE.name}: {stale}"
