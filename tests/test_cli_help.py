"""The command line explains itself: `--version`, and help text on every flag of every subcommand."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from mcproute import __version__
from mcproute.cli import build_parser, main


def _walk(parser: argparse.ArgumentParser, path: str = "mcproute"):
    for action in parser._actions:
        yield path, action
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, f"{path} {name}")


def test_every_flag_of_every_subcommand_has_help() -> None:
    missing = [
        f"{path}: {'/'.join(a.option_strings) or a.dest}"
        for path, a in _walk(build_parser())
        if not a.help or a.help == argparse.SUPPRESS
    ]
    assert missing == []
    # The walk reached the subcommands (a walk that sees nothing cannot fail).
    assert {"mcproute serve", "mcproute tools", "mcproute traces", "mcproute eval"} <= {
        p for p, _ in _walk(build_parser())
    }


def test_help_of_each_subcommand_prints(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("serve", "tools", "traces", "eval", "route", "check"):
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert "--config" in out or command == "eval"


def test_version() -> None:
    out = subprocess.run([sys.executable, "-m", "mcproute", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert out.stdout.strip() == f"mcproute {__version__}"
