"""`mcproute eval tools` / `eval multiturn` on small files written here: keys, ranks-out, bad lines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mcproute.cli import main

TOOLS = [
    {"name": "get_weather", "description": "Current weather for a city.", "input_schema": {}},
    {"name": "math.factorial", "description": "Factorial of a number."},
    {"name": "send_email", "description": "Send an email message to someone."},
]


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def last_json(out: str) -> dict[str, object]:
    return json.loads(out.strip().splitlines()[-1])


def test_eval_tools_keys_metrics_and_ranks_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cat.json").write_text(json.dumps(TOOLS), encoding="utf-8")
    data = write_jsonl(
        tmp_path / "sel.jsonl",
        [
            {"id": "a", "source": "s", "query": "weather in Oslo", "catalog": "cat.json", "expected": ["get_weather"]},
            {"id": "b", "source": "s", "query": "factorial of 9", "tools": TOOLS, "expected": ["math.factorial"]},
            {
                "id": "c",
                "source": "s",
                "query": "send an email to Ann",
                "tools": TOOLS,
                "expected": ["send_email", "get_weather"],
            },
            {"id": "d", "source": "t", "query": "compose a haiku about rain", "tools": TOOLS[2:], "expected": []},
        ],
    )
    ranks = tmp_path / "ranks.jsonl"
    assert main(["eval", "tools", "--data", str(data), "--json", "--ranks-out", str(ranks)]) == 0
    res = last_json(capsys.readouterr().out)
    assert set(res) == {"n", "top1", "recall_at_5", "no_tool_accuracy", "p50_ms", "p99_ms"}
    assert res["n"] == 4 and res["top1"] == 1.0 and res["no_tool_accuracy"] == 1.0
    lines = [json.loads(x) for x in ranks.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["a", "b", "c", "d"]
    assert lines[0]["ranked"][0] == "get_weather" and lines[3]["no_tool"] is True
    # recall_at_5 recomputed from the router's own ranks
    assert res["recall_at_5"] == pytest.approx(
        sum(
            len({*e} & {*r["ranked"][:5]}) / min(len(e), 5)
            for e, r in zip((["get_weather"], ["math.factorial"], ["send_email", "get_weather"]), lines)
        )
        / 3,
        abs=1e-4,
    )
    assert main(["eval", "tools", "--data", str(data), "--json", "--filter", "t"]) == 0
    res = last_json(capsys.readouterr().out)
    assert res["n"] == 1 and res["top1"] is None and res["recall_at_5"] is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"id": "x", "query": "q"}), "missing key(s): expected"),
        (json.dumps({"id": "x", "query": "q", "expected": []}), "neither 'tools' nor 'catalog'"),
        (json.dumps({"id": "x", "query": "q", "expected": [], "catalog": "nope.json"}), "cannot read catalog"),
    ],
)
def test_eval_tools_names_the_bad_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    good = json.dumps({"id": "ok", "query": "weather", "tools": TOOLS, "expected": ["get_weather"]})
    data = tmp_path / "bad.jsonl"
    data.write_text(f"{good}\n{line}\n", encoding="utf-8")
    assert main(["eval", "tools", "--data", str(data), "--json"]) == 2
    err = capsys.readouterr().err
    assert f"{data}:2:" in err and message in err


def test_eval_multiturn_history_and_tools_added(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    classes = {
        "Files": [
            {"name": "cd", "description": "Change the current working directory."},
            {"name": "sort", "description": "Sort the lines of a file."},
            {"name": "grep", "description": "Search a file for lines matching a pattern."},
        ],
        "Mail": [{"name": "send_email", "description": "Send an email message."}],
    }
    (tmp_path / "mt.json").write_text(json.dumps(classes), encoding="utf-8")
    conv = {
        "id": "m1",
        "source": "s",
        "category": "c",
        "catalog": "mt.json",
        "tools": ["cd", "grep", "send_email"],
        "turns": [
            {"user": "go to the reports folder and grep for budget", "expected_tools": ["cd", "grep"]},
            {"user": "sort the report file lines", "expected_tools": []},
            {"user": None, "expected_tools": ["sort"], "tools_added": ["sort"]},
        ],
    }
    data = write_jsonl(tmp_path / "mt.jsonl", [conv])
    ranks = tmp_path / "r.jsonl"
    assert main(["eval", "multiturn", "--data", str(data), "--json", "--ranks-out", str(ranks)]) == 0
    res = last_json(capsys.readouterr().out)
    assert set(res) == {
        "n_turns",
        "recall_at_5",
        "recall_at_5_stateless",
        "top1",
        "top1_stateless",
        "no_tool_accuracy",
        "no_tool_accuracy_stateless",
        "n_no_tool_turns",
    }
    assert res["n_turns"] == 2 and res["n_no_tool_turns"] == 1  # the second turn expects no tool
    # the third turn has no text: only history can find `sort`, which exists only after tools_added
    assert res["recall_at_5"] == 1.0 and res["recall_at_5_stateless"] < 1.0
    rows = [json.loads(x) for x in ranks.read_text().splitlines()]
    assert [r["turn"] for r in rows] == [0, 1, 2] and rows[2]["ranked"][0] == "sort"
    # each line carries the decision, so top1 and no-tool accuracy can be recomputed from the file
    assert all(isinstance(r["no_tool"], bool) for r in rows)
    assert res["no_tool_accuracy"] == (1.0 if rows[1]["no_tool"] else 0.0)


def test_eval_multiturn_accepts_a_plain_list_catalogue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The evaldata README's catalogue format: [{name, description, input_schema}], servers optional.
    tools = [
        {
            "name": "cd",
            "description": "Change the current working directory.",
            "input_schema": {"type": "object"},
            "server": "files",
        },
        {
            "name": "grep",
            "description": "Search a file for lines matching a pattern.",
            "input_schema": {"type": "object"},
            "server": "files",
        },
        {"name": "send_email", "description": "Send an email message.", "input_schema": {"type": "object"}},
    ]
    (tmp_path / "plain.json").write_text(json.dumps(tools), encoding="utf-8")
    conv = {
        "id": "p1",
        "catalog": "plain.json",
        "tools": ["cd", "grep", "send_email"],
        "turns": [
            {"user": "search the log file for lines matching error", "expected_tools": ["grep"]},
            {"user": "now email that to Bob", "expected_tools": ["send_email"]},
        ],
    }
    data = write_jsonl(tmp_path / "plain.jsonl", [conv])
    ranks = tmp_path / "r.jsonl"
    assert main(["eval", "multiturn", "--data", str(data), "--json", "--ranks-out", str(ranks)]) == 0
    res = last_json(capsys.readouterr().out)
    assert res["n_turns"] == 2 and res["recall_at_5"] == 1.0
    rows = [json.loads(x) for x in ranks.read_text().splitlines()]
    assert rows[0]["ranked"][0] == "grep" and rows[1]["ranked"][0] == "send_email"

    # Neither shape: a clear error naming the catalogue.
    (tmp_path / "plain.json").write_text('"tools"', encoding="utf-8")
    assert main(["eval", "multiturn", "--data", str(data), "--json"]) == 2
    assert "plain.json" in capsys.readouterr().err
    (tmp_path / "plain.json").write_text('[{"description": "no name"}]', encoding="utf-8")
    assert main(["eval", "multiturn", "--data", str(data), "--json"]) == 2
    assert "tool 0 of 'plain' must be an object with a string 'name'" in capsys.readouterr().err


def test_eval_multiturn_ranks_with_the_encoder_and_caches_the_whole_catalogue(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    encoder,  # noqa: ANN001 - mcproute.encoding.Encoder
) -> None:
    from mcproute.encoding import default_cache_dir
    from mcproute.encoding.cache import ToolVectorCache
    from mcproute.encoding.texts import tool_text
    from mcproute.router.tools import specs_from_dicts

    # Descriptions unique to this run, so only this eval can have put them in the disk cache.
    tag = tmp_path.name
    classes = {
        "Weather": [{"name": "get_forecast", "description": f"Weather forecast for a location ({tag})."}],
        "Mail": [
            {"name": "send_email", "description": f"Send an email message ({tag})."},
            {"name": "archive_email", "description": f"Move an email to the archive ({tag})."},
        ],
    }
    (tmp_path / "mt.json").write_text(json.dumps(classes), encoding="utf-8")
    conv = {
        "id": "e1",
        "catalog": "mt.json",
        "tools": ["get_forecast", "send_email"],
        "turns": [
            {"user": "will I need an umbrella in Paris tomorrow?", "expected_tools": ["get_forecast"]},
            {"user": "mail that to Ana", "expected_tools": ["send_email"]},
        ],
    }
    data = write_jsonl(tmp_path / "mt.jsonl", [conv])
    assert main(["eval", "multiturn", "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^encoder +{re.escape(encoder.model_id)}$", out, re.M) and re.search(
        r"^recall_at_5 +1\.0+$", out, re.M
    )
    # The whole catalogue went through the disk cache, archive_email (never available) included.
    specs = [s for cls, tools in classes.items() for s in specs_from_dicts(tools, server=cls)]
    again = ToolVectorCache(default_cache_dir() / "tool-vectors.sqlite3").vectors(
        encoder, [tool_text(s) for s in specs]
    )
    assert again.encoded == 0

    assert main(["eval", "multiturn", "--data", str(data), "--no-encoder"]) == 0
    assert re.search(r"^encoder +off$", capsys.readouterr().out, re.M)


def test_eval_tools_add_catalog_ranks_every_item_next_to_more_tools(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--add-catalog: the same requests next to another server's tools (once each, the item's own
    first); a file that cannot be read is named."""
    (tmp_path / "cat.json").write_text(json.dumps(TOOLS[:1]), encoding="utf-8")
    more = tmp_path / "more.json"
    more.write_text(json.dumps([*TOOLS[1:], TOOLS[0]]), encoding="utf-8")
    data = write_jsonl(
        tmp_path / "sel.jsonl",
        [
            {"id": "a", "source": "s", "query": "weather in Oslo", "catalog": "cat.json", "expected": ["get_weather"]},
            {"id": "b", "source": "s", "query": "factorial of 9", "tools": TOOLS[:1], "expected": ["math.factorial"]},
        ],
    )
    ranks = tmp_path / "ranks.jsonl"
    args = ["eval", "tools", "--data", str(data), "--json", "--no-encoder", "--ranks-out", str(ranks)]
    assert main([*args, "--add-catalog", str(more)]) == 0
    res = last_json(capsys.readouterr().out)
    lines = [json.loads(x) for x in ranks.read_text().splitlines()]
    assert res["top1"] == 1.0 and lines[1]["ranked"][0] == "math.factorial"
    assert all(r["ranked"].count("get_weather") <= 1 for r in lines)
    assert main([*args, "--add-catalog", str(tmp_path / "nope.json")]) == 2
    assert "nope.json" in capsys.readouterr().err
