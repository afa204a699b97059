"""benchmarks/run.py keeps its contract: the last stdout line is one JSON object, the same object
is appended to the results file, with the machine, the git revision and the load average.

Only the two cheap sections run here (a few seconds); the whole `--quick` run takes about a
minute on two idle cores and several on a busy machine, which is too long for the suite.
Deselect with `-m "not bench"`. Nothing here asserts a speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"
TARGET_KEYS = {
    "overhead_stdio_p50_ms",
    "overhead_http_p50_ms",
    "throughput_rps",
    "throughput_ratio",
    "decision_p99_ms_1k",
    "decision_p99_ms_10k",
    "bytes_per_conversation",
    "ready_ratio",
    "decision_enc_p99_ms_1k",
    "decision_enc_p99_ms_10k",
    "encoder_model_rss_mb",
    "encoder_tools_1k_cold_s",
    "encoder_tools_1k_warm_s",
    "cache_hit_exact_added_p50_ms",
    "cache_hit_similar_added_p50_ms",
}

pytestmark = pytest.mark.bench


def test_quick_json_prints_one_object_last_and_appends_the_same_one(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    proc = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--json", "--only", "store,run_step", "--results", str(results)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = json.loads(proc.stdout.strip().splitlines()[-1])
    lines = results.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0]) == printed
    machine = printed["machine"]
    assert {"cpu", "cores", "memory_bytes", "python", "os"} <= machine.keys() and machine["cores"] >= 1
    assert isinstance(printed["git_dirty"], bool) and len(printed["git_rev"]) == 40
    assert len(printed["loadavg_start"]) == 3 and len(printed["loadavg_end"]) == 3
    assert printed["store_steps_per_s"] > 0 and printed["store_record_step_per_s"] > 0
    assert isinstance(printed["run_step_overhead_ms"], float) and printed["run_step_p50_ms"] > 0
    assert printed["sections"] == ["store", "run_step"] and "errors" not in printed
    # Keys of sections that did not run are reported as unknown, never as met or missed.
    assert set(printed["targets_met"]) == TARGET_KEYS and all(v is None for v in printed["targets_met"].values())


def test_an_unknown_section_is_refused_by_name() -> None:
    proc = subprocess.run(
        [sys.executable, str(RUN), "--only", "store,warp", "--no-append"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 2 and "warp" in proc.stderr and "store" not in proc.stdout
