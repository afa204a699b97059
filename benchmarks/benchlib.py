"""Helpers shared by the benchmark scripts: percentiles, ports, child processes, the machine.

Nothing here is timed; it is imported by `benchmarks/run.py` and the standalone scripts.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mcproute._blas import single_threaded_blas

# As the `mcproute` command does first thing (mcproute/_blas.py), so in-process measurements of
# the router see the BLAS set-up `mcproute serve` runs with. MCPROUTE_BENCH_BLAS=default keeps
# OpenBLAS's default thread count instead (to measure what that costs).
BLAS_SINGLE_THREADED = os.environ.get("MCPROUTE_BENCH_BLAS") != "default" and single_threaded_blas()

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = str(ROOT / "tests" / "fixtures" / "gateway_fixture_server.py")
ECHO = str(ROOT / "benchmarks" / "echo_server.py")
# Downstreams with the same interface (`echo {text}`, `--http PORT`): the lean SDK server is the
# default (see echo_server.py for why), the gateway's test fixture is kept for comparison.
DOWNSTREAMS = {"echo": ECHO, "fixture": FIXTURE}
EVALDATA = ROOT.parent / "shared" / "evaldata"


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of an unsorted sample."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary_ms(samples_s: Sequence[float]) -> dict[str, float]:
    """p50/p99 in milliseconds of samples given in seconds."""
    return {
        "p50_ms": round(percentile(samples_s, 0.5) * 1000, 4),
        "p99_ms": round(percentile(samples_s, 0.99) * 1000, 4),
        "n": len(samples_s),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(port: int, limit: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> float:
    """Block until something accepts on 127.0.0.1:port; return the seconds waited."""
    t0 = time.perf_counter()
    deadline = t0 + limit
    while time.perf_counter() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return time.perf_counter() - t0
        time.sleep(0.005)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {limit:.0f} s")


def child_env() -> dict[str, str]:
    """Environment for child servers: warnings silenced (they go to stderr), no OTLP export."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONWARNINGS"] = "ignore"
    return env


def stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, Python, OS — what a figure needs beside it to be read."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "memory_bytes": mem,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "os": f"{platform.system()} {platform.release()}",
        "platform": platform.platform(),
    }


def git_revision() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    rev = git("rev-parse", "HEAD")
    # Untracked files count: a benchmark of a tree with new modules is not the committed tree.
    dirty = bool(git("status", "--porcelain", "--", "src", "benchmarks", "pyproject.toml"))
    return {"git_rev": rev or None, "git_dirty": dirty}


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                out += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
            except OSError:
                continue
    except OSError:
        pass
    return out


def tree_cpu_seconds(pid: int) -> float:
    """User+system CPU seconds of a process and its live descendants (from /proc; Linux only)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14, 15 of stat)
        stack += _children(p)
    return total
