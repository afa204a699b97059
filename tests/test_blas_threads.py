"""`mcproute` loads OpenBLAS single-threaded (mcproute/_blas.py), without leaking the setting to
the servers it spawns and without overriding a thread count the user chose."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import ctypes, glob, json, os, sys
{setup}
import numpy as np
libs = glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "libscipy_openblas64*.so"))
threads = ctypes.CDLL(libs[0]).scipy_openblas_get_num_threads64_() if libs else None
print(json.dumps({{"threads": threads, "env": os.environ.get("OPENBLAS_NUM_THREADS"), "applied": applied}}))
"""


def _probe(setup: str, **env: str) -> dict[str, object]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "GOTO_NUM_THREADS")
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    if result["threads"] is None:
        pytest.skip("numpy here is not built on scipy-openblas; cannot read its thread count")
    return result


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def test_the_cli_entry_loads_blas_with_one_thread_and_leaves_the_environment_as_it_was() -> None:
    setup = (
        "from mcproute.cli import main\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['config', 'schema'])\n"
        "applied = 'numpy' in sys.modules"
    )
    r = _probe(setup)
    assert r == {"threads": 1, "env": None, "applied": True}


def test_a_thread_count_the_user_set_is_kept() -> None:
    if _cores() < 2:
        pytest.skip("one core: OpenBLAS would use one thread anyway")
    r = _probe(
        "from mcproute._blas import single_threaded_blas\napplied = single_threaded_blas()", OPENBLAS_NUM_THREADS="2"
    )
    assert r == {"threads": 2, "env": "2", "applied": False}


def test_nothing_changes_when_numpy_was_imported_first() -> None:
    if _cores() < 2:
        pytest.skip("one core: OpenBLAS would use one thread anyway")
    r = _probe("import numpy\nfrom mcproute._blas import single_threaded_blas\napplied = single_threaded_blas()")
    assert r["applied"] is False and r["env"] is None and r["threads"] == min(_cores(), 64)
