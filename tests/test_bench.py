"""The benchmark harness still runs end to end: ``python -m bench --quick`` (one second a row).

The figures of a quick run mean nothing; this only proves that every stack
starts, every row gets 2xx answers and the report is written. The full run is
``scripts/bench.sh`` and is not part of the test suite.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BENCH_TOOLS = ("wrk", "nginx", "redis-server", "py-spy", "chromium")
BENCH_MODULES = ("matplotlib", "snappass", "playwright")


def missing() -> list[str]:
    path = f"{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin"
    gone = [name for name in BENCH_TOOLS if shutil.which(name, path=path) is None]
    gone += [name for name in BENCH_MODULES if importlib.util.find_spec(name) is None]
    return gone


def test_quick_benchmark_writes_a_report_where_every_row_did_real_work(tmp_path):
    # A missing tool is a failure, not a skip: scripts/test.sh installs them all.
    assert not missing(), f"the benchmark's tools are not installed: {', '.join(missing())}"
    argv = [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)]
    # A generous bound: on a busy shared machine the quick run takes two minutes.
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    results = json.loads((tmp_path / "perf-results.json").read_text())
    table = results["table"]
    for row in ("nginx return 200", "Flask hello", "SQLite create", "SQLite metadata GET",
                "SQLite reveal", "Snappass create", "Snappass reveal"):
        assert table[row]["ok"] > 0, row
    for key, row in table.items():
        # Every answer was a 2xx: a reveal that failed would show here.
        assert row["other"] == 0 and row["exhausted"] == 0, (key, row)
    assert results["memory"]["SQLite"]["reveal_extra"] > 0
    assert results["purge"]["purged"] == results["purge"]["expired"]
    assert results["profile"]["SQLite reveal"]["samples"] > 0
    assert results["browser"]["crypto"]["sizes"]
    assert set(results["cpu"]["rows"]) == {"hello", "create", "reveal", "page GET",
                                           "metadata GET"}
    assert all(row["us"] > 0 for row in results["cpu"]["rows"].values())
    report = (tmp_path / "performance.md").read_text()
    assert "| SQLite reveal |" in report and "## The targets (issue 13)" in report
    for target in ("SQLite create vs Snappass create", "Redis page GET vs hello",
                   "SQLite reveal p99 vs hello's p99", "browser: encrypt vs decrypt",
                   "CPU per request in the worker, page GET vs hello"):
        assert f"| {target}" in report, target
    assert "not measured" not in report.split("## The targets (issue 13)")[1].split("Standing")[0]
    assert (tmp_path / "perf-throughput.png").stat().st_size > 0
