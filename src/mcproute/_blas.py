"""Load numpy's BLAS single-threaded, before anything imports numpy.

The router's only BLAS work is one small product per step (query vector x tool-embedding
matrix: 10,000 x 128 floats). OpenBLAS splits it over every core by default, and on a busy
machine the calling thread then spin-waits for worker threads that are not running: measured
with 10,000 tools (benchmarks/decision.py), a decision took 40 ms p50 with the default and
3.2 ms single-threaded (p50 CPU 8.0 -> 2.4 ms). OpenBLAS reads its thread count once, when it
is loaded, so this must run before the first `import numpy`; the variable is then removed
again so that downstream servers the gateway spawns keep their own defaults.
"""

from __future__ import annotations

import os
import sys

_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "GOTO_NUM_THREADS")


def single_threaded_blas() -> bool:
    """True if numpy was loaded here with one BLAS thread; False (nothing changed) if numpy was
    already imported or the user chose a thread count in the environment."""
    if "numpy" in sys.modules or any(v in os.environ for v in _VARS):
        return False
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        import numpy  # noqa: F401  (loading it is the point)
    finally:
        del os.environ["OPENBLAS_NUM_THREADS"]
    return True
