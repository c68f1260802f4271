"""Scenarios of issue 6, background work (``gateway/tasks/``): webhook deliveries per second to a local
receiver, and the expiry sweep's claim with 1M payment rows against 10k (it must not scan the table)."""
from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import aiohttp
import sqlalchemy as sa

from gateway.config import Settings
from gateway.store import leases
from gateway.store.base import utcnow
from gateway.store.db import Database
from gateway.store.migrate import upgrade_async
from gateway.store.tables import deliveries, events, payments
from gateway.tasks.runner import BATCH, WEBHOOKS_IN_FLIGHT
from tests.bench import seed
from tests.bench.common import Options, create_body, plan
from tests.bench.load import percentile
from tests.bench.procs import GatewayProcess, Receiver, drop_all_tables, run_load
from tests.bench.report import Figure, median_spread

# -- webhooks ---------------------------------------------------------------------------------------

MERCHANTS = 8  # × GATEWAY_WEBHOOK_CONCURRENCY (4) = 32 deliveries in flight = the runner's own cap


async def _emit_closed_events(gw: GatewayProcess, api_keys: list[str], per_merchant: int) -> None:
    """The real path: each merchant creates payments through the API and closes them, so the gateway
    itself writes one ``payment.closed`` event per payment (``gateway.store.events.emit``)."""
    sem = asyncio.Semaphore(16)

    async def one(http: aiohttp.ClientSession, key: str, i: int) -> None:
        async with sem:
            status, body = await gw.api(http, "POST", "/payments", create_body(f"wh{i}x{key[-6:]}"), api_key=key)
            if status != 201:
                raise RuntimeError(f"create failed: {status} {json.dumps(body)[:300]}")
            status, body = await gw.api(http, "POST", f"/payments/{body['id']}/close", api_key=key)
            if status != 200:
                raise RuntimeError(f"close failed: {status} {json.dumps(body)[:300]}")

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(one(http, key, i) for key in api_keys for i in range(per_merchant)))


async def _count(db: Database, merchant_ids: list[str], status: str) -> int:
    async with db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(events).where(
            events.c.merchant_id.in_(merchant_ids), events.c.delivery_status == status))).scalar_one())


async def _arm(db: Database, merchant_ids: list[str], *, due: bool) -> None:
    """``due``: every event pending from now with a fresh schedule -- what ``outbox.resend`` does to one
    event, done to all at once; otherwise parked (``none``: not for delivery) while the server restarts."""
    values: dict[str, Any] = {"delivery_status": "pending" if due else "none", "attempts": 0,
                              "next_attempt_at": utcnow() if due else None, "delivered_at": None, "lease_until": None}
    async with db.begin() as conn:
        await conn.execute(sa.update(events).where(events.c.merchant_id.in_(merchant_ids)).values(**values))


async def _deliver_all(db: Database, merchant_ids: list[str], total: int, give_up_after: float) -> float:
    """Arm every event and wait until all are ``delivered``; the seconds that took (polled every 20 ms)."""
    await _arm(db, merchant_ids, due=True)
    started = time.perf_counter()
    while await _count(db, merchant_ids, "delivered") < total:
        if time.perf_counter() - started > give_up_after:
            raise RuntimeError(f"webhooks: not all {total} events delivered after {give_up_after:.0f}s")
        await asyncio.sleep(0.02)
    return time.perf_counter() - started


