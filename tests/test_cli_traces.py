"""`mcproute traces` over what a real run recorded: the example agent loop writes traces through a
real gateway; the story view tells each step, `--json` carries every decision field, and the
traces are found from where a user stands."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mcproute.cli import main as cli_main
from mcproute.telemetry import reader, semconv as sc

REPO = Path(__file__).resolve().parents[1]
# Route-span attribute -> the field of a `--json` timeline row that carries it.
FIELDS = {
    sc.DECISION_TOOL: "tool",
    sc.DECISION_TOOL_SCORE: "tool_score",
    sc.DECISION_TIER: "tier",
    sc.DECISION_MODEL: "model",
    sc.DECISION_ALTERNATIVES: "alternatives",
    sc.DECISION_MODEL_ALTERNATIVES: "model_alternatives",
    sc.DECISION_SIGNALS: "signals",
    sc.DECISION_REASON: "reason",
    sc.DECISION_THRESHOLD: "threshold",
    sc.DECISION_REASONING_SCORE: "reasoning_score",
    sc.DECISION_LATENCY_MS: "decision_latency_ms",
    sc.DECISION_SOURCE: "source",
    sc.POLICY_VERSION: "policy_version",
    sc.STICKY_HELD: "sticky_held",
    sc.STICKY_REASON: "sticky_reason",
    sc.STEP_ID: "step",
    sc.DEPLOYMENT: "deployment",
    sc.STEP_TEXT: "text",
    sc.COST_USD: "cost_usd",
}


@pytest.fixture(scope="module")
def example_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """The README's agent loop, offline, writing into a fresh data dir: (data dir, conversation, its hint).
    Over HTTP: the gateway stops cleanly and flushes its traces (a stdio client ends it after 2 s)."""
    data = tmp_path_factory.mktemp("example-data")
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "agents" / "react_loop.py"),
            "--offline",
            "--http",
            "--data-dir",
            str(data),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    hint = re.search(r"^decisions: (mcproute traces .*)$", out.stdout, re.M)
    assert hint, out.stdout
    cid = hint.group(1).split("--conversation ")[1].strip()
    return data, cid, hint.group(1)


def test_the_command_the_example_prints_works(
    example_run: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    data, cid, hint = example_run
    argv = hint.split()[1:]
    assert argv[:3] == ["traces", "--data-dir", str(data)]
    assert cli_main(argv) == 0
    assert f"conversation {cid}" in capsys.readouterr().out


def test_story_tells_each_step(example_run: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    data, cid, _ = example_run
    rows = reader.timeline(reader.read_jsonl(data / "traces.jsonl"), cid)
    assert len(rows) >= 3
    assert cli_main(["traces", "--data-dir", str(data), "--conversation", cid]) == 0
    out = capsys.readouterr().out
    assert "\x1b[" not in out
    assert f"{len(rows)} steps" in out
    blocks = out.split("\nStep ")[1:]
    assert len(blocks) == len(rows)
    for block, row in zip(blocks, rows, strict=True):
        labels = [line.split()[0] for line in block.splitlines()[1:] if line.strip()]
        # In the order a story is read: the ask, the tool, the tier, why, stickiness, the outcome.
        assert labels == ["asked", "tool", "model", "why", "sticky", "outcome"], block
        assert row.text and row.text in block  # the request text, whole
        assert row.reason in block and row.sticky_reason in block  # the sentences, uncut
        if row.tool:
            assert f"tool     {row.tool} (score" in block and "also considered" in block
        assert f"{row.tier} tier: reasoning score" in block and "threshold" in block


def test_json_has_every_decision_field_the_span_carries(
    example_run: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    data, cid, _ = example_run
    spans = reader.read_jsonl(data / "traces.jsonl")
    routes = sorted(
        (s for s in spans if s.name == sc.ROUTE_SPAN_NAME and s.conversation_id == cid), key=lambda s: s.start_ns
    )
    assert cli_main(["traces", "--data-dir", str(data), "--conversation", cid, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(routes)
    for span, row in zip(routes, rows, strict=True):
        carried = {
            k
            for k in span.attributes
            if k.startswith(("mcproute.decision.", "mcproute.sticky.", "mcproute.policy.", "mcproute.step."))
        }
        assert carried - set(FIELDS) <= {"mcproute.step.recorded"}, carried - set(
            FIELDS
        )  # a new attribute needs a field
        for attr in carried & set(FIELDS):
            assert row[FIELDS[attr]] not in (None, "", [], {}), (attr, row)
        assert row["alternatives"][0][0] == row["tool"] or row["tool"] is None


def test_traces_found_from_the_checkout_root_and_the_places_it_looked(
    example_run: tuple[Path, str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data, cid, _ = example_run
    monkeypatch.chdir(tmp_path)
    # Nothing here yet: the error lists every place it looked, the examples' folder among them.
    assert cli_main(["traces", "--conversation", "no-such-conversation-anywhere"]) == 1
    err = capsys.readouterr().err
    assert "no-such-conversation-anywhere" in err or "looked at" in err
    if "looked at" in err:
        assert str(tmp_path / "examples" / "agents" / ".mcproute" / "traces.jsonl") in err
    # Where the examples write by default, seen from a checkout's root with no servers.yaml.
    target = tmp_path / "examples" / "agents" / ".mcproute"
    target.mkdir(parents=True)
    shutil.copy(data / "traces.jsonl", target / "traces.jsonl")
    assert cli_main(["traces"]) == 0
    assert cid in capsys.readouterr().out
    assert cli_main(["traces", "--conversation", cid]) == 0
    assert str(target / "traces.jsonl") in capsys.readouterr().out


def test_a_missing_config_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["traces", "--config", str(tmp_path / "nope.yaml")]) == 1
    assert f"no config file at {tmp_path / 'nope.yaml'}" in capsys.readouterr().err
