"""Figures, the machine they were measured on, and their two renderings: a Markdown table (stdout,
BENCHMARKS.md) and JSON (``bench-results/``)."""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.support.urls import sync_mysql


@dataclass
class Figure:
    """One measured figure: the median of its repeats, their spread, and -- where there is one -- the
    ratio to its reference measured in the same run (median and spread of the per-repeat ratios)."""

    scenario: str
    name: str
    db: str | None
    value: float | None
    unit: str
    spread: tuple[float, float] | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    ratio: float | None = None
    ratio_spread: tuple[float, float] | None = None
    reference: str | None = None
    note: str = ""
    runs: list[dict[str, Any]] = field(default_factory=list)


def pending(scenario: str, name: str, why: str) -> Figure:
    return Figure(scenario, name, None, None, "", note=f"pending: {why}")


def median_spread(values: list[float]) -> tuple[float, tuple[float, float]]:
    return statistics.median(values), (min(values), max(values))


def _cmd(*args: str) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine(mysql_url: str | None = None) -> dict[str, Any]:
    """The machine as it is right now (read at run time, never written by hand)."""
    import aiohttp
    import cryptography
    import sqlalchemy

    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines() if Path("/proc/meminfo").exists() else []:
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    cpu = ""
    if Path("/proc/cpuinfo").exists():
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), "")
    info: dict[str, Any] = {
        "nproc": os.cpu_count(), "cpu": cpu or platform.processor(), "memory_gib": round(mem_kib / 2**20, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2), "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0], "aiohttp": aiohttp.__version__, "sqlalchemy": sqlalchemy.__version__,
        "cryptography": cryptography.__version__, "sqlite": _sqlite_version(), "wrk": _cmd("wrk", "--version")
        .splitlines()[0].split(" [")[0] if _cmd("wrk", "--version") not in ("", "unknown") else "absent",
    }
    if mysql_url:
        info["mariadb"] = _mysql_version(mysql_url)
    return info


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


def _mysql_version(url: str) -> str:
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(sync_mysql(url))
        with engine.connect() as conn:
            version = str(conn.execute(sa.text("SELECT VERSION()")).scalar_one())
        engine.dispose()
        return version
    except Exception as exc:  # the report says what it could not read rather than failing the run
        return f"unreachable ({type(exc).__name__})"


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}" if abs(value) >= 1 else f"{value:.{digits + 2}f}"


def _ratio(value: float) -> str:
    """Two decimals, or two significant digits below 0.1 (a ratio to a far ceiling is not 0.00)."""
    return f"{value:.2f}" if value >= 0.1 or value == 0 else f"{value:.2g}"


def markdown(figures: list[Figure]) -> str:
    rows = ["| scenario | figure | db | median | spread (min–max) | p50 ms | p99 ms | ratio to reference | reference |",
            "|---|---|---|---:|---|---:|---:|---|---|"]
    for f in figures:
        if f.value is None:
            rows.append(f"| {f.scenario} | {f.name} | {f.db or ''} | – | {f.note} | | | | |")
            continue
        spread = f"{_num(f.spread[0])}–{_num(f.spread[1])}" if f.spread else ""
        ratio = ""
        if f.ratio is not None:
            ratio = f"**{_ratio(f.ratio)}×**"
            if f.ratio_spread:
                ratio += f" ({_ratio(f.ratio_spread[0])}–{_ratio(f.ratio_spread[1])})"
        ref = "; ".join(part for part in (f.reference, f.note) if part)
        rows.append(f"| {f.scenario} | {f.name} | {f.db or ''} | {_num(f.value)} {f.unit} | {spread} | "
                    f"{_num(f.p50_ms, 2)} | {_num(f.p99_ms, 2)} | {ratio} | {ref} |")
    return "\n".join(rows)


def machine_markdown(info: dict[str, Any]) -> str:
    return "\n".join(f"- **{k}**: {v}" for k, v in info.items())


def write_json(out_dir: Path, info: dict[str, Any], options: dict[str, Any], figures: list[Figure]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"bench-{stamp}.json"
    path.write_text(json.dumps({"machine": info, "options": options, "figures": [asdict(f) for f in figures]},
                               indent=1, ensure_ascii=False))
    return path
