"""Relative paths in servers.yaml are taken from the config file's directory, whichever directory
the client starts `mcproute serve` from (desktop clients start it in `/`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from runtime_support import child_env

REPO = Path(__file__).resolve().parent.parent


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=30,
    )


@pytest.mark.anyio
async def test_the_bundled_config_started_from_root_serves_every_tool_on_its_own_folder(tmp_path: Path) -> None:
    """The bundled servers.yaml, as it is, in a folder of its own that is a git repository: started
    from `/`, git serves that folder (not `/`), and both servers list all their tools."""
    folder = tmp_path / "checkout"
    folder.mkdir()
    shutil.copy(REPO / "servers.yaml", folder / "servers.yaml")
    git(folder, "init", "-q")
    git(folder, "add", "servers.yaml")
    git(folder, "commit", "-q", "-m", "a commit only this folder has")
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcproute", "serve", "--config", str(folder / "servers.yaml")],
        cwd="/",
        env=child_env(),
    )
    with anyio.fail_after(120):
        async with Client(params) as client:
            names = sorted(t.name for t in (await client.list_tools()).tools if not t.name.startswith("mcproute__"))
            log = await client.call_tool("git__git_log", {"repo_path": "."})
    assert [n.split("__")[0] for n in names].count("time") == 2
    assert [n.split("__")[0] for n in names].count("git") == 7, names
    assert not log.is_error and "a commit only this folder has" in str(log.content)
    assert (folder / ".mcproute").is_dir()  # data_dir: relative to the file too


def test_a_relative_script_in_args_is_found_from_any_directory(tmp_path: Path) -> None:
    """`args: [server.py]` next to the config: `mcproute tools` run from `/` starts it."""
    (tmp_path / "server.py").write_text(
        "from mcp.server.mcpserver import MCPServer\n"
        "app = MCPServer('beside')\n"
        "@app.tool()\n"
        "def hello() -> str:\n    return 'hi'\n"
        "app.run()\n"
    )
    (tmp_path / "servers.yaml").write_text(
        "servers:\n  beside: {command: python, args: [server.py]}\n"
        "routing: {encoder: {enabled: false}}\ntelemetry: {exporter: none}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "mcproute", "tools", "--config", str(tmp_path / "servers.yaml"), "--json"],
        cwd="/",
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert '"beside__hello"' in done.stdout
