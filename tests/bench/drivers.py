"""The MariaDB driver choice (issue 14): the gateway's own engine (:class:`gateway.store.db.Database`,
its pools and statements) over aiomysql and over asyncmy, on the same database, the drivers interleaved
repeat by repeat. Two figures per driver at the run's concurrency: a payment read (``get_payment``, the
27-column row every API answer and page starts from) and a write transaction (one conditional UPDATE and
its commit). The ratio is the driver's rate over aiomysql's in the same repeat."""
from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from gateway.store import payments as payments_repo
from gateway.store.base import utcnow, write
from gateway.store.db import Database
from gateway.store.migrate import upgrade
from tests.bench.common import Options
from tests.bench.procs import drop_all_tables
from tests.bench.report import Figure, median_spread
from tests.support.urls import sync_mysql

DRIVERS = ("aiomysql", "asyncmy")
_BUMP = (sa.update(payments_repo.payments).where(payments_repo.payments.c.id == sa.bindparam("_id"))
         .values(description=sa.bindparam("_d")))


def _url(url: str, driver: str) -> str:
    return make_url(url).set(drivername=f"mysql+{driver}").render_as_string(hide_password=False)


async def _rate(concurrency: int, count: int, one: Callable[[int], Awaitable[object]]) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def bounded(i: int) -> None:
        async with gate:
            await one(i)

    await asyncio.gather(*(bounded(i) for i in range(min(200, count))))  # warm: pools filled
    began = time.perf_counter()
    await asyncio.gather(*(bounded(i) for i in range(count)))
    return count / (time.perf_counter() - began)


async def _measure(url: str, concurrency: int, count: int) -> tuple[float, float]:
    db = Database(url)
    try:
        async with db.read() as conn:
            payment_id = (await conn.execute(sa.text("SELECT id FROM payments LIMIT 1"))).scalar_one()

        async def read(_: int) -> object:
            async with db.read() as conn:
                return await payments_repo.get_payment(conn, payment_id)

        async def update(i: int) -> object:
            async with db.begin() as conn:
                return await write(conn, _BUMP, {"_id": payment_id, "_d": str(i)})

        return await _rate(concurrency, count, read), await _rate(concurrency, count // 3, update)
    finally:
        await db.dispose()


def _seed(url: str) -> None:
    drop_all_tables(url)
    upgrade(url)
    now = utcnow()
    engine = sa.create_engine(sync_mysql(url))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO merchants (id, name, api_key_hash, api_key_hint, webhook_secret_sealed, return_domains,"
                " created_at) VALUES ('mch_bench', 'Bench', 'h', 'k', 's', '[]', :now)"), {"now": now})
            conn.execute(sa.insert(payments_repo.payments), {
                "id": "pay_bench", "merchant_id": "mch_bench", "out_trade_no": "o1", "amount": 1999,
                "currency": "CNY", "subject": "Bench order", "status": "pending", "metadata": "{}",
                "capture_method": "automatic", "expires_at": now + timedelta(hours=1), "created_at": now,
                "updated_at": now})
    finally:
        engine.dispose()


async def drivers(opts: Options) -> list[Figure]:
    if "mysql" not in opts.dbs:
        return []
    installed = [d for d in DRIVERS if importlib.util.find_spec(d) is not None]
    await asyncio.to_thread(_seed, opts.mysql_url)
    count = 600 if opts.quick else 6000
    reads: dict[str, list[float]] = {d: [] for d in installed}
    writes: dict[str, list[float]] = {d: [] for d in installed}
    for _ in range(opts.repeats):
        for driver in installed:
            r, w = await _measure(_url(opts.mysql_url, driver), opts.concurrency, count)
            reads[driver].append(r)
            writes[driver].append(w)
    figures = []
    for what, rates in (("payment read (get_payment)", reads), ("write transaction (one UPDATE, commit)", writes)):
        base = rates.get("aiomysql")
        for driver in installed:
            value, spread = median_spread(rates[driver])
            ratios = [r / b for r, b in zip(rates[driver], base, strict=True)] if base else []
            figure = Figure("drivers", f"MariaDB driver {driver}: {what}", "mysql", value, "ops/s", spread,
                            reference="aiomysql, interleaved, same engine",
                            note=f"gateway.store.db.Database over mysql+{driver}, concurrency {opts.concurrency}")
            if ratios:
                figure.ratio, figure.ratio_spread = median_spread(ratios)
            figures.append(figure)
    return figures
