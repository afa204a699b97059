"""`mcproute eval reasoning|outcomes`: metric definitions, output contract, plot, bad input."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcproute.cli import main
from mcproute.eval.outcomes import sweep, sweep_metrics
from mcproute.eval.plot import cost_quality_png
from mcproute.eval.reasoning import auc

REASONING = [
    {
        "id": "r1",
        "source": "t",
        "category": "math",
        "needs_reasoning": True,
        "prompt": "Solve for x step by step: 3x + 7 = 2(x - 4) + 19, then compute x^2 - 5.",
    },
    {
        "id": "r2",
        "source": "t",
        "category": "code",
        "needs_reasoning": True,
        "prompt": 'Complete the following Python function.\n\ndef f(xs: list[int]) -> int:\n    """>>> f([1, 2])\n    3\n    """\n',
    },
    {"id": "r3", "source": "t", "category": "tool", "needs_reasoning": False, "prompt": "What's the weather in Oslo?"},
    {"id": "r4", "source": "t", "category": "tool", "needs_reasoning": False, "prompt": "Play some jazz on Spotify."},
]


def _outcomes(n: int = 12) -> list[dict]:
    texts = [
        "What is the capital of France?\nA. Paris\nB. Rome\nC. Oslo\nD. Bern\nAnswer:",
        "Let p = (1, 2, 5, 4)(2, 3) in S_5. Find the index of <p> in S_5.\nA. 8\nB. 2\nC. 24\nD. 120\nAnswer:",
    ]
    return [
        {
            "id": f"o{i}",
            "source": "t",
            "category": "c",
            "turns": [texts[i % 2]],
            "outcomes": {"weak": [float(i % 2 == 0)], "strong": [1.0]},
            "models": {"weak": "w", "strong": "s"},
        }
        for i in range(n)
    ]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _last_json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_auc_by_ranks() -> None:
    assert auc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert auc([0.1, 0.2, 0.9, 0.8], [True, True, False, False]) == 0.0
    assert auc([0.5, 0.5, 0.5, 0.5], [True, False, True, False]) == 0.5
    assert auc([0.9, 0.3, 0.5], [True, False, True]) == 1.0
    assert auc([0.9, 0.5, 0.6], [True, False, True]) == 1.0
    assert auc([0.9, 0.7, 0.6, 0.2], [True, False, True, False]) == 0.75
    assert auc([0.1, 0.2], [True, True]) is None


def test_sweep_by_hand() -> None:
    # turn:     a    b    c    d   (b and c tie)
    scores = [0.9, 0.5, 0.5, 0.1]
    weak = [0.0, 1.0, 0.0, 1.0]
    strong = [1.0, 1.0, 1.0, 0.0]
    assert sweep(scores, weak, strong) == [(0.0, 0.5), (0.25, 0.75), (0.75, 1.0), (1.0, 0.75)]
    m = sweep_metrics(scores, weak, strong)
    assert m["weak"] == 0.5 and m["strong"] == 0.75
    # 95 % of 0.75 = 0.7125 is crossed on the first segment: 0.25 * (0.2125 / 0.25) = 0.2125
    assert m["strong_share_at_95"] == pytest.approx(0.2125)
    # PGR points 0, 1, 2, 1 at shares 0, .25, .75, 1 -> trapezoids .125 + .75 + .375
    assert m["apgr"] == pytest.approx(1.25)


def test_sweep_reference_points() -> None:
    weak = [float(i % 3 == 0) for i in range(300)]
    strong = [1.0] * 300
    same = sweep_metrics([0.0] * 300, weak, strong)  # one tie group = the random line
    assert same["apgr"] == pytest.approx(0.5)
    oracle = sweep_metrics([s - w for s, w in zip(strong, weak)], weak, strong)
    assert oracle["apgr"] > 0.5 and oracle["strong_share_at_95"] < same["strong_share_at_95"]
    assert sweep_metrics([1.0], [1.0], [1.0])["apgr"] is None  # no gap to recover
    assert sweep_metrics([], [], [])["apgr"] is None


def test_eval_reasoning_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _write(tmp_path / "r.jsonl", REASONING)
    scores = tmp_path / "scores.jsonl"
    assert main(["eval", "reasoning", "--data", str(data), "--json", "--scores-out", str(scores), "--no-progress"]) == 0
    res = _last_json(capsys)
    assert list(res) == ["n", "accuracy", "auc", "p50_ms", "p99_ms"]
    assert res["n"] == 4 and 0.0 <= res["accuracy"] <= 1.0
    rows = [json.loads(line) for line in scores.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["r1", "r2", "r3", "r4"] and all(r["turn"] == 0 for r in rows)
    # anyone can recompute the metric from the router's own output
    assert auc([r["score"] for r in rows], [it["needs_reasoning"] for it in REASONING]) == res["auc"]


def test_eval_outcomes_contract_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = _outcomes()
    data = _write(tmp_path / "o.jsonl", items)
    scores, png = tmp_path / "scores.jsonl", tmp_path / "curve.png"
    argv = [
        "eval",
        "outcomes",
        "--data",
        str(data),
        "--json",
        "--scores-out",
        str(scores),
        "--plot",
        str(png),
        "--no-progress",
    ]
    assert main(argv) == 0
    res = _last_json(capsys)
    assert list(res) == ["n_turns", "weak", "strong", "strong_share_at_95", "apgr", "p50_ms", "p99_ms"]
    assert res["n_turns"] == 12 and res["weak"] == 0.5 and res["strong"] == 1.0
    rows = [json.loads(line) for line in scores.read_text().splitlines()]
    again = sweep_metrics(
        [r["score"] for r in rows],
        [it["outcomes"]["weak"][0] for it in items],
        [it["outcomes"]["strong"][0] for it in items],
    )
    assert again["apgr"] == res["apgr"] and again["strong_share_at_95"] == res["strong_share_at_95"]
    w, h = _png_size(png.read_bytes())
    assert (w, h) == (720, 520)


def test_multi_turn_outcomes_score_every_turn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    item = {
        "id": "m",
        "turns": ["hi", "Now prove that sqrt(2) is irrational, step by step.", "thanks"],
        "outcomes": {"weak": [1, 0, 1], "strong": [1, 1, 1]},
    }
    data = _write(tmp_path / "m.jsonl", [item])
    scores = tmp_path / "s.jsonl"
    assert main(["eval", "outcomes", "--data", str(data), "--json", "--scores-out", str(scores), "--no-progress"]) == 0
    assert _last_json(capsys)["n_turns"] == 3
    assert [json.loads(x)["turn"] for x in scores.read_text().splitlines()] == [0, 1, 2]


def test_eval_reasoning_scores_a_conversation_turn_by_turn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each turn counts once and is scored as the engine scores a step: after a turn on the
    reasoning tier, the same follow-up scores higher than it does as a conversation's first turn."""
    hard = "Prove that the square root of 2 is irrational, step by step, and justify each step."
    follow = "why is step 3 valid?"
    items = [
        {"id": "c1", "turns": [hard, follow], "needs_reasoning": [True, True]},
        {"id": "c2", "turns": [follow], "needs_reasoning": [False]},
        {"id": "p1", "prompt": "What's the weather in Oslo?", "needs_reasoning": False},
    ]
    data = _write(tmp_path / "c.jsonl", items)
    scores = tmp_path / "s.jsonl"
    argv = ["eval", "reasoning", "--data", str(data), "--json", "--scores-out", str(scores), "--no-progress"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    res = json.loads(captured.out.strip().splitlines()[-1])
    assert res["n"] == 4
    rows = [json.loads(line) for line in scores.read_text().splitlines()]
    assert [(r["id"], r["turn"]) for r in rows] == [("c1", 0), ("c1", 1), ("c2", 0), ("p1", 0)]
    assert rows[1]["score"] > rows[2]["score"]  # the same text, after a reasoning turn
    assert "follow-up turns: auc" in captured.err  # the follow-ups' own figures, beside the JSON


@pytest.mark.parametrize(
    ("kind", "line", "needle"),
    [
        ("reasoning", '{"id": "x", "prompt": "p"', "not valid JSON"),
        ("reasoning", '{"id": "x", "prompt": "p"}', "missing key(s): needs_reasoning"),
        ("reasoning", '{"id": "x", "prompt": 3, "needs_reasoning": true}', "'prompt' must be a string"),
        (
            "reasoning",
            '{"id": "x", "turns": ["a", "b"], "needs_reasoning": [true]}',
            "true or false for each of the 2 turns",
        ),
        ("reasoning", '{"id": "x", "turns": "a", "needs_reasoning": [true]}', "'turns' must be a non-empty list"),
        ("outcomes", '{"id": "x", "turns": ["a"], "outcomes": {"weak": [1]}}', "'weak' and 'strong'"),
        (
            "outcomes",
            '{"id": "x", "turns": ["a", "b"], "outcomes": {"weak": [1], "strong": [1, 1]}}',
            "one number per turn",
        ),
        ("outcomes", '{"id": "x", "turns": [], "outcomes": {"weak": [], "strong": []}}', "non-empty list"),
    ],
)
def test_malformed_line_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, line: str, needle: str
) -> None:
    good = REASONING[0] if kind == "reasoning" else _outcomes(1)[0]
    data = tmp_path / "bad.jsonl"
    data.write_text(json.dumps(good) + "\n" + line + "\n")
    assert main(["eval", kind, "--data", str(data), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{data}:2:" in err and needle in err


def test_png_is_well_formed(tmp_path: Path) -> None:
    curve = [(0.0, 0.6), (0.3, 0.75), (1.0, 0.8)]
    blob = cost_quality_png(curve, 0.6, 0.8, baseline=[(0.0, 0.6), (1.0, 0.8)], width=300, height=200)
    assert _png_size(blob) == (300, 200)


def _png_size(blob: bytes) -> tuple[int, int]:
    """PNG signature, then a real decoder (matplotlib's) reads it and finds more than a blank page."""
    from matplotlib.image import imread

    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = imread(io.BytesIO(blob), format="png")
    h, w = pixels.shape[:2]
    assert len({tuple(p) for p in pixels.reshape(-1, pixels.shape[2])[::7]}) > 3  # something was drawn
    return w, h


def test_plot_without_matplotlib_says_how_to_install_before_evaluating(tmp_path: Path) -> None:
    """A child interpreter where `import matplotlib` fails, as on an install without the extra."""
    data = _write(tmp_path / "o.jsonl", _outcomes(4))
    png, scores = tmp_path / "c.png", tmp_path / "s.jsonl"
    code = (
        "import sys; sys.modules['matplotlib'] = None; from mcproute.cli import main; "
        f"sys.exit(main(['eval', 'outcomes', '--data', {str(data)!r}, '--plot', {str(png)!r}, "
        f"'--scores-out', {str(scores)!r}, '--no-progress']))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == ["error: --plot needs matplotlib: pip install 'mcproute[plot]'"]
    assert not png.exists() and not scores.exists()  # refused before any scoring or writing
    assert proc.stdout == ""


def test_unwritable_outputs_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _write(tmp_path / "o.jsonl", _outcomes(4))
    missing_dir = tmp_path / "no" / "such" / "dir"
    assert main(["eval", "outcomes", "--data", str(data), "--plot", str(missing_dir / "x.png"), "--no-progress"]) == 2
    assert f"cannot write {missing_dir / 'x.png'}" in capsys.readouterr().err
    rdata = _write(tmp_path / "r.jsonl", REASONING)
    assert (
        main(["eval", "reasoning", "--data", str(rdata), "--scores-out", str(missing_dir / "s"), "--no-progress"]) == 2
    )
    assert "cannot write" in capsys.readouterr().err


def test_empty_file_gives_nulls_not_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "empty.jsonl"
    data.write_text("")
    png = tmp_path / "c.png"
    assert main(["eval", "outcomes", "--data", str(data), "--json", "--plot", str(png), "--no-progress"]) == 0
    res = _last_json(capsys)
    assert res["n_turns"] == 0 and res["apgr"] is None and not png.exists()
    assert main(["eval", "reasoning", "--data", str(data), "--json", "--no-progress"]) == 0
    assert _last_json(capsys)["auc"] is None
