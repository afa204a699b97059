"""Every example in examples/agents runs, offline, as a user would run it, and says what it should.

Each example starts its own `mcproute serve` (stdio or HTTP) with examples/agents/offline.yaml
(scripted models, real mcp-server-time / mcp-server-git). The registration snippets for desktop
clients are parsed and the command each one names is started and spoken to over MCP.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

REPO = Path(__file__).resolve().parent.parent
AGENTS = REPO / "examples" / "agents"
CLIENTS = AGENTS / "clients"
KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")


def example_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["MCPROUTE_DATA_DIR"] = str(data_dir)
    env["PYTHONWARNINGS"] = "ignore"  # pytest's warnings-as-errors is for this process, not the examples
    return env


def run_example(name: str, *args: str, data_dir: Path, offline: bool = True) -> str:
    cmd = [sys.executable, str(AGENTS / name), *(["--offline"] if offline else []), *args]
    done = subprocess.run(cmd, cwd=REPO, env=example_env(data_dir), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{name} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


def steps(out: str) -> list[dict[str, str]]:
    """react_loop's output, one dict per step: the text, the tool line, the model line."""
    found = []
    for block in re.split(r"^step \d+: ", out, flags=re.M)[1:]:
        lines = block.splitlines()
        fields = {"text": lines[0]}
        for line in lines[1:]:
            m = re.match(r"\s+(\w+):\s+(.*)", line)
            if m:
                fields[m.group(1)] = m.group(2)
        found.append(fields)
    return found


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_react_loop_prints_each_steps_tool_and_model(tmp_path: Path, transport: str) -> None:
    out = run_example("react_loop.py", *(["--http"] if transport == "http" else []), data_dir=tmp_path)
    assert ("over stdio" if transport == "stdio" else "over streamable HTTP at http://127.0.0.1:") in out
    got = steps(out)
    assert len(got) == 5 and all("tool" in s and "model" in s for s in got)
    assert got[0]["tool"].startswith("time__get_current_time") and '"Asia/Tokyo"' in got[0]["tool"]
    assert got[0]["model"].startswith("deep (reasoning)")
    assert got[1]["tool"].startswith("time__convert_time") and got[1]["model"] == "deep (reasoning), sticky held"
    # Every reason is true: run_step executes each tool call and returns its result, so no step is
    # held by a call "awaiting its result"; once step 3 is on git, step 4 has not "left time's tools".
    assert not any("awaiting" in s["sticky"] or "awaiting" in s["why"] for s in got)
    assert (
        "left time's tools" in got[2]["sticky"]
        and "left" not in got[3]["sticky"]
        and "kept git's tools first" in got[3]["sticky"]
    )
    for s in got:  # a tier the score alone would not pick names what held it
        tier, below = s["model"].split("(")[1].split(")")[0], "< threshold" in s["why"]
        assert (tier == "fast") == below or "(kept reasoning:" in s["why"], s
    assert got[4]["model"].startswith("quick (fast)")  # the tool-calling loop stepped down (step_down_after: 2)
    assert got[2]["tool"].startswith("git__git_log") and "Commit history" in got[2]["result"]
    assert got[3]["tool"].startswith("git__git_status") and "Repository status" in got[3]["result"]
    assert got[4]["tool"] == "none" and "answer" in got[4]
    conversation = re.search(r"done: 5 steps in conversation (\S+)", out)
    assert conversation is not None
    if transport == "stdio":
        return  # the MCP client ends a stdio server after 2 s, before its trace file is flushed; HTTP stops it cleanly
    # The steps were recorded in that one conversation (the trace file is read back by the CLI).
    traces = subprocess.run(
        [
            sys.executable,
            "-m",
            "mcproute",
            "traces",
            "--config",
            str(AGENTS / "offline.yaml"),
            "--json",
            "--conversation",
            conversation.group(1),
        ],
        cwd=REPO,
        env=example_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert traces.returncode == 0, traces.stderr
    rows = json.loads(traces.stdout)
    assert [r["tool"] for r in rows][:4] == [
        "time__get_current_time",
        "time__convert_time",
        "git__git_log",
        "git__git_status",
    ]


@pytest.mark.parametrize("mode", [[], ["--stream", "--execute", "run_step"]], ids=["mcp", "stream-run_step"])
def test_openai_loop_with_the_official_client(tmp_path: Path, mode: list[str]) -> None:
    out = run_example("openai_loop.py", *mode, data_dir=tmp_path)
    assert "/v1/chat/completions" in out
    turns = re.split(r"^turn \d+: ", out, flags=re.M)[1:]
    assert len(turns) == 3
    assert re.search(
        r"model deep \(reasoning\) -> tool time__get_current_time \{\"timezone\": \"Asia/Tokyo\"\}", turns[0]
    )
    assert "-> tool time__convert_time" in turns[1] and "-> tool git__git_log" in turns[2]
    assert all("-> answer: " in t for t in turns)
    # No conversation id was sent: the opening messages kept all three turns in one conversation.
    ids = re.findall(r"conversation (oa-[0-9a-f]+) \(fingerprint\)", out)
    assert len(ids) == 3 and len(set(ids)) == 1
    # Via run_step the gateway routes the call again (its summary names the tool it ran); via /mcp the raw result.
    assert "result: " in turns[0] and ("(reasoning) called time__" in turns[0]) == ("run_step" in mode)


def test_sticky_demo_escalates_holds_steps_down_and_keeps_conversations_apart(tmp_path: Path) -> None:
    out = run_example("sticky_demo.py", data_dir=tmp_path)
    a = re.search(r"^(escalates-\w+): (.*)$", out, flags=re.M)
    b = re.search(r"^(stays-fast-\w+): (.*)$", out, flags=re.M)
    assert a is not None and b is not None
    tiers_a, tiers_b = a.group(2).split(" -> "), b.group(2).split(" -> ")
    assert tiers_a[:2] == ["reasoning"] * 2  # escalated, and held for one easy step (k = 2)
    assert set(tiers_a[2:]) == {"fast"}  # stepped down after two tool-calling easy steps, and stayed down
    assert set(tiers_b) == {"fast"}
    for conversation, n in ((a.group(1), len(tiers_a)), (b.group(1), len(tiers_b))):
        # The timeline printed from `mcproute traces` covers every step of each conversation.
        assert f"$ mcproute traces --conversation {conversation}" in out
        assert f"conversation {conversation}: {n} steps" in out
    assert "stepped down to fast after 2 consecutive confident fast steps" in out


@pytest.mark.skipif(not any(os.environ.get(k) for k in KEYS), reason="no provider API key in the environment")
def test_react_loop_against_real_providers(tmp_path: Path) -> None:
    out = run_example("react_loop.py", data_dir=tmp_path, offline=False)
    assert "live.yaml" in out and len(steps(out)) == 5


# ---------------------------------------------------------------- client registration snippets


def expand(value: str) -> str:
    return value.replace("${workspaceFolder}", str(REPO)).replace("/ABSOLUTE/PATH/TO/mcproute", str(REPO))


def stdio_entries() -> list[tuple[str, str, list[str], str]]:
    """(snippet, command, args, cwd) for every stdio registration, as each client would start it."""
    found = []
    desktop = json.loads((CLIENTS / "claude_desktop_config.json").read_text())["mcpServers"]
    cursor = json.loads((CLIENTS / ".cursor" / "mcp.json").read_text())["mcpServers"]
    vscode = json.loads((CLIENTS / ".vscode" / "mcp.json").read_text())["servers"]
    for snippet, servers in (("claude_desktop", desktop), ("cursor", cursor), ("vscode", vscode)):
        for entry in servers.values():
            if "command" in entry:
                assert entry.get("type", "stdio") == "stdio"
                found.append((snippet, expand(entry["command"]), [expand(a) for a in entry["args"]], str(REPO)))
    for line in (CLIENTS / "claude_code.sh").read_text().splitlines():
        words = shlex.split(line, comments=True)
        if words[:3] == ["claude", "mcp", "add"] and "--" in words:
            command, *args = words[words.index("--") + 1 :]
            found.append(("claude_code", str(REPO / command), args, str(REPO)))  # run from the checkout's root
    return found


def http_entries() -> list[tuple[str, str]]:
    cursor = json.loads((CLIENTS / ".cursor" / "mcp.json").read_text())["mcpServers"]
    vscode = json.loads((CLIENTS / ".vscode" / "mcp.json").read_text())["servers"]
    urls = [("cursor", e["url"]) for e in cursor.values() if "url" in e]
    urls += [("vscode", e["url"]) for e in vscode.values() if e.get("type") == "http"]
    for line in (CLIENTS / "claude_code.sh").read_text().splitlines():
        words = shlex.split(line, comments=True)
        if (
            words[:3] == ["claude", "mcp", "add"]
            and "--transport" in words
            and words[words.index("--transport") + 1] == "http"
        ):
            urls.append(("claude_code", words[-1]))
    return urls


@pytest.mark.parametrize(
    ("text", "tool"),
    [
        ("make a folder named reports", "filesystem__create_directory"),
        ("what's on the front page of news.ycombinator.com", "fetch__fetch"),
        ("delete old.log", None),  # none of the five can delete a file
    ],
)
def test_reference_config_routes_over_all_five_reference_servers(tmp_path: Path, text: str, tool: str | None) -> None:
    """examples/reference.yaml starts the five official servers (Node ones from .peers) from any
    directory, and routes an everyday request over their 38 tools."""
    env = {**example_env(tmp_path / "data"), "MCPROUTE_FILES": str(tmp_path)}
    cmd = [
        sys.executable,
        "-m",
        "mcproute",
        "route",
        "--config",
        str(REPO / "examples" / "reference.yaml"),
        "--json",
        text,
    ]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    decision = json.loads(done.stdout)
    assert decision["tool"] == tool, decision["reason"]
    servers = {a["name"].split("__")[0] for a in decision["alternatives"]}
    assert servers <= {"time", "git", "fetch", "memory", "filesystem"}


def test_every_client_snippet_is_found() -> None:
    assert sorted({s for s, *_ in stdio_entries()}) == ["claude_code", "claude_desktop", "cursor", "vscode"]
    assert sorted({s for s, _ in http_entries()}) == ["claude_code", "cursor", "vscode"]


@pytest.mark.parametrize("entry", stdio_entries(), ids=lambda e: e[0])
@pytest.mark.anyio
async def test_client_snippet_starts_mcproute_and_lists_its_tools(
    entry: tuple[str, str, list[str], str], tmp_path: Path
) -> None:
    snippet, command, args, cwd = entry
    assert Path(command).exists(), f"{snippet}: {command} does not exist (make venv creates it)"
    params = StdioServerParameters(command=command, args=args, cwd=cwd, env=example_env(tmp_path))
    with anyio.fail_after(120):
        async with Client(params, mode="legacy") as client:  # the handshake era, as desktop clients speak it
            names = [t.name for t in (await client.list_tools()).tools]
    assert "mcproute__run_step" in names and "time__get_current_time" in names and "git__git_log" in names
    assert "git__git_commit" not in names  # offline.yaml keeps the demo read-only


@pytest.mark.anyio
async def test_http_snippets_point_at_mcproute_serve(tmp_path: Path) -> None:
    sys.path.insert(0, str(AGENTS))
    try:
        from _common import http_server
    finally:
        sys.path.remove(str(AGENTS))
    urls = http_entries()
    assert {u for _, u in urls} == {"http://127.0.0.1:8765/mcp"}  # the default gateway.http port and path
    with anyio.fail_after(120):
        async with http_server(AGENTS / "offline.yaml", example_env(tmp_path)) as base:
            # The server was asked for any free port (8765 may be busy here); host and path are the snippets'.
            async with Client(base + "/mcp") as client:
                names = [t.name for t in (await client.list_tools()).tools]
    assert base.startswith("http://127.0.0.1:") and "mcproute__run_step" in names