async def _webhooks_on(opts: Options, db_name: str, per_merchant: int) -> Figure:
    concurrency = min(WEBHOOKS_IN_FLIGHT, MERCHANTS * Settings.webhook_concurrency)
    total = MERCHANTS * per_merchant
    with Receiver() as receiver, opts.gateway(db_name) as gw:
        with ThreadPoolExecutor(4) as pool:  # each is a Python start-up: two cores, so a few at a time
            made = list(pool.map(lambda i: gw.create_merchant(f"Hook Shop {i}", "--webhook-url",
                                                              f"{receiver.url}/hook"), range(MERCHANTS)))
        merchant_ids = [m["merchant_id"] for m in made]
        await _emit_closed_events(gw, [m["api_key"] for m in made], per_merchant)
        db = Database(gw.database_url)
        try:
            if (pending := await _count(db, merchant_ids, "pending")) != total:
                raise RuntimeError(f"webhooks: {pending} events pending, expected {total}")
            async with db.read() as conn:
                bodies = list((await conn.execute(sa.select(events.c.payload).where(
                    events.c.merchant_id.in_(merchant_ids)))).scalars())
            await _arm(db, merchant_ids, due=False)
            gw.restart(background=True, GATEWAY_TASK_INTERVAL="0.01")
            # The gateway's bodies and headers of the same shape (signature: one v1 HMAC-SHA256), cycled
            # for a fixed duration: one pass over a few hundred bodies would last a tenth of a second.
            reference = plan(opts, receiver.url, [{"method": "POST", "path": "/ref", "body": body, "headers": {
                "Content-Type": "application/json", "webhook-id": f"evt_ref{i}",
                "webhook-timestamp": str(int(time.time())), "webhook-signature": "v1," + "x" * 44}}
                for i, body in enumerate(bodies)], concurrency=concurrency, driver="python",
                warmup=min(opts.warmup, 0.5), duration=min(opts.duration, 1.5))
            runs, reference_runs, notes = [], [], []
            async with aiohttp.ClientSession() as http:
                for _ in range(opts.repeats):  # interleaved: reference, gateway, reference, gateway, …
                    reference_runs.append(await asyncio.to_thread(run_load, reference))
                    await receiver.reset(http)
                    logged = await _last_delivery(db)
                    seconds = await _deliver_all(db, merchant_ids, total, give_up_after=120)
                    await asyncio.sleep(0.2)  # a duplicate would arrive about now
                    got = (await receiver.stats(http)).get("/hook", {})
                    retried = await _retried(db, merchant_ids)
                    latencies = await _latencies(db, after=logged)
                    runs.append({"rps": total / seconds, "seconds": round(seconds, 3), "events": total,
                                 "received": got.get("requests"), "distinct": got.get("distinct"),
                                 "retried": retried, "p50_ms": percentile(latencies, 50),
                                 "p99_ms": percentile(latencies, 99)})
                    if got.get("requests") != total or got.get("distinct") != total or retried:
                        notes.append(f"receiver got {got.get('requests')} requests for {got.get('distinct')} "
                                     f"of {total} events, {retried} events needed a retry")
        finally:
            await db.dispose()
    value, spread = median_spread([r["rps"] for r in runs])
    ratio, ratio_spread = median_spread([s["rps"] / r["rps"] for s, r in zip(runs, reference_runs, strict=True)])
    size = round(statistics.median(len(b) for b in bodies))
    ref_rps = statistics.median(r["rps"] for r in reference_runs)
    return Figure(
        "webhooks", "webhook deliveries per second", db_name, value, "deliveries/s", spread,
        p50_ms=statistics.median(r["p50_ms"] for r in runs),
        p99_ms=statistics.median(r["p99_ms"] for r in runs), ratio=ratio, ratio_spread=ratio_spread,
        reference=f"bare aiohttp client POSTing the same {size} B bodies to the same receiver, "
                  f"{concurrency} in flight: {ref_rps:,.0f} req/s, p50 "
                  f"{statistics.median(r['p50_ms'] for r in reference_runs):.1f} ms",
        note="; ".join(notes) or (
            f"{total} payment.closed events ({MERCHANTS} merchants × {per_merchant}, emitted through the API: "
            f"create + close), all re-armed at once per run; each received exactly once, none retried; "
            f"p50/p99: the gateway's logged POST → answer latency per attempt"),
        runs=[{"subject": s, "reference": r} for s, r in zip(runs, reference_runs, strict=True)])


async def _last_delivery(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.coalesce(sa.func.max(deliveries.c.id), 0)))).scalar_one())


async def _latencies(db: Database, *, after: int) -> list[float]:
    """The delivery log's POST → answer times (ms) of the attempts logged after delivery ``after``."""
    async with db.read() as conn:
        return sorted(float(v) for v in (await conn.execute(
            sa.select(deliveries.c.latency_ms).where(deliveries.c.id > after))).scalars())


async def _retried(db: Database, merchant_ids: list[str]) -> int:
    async with db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(events).where(
            events.c.merchant_id.in_(merchant_ids), events.c.attempts != 1))).scalar_one())


async def webhooks(opts: Options) -> list[Figure]:
    """Deliveries/s of the gateway's own runner (``GATEWAY_BACKGROUND=1``, default concurrency limits)
    to a bare receiver, beside a bare aiohttp client sending the same bodies at the same concurrency."""
    per_merchant = 10 if opts.quick else 40
    return [await _webhooks_on(opts, db, per_merchant) for db in opts.dbs]


# -- expiry -----------------------------------------------------------------------------------------

DUE = 3000  # pending payments past their expires_at, the same number at every table size


@contextmanager
def _statements() -> Iterator[list[tuple[str, Any]]]:
    """Every statement any engine sends while inside, with its parameters (to EXPLAIN what ran)."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, parameters))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)


async def _claim_once(db: Database) -> tuple[float, list[str]]:
    """The expiry loop's claim (``Runner._batch``: ``leases.claim`` of ``leases.EXPIRY``), timed; then,
    untimed, what the job's close does to the rows: they leave the pending range."""
    started = time.perf_counter()
    async with db.begin() as conn:
        rows = await leases.claim(conn, leases.EXPIRY, limit=BATCH, until=leases.token(timedelta(seconds=120)))
    seconds = time.perf_counter() - started
    ids = [r["id"] for r in rows]
    if len(ids) != BATCH:
        raise RuntimeError(f"expiry: claimed {len(ids)} rows, expected {BATCH}")
    async with db.begin() as conn:
        await conn.execute(sa.update(payments).where(payments.c.id.in_(ids))
                           .values(status="closed", closed_at=utcnow(), lease_until=None))
    return seconds, ids


