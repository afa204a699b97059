"""`mcproute eval outcomes|tools --online`: the streamed comparison's contract on small data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcproute.cli import main

EVERYDAY = Path(__file__).parent / "data" / "everyday_dev.jsonl"
PROMPTS = [
    "What is the capital of France?\nA. Paris\nB. Rome\nC. Oslo\nD. Bern\nAnswer:",
    "Let p = (1, 2, 5, 4)(2, 3) in S_5. Find the index of <p> in S_5.\nA. 8\nB. 2\nC. 24\nD. 120\nAnswer:",
    "Which gas do plants absorb for photosynthesis?\nA. Oxygen\nB. Carbon dioxide\nC. Helium\nD. Neon\nAnswer:",
    "Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.\nA. 0\nB. 1\nC. 2\nD. 3\nAnswer:",
]


def _outcomes(tmp_path: Path) -> Path:
    rows = [
        {
            "id": f"o{i}",
            "source": "alpha" if i % 3 else "beta",
            "category": "c",
            "turns": [PROMPTS[i % 4] + f" (variant {i})"],
            "outcomes": {"weak": [float(i % 4 in (0, 2))], "strong": [1.0]},
        }
        for i in range(40)
    ]
    path = tmp_path / "outcomes.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_outcomes_online_reports_both_policies_on_one_stream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(_outcomes(tmp_path))
    static = _json(capsys, ["eval", "outcomes", "--data", data, "--no-progress", "--json"])
    base = ["eval", "outcomes", "--data", data, "--no-progress", "--json", "--online"]
    got = _json(capsys, [*base, "--reveal", "0.5", "--seed", "3"])
    # The sweep does not depend on order, so the static half is exactly `eval outcomes`.
    assert got["static_strong_share_at_95"] == pytest.approx(static["strong_share_at_95"])
    assert got["static_apgr"] == pytest.approx(static["apgr"])
    assert set(got["by_source"]) == {"alpha", "beta"}
    assert sum(s["n_turns"] for s in got["by_source"].values()) == got["n_turns"] == 40
    assert 0 < got["revealed_items"] < 40 and (got["reveal"], got["seed"]) == (0.5, 3)
    again = _json(capsys, [*base, "--reveal", "0.5", "--seed", "3"])
    timing = ("p50_ms", "p99_ms")
    assert {k: v for k, v in again.items() if k not in timing} == {k: v for k, v in got.items() if k not in timing}
    # Nothing revealed: nothing learned, the online policy is the static one.
    none = _json(capsys, [*base, "--reveal", "0"])
    assert none["revealed_items"] == 0
    assert none["strong_share_at_95"] == none["static_strong_share_at_95"]


def test_tools_online_matches_static_without_reveals(capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data", str(EVERYDAY), "--limit", "60", "--no-progress", "--json"]
    static = _json(capsys, ["eval", "tools", *data])
    got = _json(capsys, ["eval", "tools", *data, "--online", "--reveal", "0"])
    assert got["static_top1"] == static["top1"] == got["top1"]

    full = _json(capsys, ["eval", "tools", *data, "--online"])
    assert full["reveal"] == 1.0 and full["revealed_items"] > 0 and full["static_top1"] == static["top1"]


def test_tools_online_scores_the_requests_that_need_no_tool(capsys: pytest.CaptureFixture[str]) -> None:
    """Both policies are scored on them too: a learner that overrules "no tool fits" pays there."""
    data = ["--data", str(EVERYDAY.parent / "everyday_notool_dev3.jsonl"), "--no-progress", "--json"]
    static = _json(capsys, ["eval", "tools", *data])
    got = _json(capsys, ["eval", "tools", *data, "--online"])
    assert static["no_tool_accuracy"] is not None
    assert got["static_no_tool_accuracy"] == static["no_tool_accuracy"]
    assert 0.0 <= got["no_tool_accuracy"] <= 1.0
    # ... and revealed like the others (the model answered without a tool): they move the trust.
    n = sum(1 for line in (EVERYDAY.parent / "everyday_notool_dev3.jsonl").read_text().splitlines() if line.strip())
    assert got["revealed_items"] == n
    assert 0.0 < got["no_tool_trust"] <= 0.6


@pytest.mark.parametrize(
    ("kind", "extra", "needle"),
    [
        ("outcomes", ["--reveal", "1.5"], "--reveal must be within [0, 1]"),
        ("outcomes", ["--no-encoder"], "needs the sentence encoder"),
        ("tools", ["--no-encoder"], "needs the sentence encoder"),
    ],
)
def test_online_refuses_what_it_cannot_do(
    kind: str, extra: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(_outcomes(tmp_path)) if kind == "outcomes" else str(EVERYDAY)
    assert main(["eval", kind, "--data", data, "--no-progress", "--online", *extra]) == 2
    assert needle in capsys.readouterr().err
