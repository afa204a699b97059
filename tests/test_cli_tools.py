"""`mcproute tools` lists what a client is served (meta-tools too), `--url` needs no config, and its
text is plain off a terminal and coloured on one."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client

from mcproute.cli import main as cli_main
from mcproute.cli.render import plural, shorten
from mcproute.runtime.metatools import META_TOOL_NAMES
from runtime_support import serve_http, write_config

ROOT = Path(__file__).parent.parent


@pytest.mark.anyio
async def test_tools_lists_exactly_what_a_client_is_served(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path / "servers.yaml", tmp_path / "data", backend="memory")
    async with serve_http(path) as (_, url), Client(url, mode="legacy") as client:
        served = {t.name for t in (await client.list_tools()).tools}
        assert set(META_TOOL_NAMES) <= served
        empty = tmp_path / "elsewhere"
        empty.mkdir()
        monkeypatch.chdir(empty)  # no servers.yaml here, and no --config: --url alone must do
        capsys.readouterr()
        assert cli_main(["tools", "--url", url.removesuffix("/mcp"), "--json"]) == 0
        live = json.loads(capsys.readouterr().out)
        assert [t["name"] for t in live["tools"]] and {t["name"] for t in live["tools"]} == served
    # Offline (starts the servers itself, in its own event loop: so on a thread here).
    assert await anyio.to_thread.run_sync(cli_main, ["tools", "--config", str(path), "--json"]) == 0
    offline = json.loads(capsys.readouterr().out)
    assert {t["name"] for t in offline["tools"]} == served
    assert {t["server"] for t in offline["tools"] if t["name"] in META_TOOL_NAMES} == {""}


def test_bundled_config_text_lists_meta_tools_under_a_header_without_ansi() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mcproute", "tools", "--config", str(ROOT / "servers.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "\x1b[" not in text  # stdout is a pipe: plain text
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["SERVER", "STATE", "PROTOCOL"]
    assert any(line.split()[:2] == ["time", "healthy"] for line in lines)
    report = json.loads(
        subprocess.run(
            [sys.executable, "-m", "mcproute", "tools", "--config", str(ROOT / "servers.yaml"), "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        ).stdout
    )
    served = [t["name"] for t in report["tools"]]
    assert f"{plural(len(served), 'tool')} served ({len(META_TOOL_NAMES)} of them the gateway's own):" in text
    for t in report["tools"]:
        row = next(line for line in lines if line.split()[:1] == [t["name"]])
        full = " ".join(t["description"].split())
        shown = row.split(None, 2)[2]
        if shown.endswith("\u2026"):
            # Cut at a word boundary: what is shown is a prefix of the description that ends a word.
            head = shown.removesuffix("\u2026")
            assert full.startswith(head) and full[len(head)] in " ,;:.-)", (head, full)
            assert len(shown) <= 80
        else:
            assert shown in (full.splitlines()[0] if full else "-", "-")


def test_a_terminal_gets_colour(tmp_path: Path) -> None:
    path = write_config(tmp_path / "servers.yaml", tmp_path / "data", backend="memory")
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")} | {
        "TERM": "xterm-256color",
        "COLUMNS": "200",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcproute", "tools", "--config", str(path)],
        stdout=follower,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=120) == 0
    os.close(leader)
    out = b"".join(chunks).decode()
    assert "\x1b[" in out and "time__get_current_time" in out


def test_shorten_cuts_at_a_word_with_an_ellipsis_and_plural_agrees() -> None:
    text = "Shows the contents of a commit, or of a file or directory given as <revision>:<path>"
    assert shorten(text, 40, mark="\u2026") == "Shows the contents of a commit, or of a\u2026"
    assert shorten("short one", 40) == "short one"
    assert shorten("first line\nsecond line", 40) == "first line"
    assert shorten("x" * 100, 10, mark="...") == "x" * 7 + "..."
    assert (plural(1, "step"), plural(2, "step"), plural(0, "step")) == ("1 step", "2 steps", "0 steps")
