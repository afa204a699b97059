"""Issue 14, item 10: a YAML alias bomb is refused with a clear error and the line, in bounded
memory and time, while aliases used for sharing a value keep working. Also: self-referring
aliases and absurd nesting are config errors, not crashes."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from mcproute.config import parse_config
from mcproute.errors import ConfigError
from runtime_support import child_env

# 342 bytes; 9^9 (387 million) strings once expanded.
BOMB = "servers: {}\n" + "".join(
    f"{name}: &{name} [{', '.join([('*' + prev) if prev else 'lol'] * 9)}]\n"
    for prev, name in zip(["", "a", "b", "c", "d", "e", "f", "g", "h"], "abcdefghi", strict=True)
)


def test_an_alias_bomb_is_refused_with_its_line_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "servers.yaml"
    path.write_text(BOMB)
    # In a child, so its peak RSS is its own: before the fix this grew to gigabytes (MemoryError).
    run = subprocess.run(
        [sys.executable, "-m", "mcproute", "check", "--config", str(path)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)),
    )
    assert run.returncode != 0
    assert f"{path}:7: <root>: YAML aliases expand the value starting here to more than 100,000 values" in run.stderr, (
        run.stderr
    )
    assert "Traceback" not in run.stderr and "MemoryError" not in run.stderr


def test_shared_values_through_aliases_still_work_and_cycles_and_depth_are_errors() -> None:
    ok = parse_config(
        "servers:\n  a: &srv {command: python, args: [-m, x], timeout: 5}\n  b: *srv\n  c: {<<: *srv, timeout: 9}\n",
        environ={},
    )
    assert ok.config.servers["b"].timeout == 5 and ok.config.servers["c"].timeout == 9
    with pytest.raises(ConfigError) as cycle:
        parse_config("servers: {}\nx: &x [1, *x]\n", environ={})
    assert "refers to a value that contains it" in str(cycle.value) and cycle.value.issues[0].line == 2
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_config("x: " + "[" * 5000 + "]" * 5000 + "\n", environ={})
