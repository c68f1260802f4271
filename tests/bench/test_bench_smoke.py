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
    assert set(figures) == {"payment create (no channel)", "payment create with an Idempotency-Key", "payment GET"}
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


def test_quick_ingest_run_reports_the_bare_ceiling_and_the_peer(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "tests.bench", "ingest", "--db", "sqlite", "--quick",
                           "--concurrency", "4", "--out", str(tmp_path)], cwd=ROOT, env=clean_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [path] = tmp_path.glob("bench-*.json")
    figures = {f["name"]: f for f in json.loads(path.read_text())["figures"]}
    assert figures["commit ceiling, bare sqlite3, 1 connection"]["value"] > 0
    assert figures["commit ceiling through the gateway's engine (sqlite3 on the loop), 1 connection"]["ratio"] > 0
    for channel in ("alipay", "wechat"):
        [ingest] = [f for n, f in figures.items() if n.startswith(f"{channel} callback ingest (")]
        assert ingest["ratio"] > 0 and ingest["reference"].startswith("commit ceiling, bare sqlite3, 1 connection")
        beside = figures[f"{channel} callback ingest beside the peer"]
        assert beside["ratio"] > 0 and beside["reference"].startswith("peer: ")
        [run] = beside["runs"]
        # every callback was applied by the gateway and by the peer (its one UPDATE), each answered 2xx
        assert run["subject"]["paid"] == run["subject"]["applied"] == run["subject"]["sent"] > 0
        assert run["reference"]["paid"] == run["reference"]["sent"] == run["subject"]["sent"]
        assert set(run["reference"]["statuses"]) == ({"200"} if channel == "alipay" else {"204"})
