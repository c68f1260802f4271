"""How cost grows with the table (issue 14): payment create and Alipay callback ingest measured on a
gateway whose ``payments`` table holds 10,000 rows, then -- the same server, the same merchant -- after
the database itself has added rows up to 1,000,000 (``tests/bench/seed.py``'s INSERT … SELECT, another
merchant's paid, closed and pending payments). Goal: at a million, within 1.2× of the cost at ten
thousand, i.e. a rate ratio of at least 0.83.

The two sizes cannot be interleaved (rows are only ever added), so the 10k runs come first: a change of
load on the machine between them shows as noise in the ratio's spread.
"""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from gateway.store.db import Database
from tests.bench import notifies, seed
from tests.bench.common import Options, create_body, create_payments, figure_from, plan
from tests.bench.procs import GatewayProcess, run_load
from tests.bench.report import Figure
from tests.bench.scenarios import attempts_by_payment

SIZES = (10_000, 1_000_000)
QUICK_SIZES = (2_000, 20_000)


async def _grow(url: str, merchant_id: str, first: int, last: int) -> float:
    db = Database(url)
    try:
        return await seed.payments(db, merchant_id, first, last, due=0)
    finally:
        await db.dispose()


async def _ingest_once(gw: GatewayProcess, opts: Options, count: int) -> dict[str, Any]:
    created = await create_payments(gw, count, channel="alipay_qr")
    trades = list((await attempts_by_payment(gw.database_url, [p["id"] for p in created])).values())
    requests = await asyncio.to_thread(notifies.alipay, gw.sandbox_keys()["alipay"], f"{gw.url}/notify/alipay",
                                       trades)
    return run_load({"base": gw.url, "requests": requests, "mode": "once",
                     "concurrency": min(opts.concurrency, count), "driver": "python"})


async def _measure(gw: GatewayProcess, opts: Options) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    create = plan(opts, gw.url, [{"method": "POST", "path": "/api/v1/payments", "headers": gw.api_headers,
                                  "body": json.dumps(create_body("scale@N@"))}])
    creates, ingests = [], []
    callbacks = max(1, opts.callbacks // opts.repeats)
    for _ in range(opts.repeats):
        creates.append(run_load(create))
        ingests.append(await _ingest_once(gw, opts, callbacks))
    return creates, ingests


async def scale(opts: Options) -> list[Figure]:
    small, large = QUICK_SIZES if opts.quick else SIZES
    figures = []
    for db in opts.dbs:
        with opts.gateway(db) as gw:
            bench_db = Database(gw.database_url)
            try:
                other = await seed.merchant(bench_db)
            finally:
                await bench_db.dispose()
            started = time.perf_counter()
            await _grow(gw.database_url, other, 1, small)
            creates_small, ingests_small = await _measure(gw, opts)
            grown = await _grow(gw.database_url, other, small + 1, large)
            creates_large, ingests_large = await _measure(gw, opts)
            label = f"the same at {small:,} payments"
            note = f"{large - small:,} rows added by the database in {grown:.0f} s; scenario {time.perf_counter() - started:.0f} s"
            figures.append(figure_from("scale", f"payment create at {large:,} payments", db, creates_large,
                                       creates_small, f"create, {label}", note=note))
            figures.append(figure_from("scale", f"alipay callback ingest at {large:,} payments", db, ingests_large,
                                       ingests_small, f"ingest, {label}", note=note))
    return figures
