"""The habits in `make test` (issue 15, item 11): lint and type-check before pytest, installs from a lock."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCKED_EXTRAS = ("test", "clients", "plot", "bundled")


def _locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements" / "test.lock").read_text(encoding="utf-8").splitlines():
        if m := re.match(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s;]+)", line):
            pins[canonicalize_name(m[1])] = m[2]
    return pins


def test_lock_pins_every_declared_dependency() -> None:
    """A dependency added to pyproject.toml without `make lock` would install unpinned in CI."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = [*project["dependencies"], *(r for e in LOCKED_EXTRAS for r in project["optional-dependencies"][e])]
    pins = _locked()
    missing = []
    for spec in declared:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        if name == "mcproute":
            continue
        if name not in pins:
            missing.append(f"{spec}: not in requirements/test.lock")
        elif not req.specifier.contains(pins[name], prereleases=True):
            missing.append(f"{spec}: the lock pins {pins[name]}")
    assert not missing, "run `make lock`:\n" + "\n".join(missing)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_test_runs_ruff_and_mypy_before_pytest() -> None:
    # -n prints the commands without running any of them.
    out = subprocess.run(
        ["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()

    def first(pattern: str) -> int:
        return next(i for i, line in enumerate(out) if re.search(pattern, line))

    ruff, fmt, mypy, pytest_ = (
        first(r"ruff check \.$"),
        first(r"ruff format --check"),
        first(r"/mypy$"),
        first(r"/pytest"),
    )
    assert ruff < mypy < pytest_ and fmt < pytest_
    assert not any(
        "ruff format --check" in line
        for line in subprocess.run(
            ["make", "-n", "lint", "FORMAT_CHECK=0"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.splitlines()
    )
