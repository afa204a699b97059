"""Every `mcproute eval` kind prints in one form: a title naming the kind and the data, a
FIGURE/VALUE table whose names are the `--json` keys, then context; with `--json` stdout is the
JSON object alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcproute.cli import main
from test_eval_tiers import REASONING, _outcomes
from test_eval_tools import TOOLS, write_jsonl

MULTITURN = {
    "id": "m1",
    "source": "s",
    "catalog": "mt.json",
    "tools": ["get_weather", "send_email"],
    "turns": [
        {"user": "weather in Oslo", "expected_tools": ["get_weather"]},
        {"user": "mail it to Ann", "expected_tools": ["send_email"]},
    ],
}


def _data(kind: str, tmp: Path) -> Path:
    if kind == "tools":
        return write_jsonl(
            tmp / "t.jsonl",
            [{"id": "a", "source": "s", "query": "weather in Oslo", "tools": TOOLS, "expected": ["get_weather"]}],
        )
    if kind == "multiturn":
        (tmp / "mt.json").write_text(json.dumps(TOOLS), encoding="utf-8")
        return write_jsonl(tmp / "m.jsonl", [MULTITURN])
    if kind == "reasoning":
        return write_jsonl(tmp / "r.jsonl", REASONING)
    return write_jsonl(tmp / "o.jsonl", _outcomes())


def _figures(out: str) -> dict[str, str]:
    lines = out.splitlines()
    assert lines[1].split() == ["FIGURE", "VALUE"], out
    figures = {}
    for line in lines[2:]:
        if not line.strip():
            break
        name, value = line.split(None, 1)
        figures[name] = value
    return figures


@pytest.mark.parametrize("kind", ["tools", "multiturn", "reasoning", "outcomes"])
def test_eval_kinds_print_one_form(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _data(kind, tmp_path)
    argv = ["eval", kind, "--data", str(data), "--no-progress", "--no-encoder"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"eval {kind}: {data}"
    assert "\x1b[" not in out
    shown = _figures(out)
    assert main([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    (line,) = captured.out.splitlines()  # stdout: the JSON object alone
    res = json.loads(line)
    assert list(shown) == list(res)  # same figures, same names, same order
    for k, v in res.items():
        if k.endswith("_ms"):  # timings differ from run to run
            continue
        if isinstance(v, float):
            assert shown[k] == f"{v:.4f}"
        elif v is None:
            assert shown[k] == "n/a"
        else:
            assert shown[k] == str(v)
    assert captured.err.splitlines()[0] == f"eval {kind}: {data}"  # the human report moved to stderr
