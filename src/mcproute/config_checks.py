"""What `mcproute check` finds beyond a config that loads: mistakes `serve` would only show later,
one server at a time, as "unhealthy".

- a stdio `command` that is neither on the PATH the child gets nor an existing file;
- a tool allow/deny pattern that cannot match: patterns see a server's own tool names (as it lists
  them), so a pattern that names a server (`git__git_commit`, `github__*`) never matches.

`serve` does not refuse these: a missing command is one unhealthy server, retried, and may be
installed while the gateway runs. Each finding is a `ConfigIssue` with the file, line and column.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from mcproute._yaml_doc import compose, position_index
from mcproute.config import ConfigIssue, LoadedConfig, ServerConfig, at, format_path

_GLOB = set("*?[")


def lint(loaded: LoadedConfig, text: str) -> list[ConfigIssue]:
    positions = position_index(compose(text))
    issues: list[ConfigIssue] = []
    for name, server in loaded.config.servers.items():
        if not server.enabled or loaded.missing_env_under(f"servers.{name}"):
            continue  # disabled, or already reported as a missing variable
        for loc, message in [*_command_issues(name, server), *_pattern_issues(name, server, loaded)]:
            issues.append(ConfigIssue(format_path(loc), message, file=loaded.source, **at(positions, loc)))
    return issues


def _command_issues(name: str, server: ServerConfig) -> list[tuple[tuple[Any, ...], str]]:
    command = server.command
    if not command or command in ("python", "python3"):  # mcproute's own interpreter (gateway/_stdio.py)
        return []
    loc = ("servers", name, "command")
    if os.sep in command:
        path = Path(server.cwd or ".") / Path(command).expanduser()
        if not path.is_file():
            return [(loc, f"{command!r} does not exist (looked for {path})")]
        if not os.access(path, os.X_OK):
            return [(loc, f"{command!r} is not executable ({path})")]
        return []
    # The child is started with its own PATH (gateway/_stdio.py child_env: mcproute's bin/ first,
    # then the gateway's PATH, unless the server's env: sets one), and the lookup uses that PATH.
    search = server.env.get("PATH") or os.pathsep.join(
        filter(None, [os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    )
    if _which(command, search) is None:
        return [
            (
                loc,
                f"command {command!r} is not found on PATH (the gateway's, after mcproute's own bin/); "
                "install it or give its full path",
            )
        ]
    return []


def _which(command: str, search: str) -> str | None:
    for folder in search.split(os.pathsep):
        candidate = os.path.join(folder or ".", command)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _pattern_issues(name: str, server: ServerConfig, loaded: LoadedConfig) -> list[tuple[tuple[Any, ...], str]]:
    gateway = loaded.config.gateway
    if not gateway.prefix_tools:
        return []
    sep = gateway.separator
    own = server.prefix or name
    others = {(s.prefix or n): n for n, s in loaded.config.servers.items() if n != name}
    out: list[tuple[tuple[Any, ...], str]] = []
    for kind in ("allow", "deny"):
        for i, pattern in enumerate(getattr(server.tools, kind)):
            head, found, rest = pattern.partition(sep)
            if not found or _GLOB & set(head):
                continue
            loc = ("servers", name, "tools", kind, i)
            if head == own:
                why = f"names this server's prefix; patterns match its own tool names, so write {rest!r}"
            elif head in others:
                why = f"names server {others[head]!r}; a pattern here sees only the tool names server {name!r} lists"
            else:
                why = f"names a server {head!r} that is not in servers:; patterns match the tool names server {name!r} lists"
            out.append((loc, f"pattern {pattern!r} can match no tool: it {why}"))
    return out
