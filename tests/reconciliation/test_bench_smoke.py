"""The 1,000,000-line benchmark stays runnable: the same script on a few hundred lines, SQLite only."""
from __future__ import annotations

import subprocess
import sys


def test_reconcile_benchmark_runs_small() -> None:
    out = subprocess.run([sys.executable, "-m", "tests.bench.reconcile", "--db", "sqlite", "--lines", "300"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    assert out.count("'status': 'done', 'matched': 300, 'foreign': 1") == 2, out
    assert "['duplicate_line', 'pay_amount_mismatch']" in out
