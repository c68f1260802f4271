"""The benchmark runner runs end to end (``--quick``, one scenario, SQLite, the pure-Python load
generator) and writes a report of the promised shape. Structure only: timings are never asserted."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.procs import ROOT, clean_env

pytestmark = pytest.mark.slow


def test_quick_api_run_reports_figures_with_ratios(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "tests.bench", "api", "--db", "sqlite", "--quick",
                           "--driver", "python", "--concurrency", "4", "--out", str(tmp_path)],
                          cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [path] = tmp_path.glob("bench-*.json")
    report = json.loads(path.read_text())

    assert {"nproc", "memory_gib", "python", "sqlite", "aiohttp"} <= set(report["machine"])
    assert report["options"]["scenarios"] == ["api"] and report["options"]["dbs"] == ["sqlite"]
    figures = {f["name"]: f for f in report["figures"]}
    assert set(figures) == {"payment create (no channel)", "payment GET"}
    for f in figures.values():
        assert f["scenario"] == "api" and f["db"] == "sqlite" and f["unit"] == "req/s"
        assert f["value"] > 0 and f["ratio"] > 0 and f["p50_ms"] > 0 and f["p99_ms"] >= f["p50_ms"]
        assert "bare aiohttp" in f["reference"]
        [run] = f["runs"]
        # every answer the gateway gave during the run was a success (201 for creates, 200 for GETs)
        assert set(run["subject"]["statuses"]) == ({"201"} if "create" in f["name"] else {"200"})
        assert run["subject"]["driver"] == "python" and run["reference"]["rps"] > 0
    assert "| api | payment GET | sqlite |" in done.stdout


def test_quick_expiry_run_reports_both_sizes_and_the_index_plan(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "tests.bench", "expiry", "--db", "sqlite", "--quick",
                           "--out", str(tmp_path)], cwd=ROOT, env=clean_env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [path] = tmp_path.glob("bench-*.json")
    small, large = json.loads(path.read_text())["figures"]
    assert small["scenario"] == large["scenario"] == "expiry" and small["unit"] == "ms/claim"
    assert "10,000 payment rows" in small["name"] and "100,000 payment rows" in large["name"]
    assert small["value"] > 0 and large["value"] > 0 and large["ratio"] > 0
    # the claim's SELECT goes through the (status, expires_at) index, never a scan of the table
    assert "USING INDEX ix_payments_status_expires" in large["note"]
