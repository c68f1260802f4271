"""What every scenario shares: the run's options, and measuring a subject against its reference with
the repeats interleaved (reference, subject, reference, subject, …) so that a neighbour's load on a
shared machine lands on both sides of a ratio rather than on one."""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.bench.procs import DEFAULT_MYSQL_URL, GatewayProcess, run_load
from tests.bench.report import Figure, median_spread


@dataclass(frozen=True)
class Options:
    dbs: tuple[str, ...] = ("sqlite", "mysql")
    quick: bool = False
    repeats: int = 3
    concurrency: int = 32
    warmup: float = 1.0
    duration: float = 4.0
    driver: str = "auto"                # auto | python | wrk
    mysql_url: str = DEFAULT_MYSQL_URL
    redis_url: str | None = None
    callbacks: int = 450                # per channel and database
    waiters: int = 5000                 # long-poll: concurrent waiting shoppers

    def gateway(self, db: str) -> GatewayProcess:
        return GatewayProcess(db, mysql_url=self.mysql_url, redis_url=self.redis_url)


def create_body(out_trade_no: str, **extra: Any) -> dict[str, Any]:
    return {"amount": 1999, "currency": "CNY", "subject": "Bench order", "out_trade_no": out_trade_no, **extra}


def plan(opts: Options, base: str, requests: list[dict[str, Any]], **over: Any) -> dict[str, Any]:
    return {"base": base, "requests": requests, "concurrency": opts.concurrency, "warmup": opts.warmup,
            "duration": opts.duration, "mode": "cycle", "driver": opts.driver, **over}


def ok_ratio(result: dict[str, Any]) -> float:
    """Share of answers that were 2xx: a benchmark of error pages would be worthless."""
    statuses = result.get("statuses", {})
    ok = sum(n for code, n in statuses.items() if code.startswith("2"))
    total = sum(statuses.values()) + result.get("errors", 0)
    return ok / total if total else 0.0


def compare(opts: Options, scenario: str, name: str, db: str | None, subject: dict[str, Any],
            reference: dict[str, Any], reference_label: str) -> Figure:
    subject_runs, reference_runs = [], []
    for _ in range(opts.repeats):
        reference_runs.append(run_load(reference))
        subject_runs.append(run_load(subject))
    return figure_from(scenario, name, db, subject_runs, reference_runs, reference_label)


def figure_from(scenario: str, name: str, db: str | None, runs: list[dict[str, Any]],
                reference_runs: list[dict[str, Any]] | None, reference_label: str | None,
                note: str = "") -> Figure:
    value, spread = median_spread([r["rps"] for r in runs])
    ratio = ratio_spread = None
    if reference_runs:
        ratios = [s["rps"] / r["rps"] for s, r in zip(runs, reference_runs, strict=True) if r["rps"]]
        ratio, ratio_spread = median_spread(ratios)
        ref_rps = statistics.median(r["rps"] for r in reference_runs)
        reference_label = f"{reference_label}: {ref_rps:,.0f} req/s"
    bad = [r for r in runs if ok_ratio(r) < 0.999]
    if bad:
        note = (note + "; " if note else "") + f"non-2xx answers in {len(bad)} of {len(runs)} runs"
    return Figure(scenario, name, db, value, "req/s", spread,
                  p50_ms=statistics.median(r["p50_ms"] for r in runs),
                  p99_ms=statistics.median(r["p99_ms"] for r in runs), ratio=ratio, ratio_spread=ratio_spread,
                  reference=reference_label, note=note,
                  runs=[{"subject": s, "reference": r} for s, r in
                        zip(runs, reference_runs or [None] * len(runs), strict=True)])


async def create_payments(gw: GatewayProcess, count: int, *, concurrency: int = 16,
                          **extra: Any) -> list[dict[str, Any]]:
    """``count`` payments through the API (fixed ``channel`` in ``extra`` makes channel attempts)."""
    import asyncio

    sem = asyncio.Semaphore(concurrency)
    tag = f"{id(gw) % 10**6}{len(extra)}"

    async def one(http: aiohttp.ClientSession, i: int) -> dict[str, Any]:
        async with sem:
            status, body = await gw.api(http, "POST", "/payments", create_body(f"b{tag}x{i}x{_nonce()}", **extra))
            if status != 201:
                raise RuntimeError(f"create failed: {status} {json.dumps(body)[:300]}")
            return body

    async with aiohttp.ClientSession() as http:
        return list(await asyncio.gather(*(one(http, i) for i in range(count))))


def _nonce() -> str:
    import secrets

    return secrets.token_hex(4)