async def _measure_claims(db: Database, repeats: int, claims: int) -> list[float]:
    """Median ms per claim, one per repeat; the due rows are put back afterwards."""
    medians, taken = [], []
    for _ in range(2):  # warm-up: caches, prepared plans
        taken += (await _claim_once(db))[1]
    for _ in range(repeats):
        times = []
        for _ in range(claims):
            seconds, ids = await _claim_once(db)
            times.append(seconds * 1000)
            taken += ids
        medians.append(statistics.median(times))
    async with db.begin() as conn:
        for i in range(0, len(taken), 500):
            await conn.execute(sa.update(payments).where(payments.c.id.in_(taken[i:i + 500]))
                               .values(status="pending", closed_at=None))
    return medians


async def _claim_select(db: Database) -> tuple[str, Any]:
    """The claim's SELECT of due rows and its parameters, exactly as one claim sends it."""
    with _statements() as seen:
        await _claim_once(db)
    return next((s, p) for s, p in seen if s.lstrip().upper().startswith("SELECT") and "expires_at" in s)


async def _plan(db: Database) -> str:
    """The query plan of the claim's SELECT."""
    statement, params = await _claim_select(db)
    async with db.read() as conn:
        if db.is_sqlite:
            rows = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)).all()
            return " / ".join(str(r[-1]) for r in rows)
        result = await conn.exec_driver_sql("EXPLAIN " + statement, params)
        return " / ".join(f"{r['table']}: type={r['type']} key={r['key']} rows={r['rows']} extra={r['Extra']}"
                          for r in result.mappings())


async def _scan_ms(db: Database) -> float:
    """The same SELECT with the index ignored: what the claim would cost if it scanned (a reference)."""
    statement, params = await _claim_select(db)
    hint = "payments NOT INDEXED" if db.is_sqlite else "payments IGNORE INDEX (ix_payments_status_expires)"
    scan = statement.replace("FROM payments", f"FROM {hint}", 1)
    times = []
    async with db.read() as conn:
        for _ in range(3):
            started = time.perf_counter()
            await conn.exec_driver_sql(scan.replace(" FOR UPDATE SKIP LOCKED", ""), params)
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def _expiry_on(opts: Options, db_name: str, tmp: str) -> list[Figure]:
    small, large = 10_000, (100_000 if opts.quick else 1_000_000)
    claims = 20 if opts.quick else 60
    url = opts.mysql_url if db_name == "mysql" else f"sqlite+aiosqlite:///{tmp}/expiry.sqlite3"
    if db_name == "mysql":
        await asyncio.to_thread(drop_all_tables, url)
    await upgrade_async(url)
    db = Database(url)
    try:
        merchant_id = await seed.merchant(db)
        seeded = {}
        at_small = await seed.payments(db, merchant_id, 1, small, due=DUE)
        small_ms = await _measure_claims(db, opts.repeats, claims)
        seeded[small] = at_small
        seeded[large] = await seed.payments(db, merchant_id, small + 1, large, due=DUE)
        large_ms = await _measure_claims(db, opts.repeats, claims)
        query_plan = await _plan(db)
        scan = await _scan_ms(db)
    finally:
        await db.dispose()
    figures = []
    for rows, ms in ((small, small_ms), (large, large_ms)):
        value, spread = median_spread(ms)
        figures.append(Figure("expiry", f"expiry claim of {BATCH} due rows, {rows:,} payment rows", db_name, value,
                              "ms/claim", spread, note=f"{DUE:,} due pending rows; seeded in {seeded[rows]:.1f}s"))
    ratio, ratio_spread = median_spread([big / little for big, little in zip(large_ms, small_ms, strict=True)])
    figures[1].ratio, figures[1].ratio_spread = ratio, ratio_spread
    figures[1].reference = (f"same claim at {small:,} rows: {figures[0].value:.2f} ms (ratio {large:,}/{small:,}; "
                            f"goal ≈ 1); the SELECT with the index ignored (a scan) at {large:,}: {scan:,.0f} ms")
    figures[1].note += f"; plan: {query_plan}"
    return figures


async def expiry(opts: Options) -> list[Figure]:
    """The expiry loop's claim of one batch, in process against ``gateway.store.db.Database`` on the
    migrated schema: at 10k payment rows, then at 1M (``--quick``: 100k), with the same due rows."""
    import tempfile

    figures = []
    with tempfile.TemporaryDirectory(prefix="gateway-bench-expiry-") as tmp:
        for db_name in opts.dbs:
            figures += await _expiry_on(opts, db_name, tmp)
    return figures
