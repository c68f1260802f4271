"""Scenarios of issues 2, 3 and 14: the merchant API against the bare reference, callback ingest against
the database's commit ceiling (bare driver) and against a shop's own SDK-based handler (the peer), and the
crypto steps against their primitives."""
from __future__ import annotations

import asyncio
import json
import statistics
from typing import Any

import sqlalchemy as sa

from gateway.store.db import Database
from gateway.store.tables import attempts, notify_log, payments
from tests.bench import ceiling, notifies, peer
from tests.bench.common import Options, compare, create_body, create_payments, figure_from, ok_ratio, plan
from tests.bench.crypto import cases, per_op_us
from tests.bench.procs import GatewayProcess, Peer, Reference, run_load
from tests.bench.report import Figure, median_spread


async def api(opts: Options) -> list[Figure]:
    """Payment create (no channel; then with an Idempotency-Key, as merchants send it) and payment GET, each
    beside the reference answering as much JSON."""
    figures = []
    for db in opts.dbs:
        with opts.gateway(db) as gw:
            created = (await create_payments(gw, 1))[0]
            size = len(json.dumps(created))
            body = json.dumps(create_body("bench@N@"))
            headers = gw.api_headers
            create = plan(opts, gw.url, [{"method": "POST", "path": "/api/v1/payments", "headers": headers,
                                          "body": body}])
            keyed = plan(opts, gw.url, [{"method": "POST", "path": "/api/v1/payments", "body": body,
                                         "headers": {**headers, "Idempotency-Key": "bench-@N@"}}])
            get = plan(opts, gw.url, [{"method": "GET", "path": f"/api/v1/payments/{created['id']}",
                                       "headers": headers}])
            with Reference(size) as ref:
                ref_post = plan(opts, ref.url, [{"method": "POST", "path": "/ref", "headers": headers,
                                                 "body": body}])
                ref_get = plan(opts, ref.url, [{"method": "GET", "path": "/ref", "headers": headers}])
                label = f"bare aiohttp, {size} B JSON"
                figures.append(compare(opts, "api", "payment create (no channel)", db, create, ref_post,
                                       f"POST {label}"))
                figures.append(compare(opts, "api", "payment create with an Idempotency-Key", db, keyed,
                                       ref_post, f"POST {label}"))
                figures.append(compare(opts, "api", "payment GET", db, get, ref_get, f"GET {label}"))
    return figures


def crypto(opts: Options, keys: dict[str, Any] | None = None) -> list[Figure]:
    if keys is None:
        from tests.factories import shared_sandbox_keys

        keys = json.loads(shared_sandbox_keys())
    budget = 0.3 if opts.quick else 2.0
    figures = []
    for name, ours, bare_name, bare in cases(keys):
        ours_us, bare_us = [], []
        for _ in range(opts.repeats):  # interleaved, as the HTTP figures are
            bare_us += per_op_us(bare, budget=budget / 2, repeats=1)
            ours_us += per_op_us(ours, budget=budget / 2, repeats=1)
        value, spread = median_spread(ours_us)
        ratios = [b / o for b, o in zip(bare_us, ours_us, strict=True)]
        ratio, ratio_spread = median_spread(ratios)
        figures.append(Figure("crypto", name, None, value, "µs/op", spread, ratio=ratio, ratio_spread=ratio_spread,
                              reference=f"{bare_name}: {statistics.median(bare_us):.1f} µs/op",
                              note=f"{1e6 / value:,.0f} ops/s on one core"))
    return figures


async def attempts_by_payment(url: str, payment_ids: list[str]) -> dict[str, tuple[str, int]]:
    """payment id → (its attempt's id = the channel's out_trade_no, amount in fen), read from the store."""
    db = Database(url)
    try:
        async with db.read() as conn:
            rows = (await conn.execute(sa.select(attempts.c.id, attempts.c.amount, attempts.c.payment_id)
                                       .where(attempts.c.payment_id.in_(payment_ids)))).all()
    finally:
        await db.dispose()
    if len(rows) != len(payment_ids):
        raise RuntimeError(f"expected {len(payment_ids)} attempts, found {len(rows)}")
    return {r.payment_id: (r.id, int(r.amount)) for r in rows}


async def _outcome(url: str, payment_ids: list[str]) -> tuple[int, int]:
    """(payments now paid, callbacks logged as applied) among ``payment_ids``."""
    db = Database(url)
    try:
        async with db.read() as conn:
            paid = (await conn.execute(sa.select(sa.func.count()).select_from(payments).where(
                payments.c.id.in_(payment_ids), payments.c.status == "paid"))).scalar_one()
            trade_nos = sa.select(attempts.c.id).where(attempts.c.payment_id.in_(payment_ids))
            applied = (await conn.execute(sa.select(sa.func.count()).select_from(notify_log).where(
                notify_log.c.trade_no.in_(trade_nos), notify_log.c.result == "applied"))).scalar_one()
    finally:
        await db.dispose()
    return int(paid), int(applied)


BARE = {"sqlite": "sqlite3", "mysql": "PyMySQL"}
ENGINE = {"sqlite": "sqlite3 on the loop", "mysql": "aiomysql"}  # gateway.store.sqlite_sync on SQLite


async def _ceiling(opts: Options, gw: GatewayProcess, db: str) -> list[Figure]:
    """The commit ceiling of the very database the gateway uses (SQLite: a file beside it), with the bare
    driver and -- interleaved, for what the async stack costs -- through the gateway's engine."""
    assert gw.data_dir is not None
    path = gw.data_dir / "ceiling.sqlite3"
    engine_url = gw.database_url if db == "mysql" else f"sqlite+aiosqlite:///{path}"
    seconds = 1.0 if opts.quick else 3.0
    levels = [1] + ([opts.concurrency] if db == "mysql" else [])
    figures = []
    for n in levels:
        conns = f"{n} connection{'s' if n > 1 else ''}"
        bare, engine = [], []
        for _ in range(opts.repeats):
            if db == "sqlite":
                bare.append(await asyncio.to_thread(ceiling.sqlite_commits_per_second, path, seconds=seconds))
            else:
                bare.append(await asyncio.to_thread(ceiling.mysql_commits_per_second, gw.database_url,
                                                    connections=n, seconds=seconds))
            engine.append(await ceiling.engine_commits_per_second(engine_url, connections=n, seconds=seconds))
        value, spread = median_spread(bare)
        how = "BEGIN IMMEDIATE, INSERT, COMMIT; the gateway's pragmas" if db == "sqlite" else \
            "INSERT, COMMIT; autocommit off" + (", a thread per connection" if n > 1 else "")
        figures.append(Figure("ingest", f"commit ceiling, bare {BARE[db]}, {conns}", db, value, "commits/s",
                              spread, note=f"{how}; {seconds:g} s loops"))
        value, spread = median_spread(engine)
        ratio, ratio_spread = median_spread([e / b for e, b in zip(engine, bare, strict=True)])
        figures.append(Figure("ingest", f"commit ceiling through the gateway's engine ({ENGINE[db]}), {conns}",
                              db, value, "commits/s", spread, ratio=ratio, ratio_spread=ratio_spread,
                              reference=f"bare {BARE[db]}, {conns}: {statistics.median(bare):,.0f}/s",
                              note="Database.begin() + INSERT; interleaved with the bare loop"))
    return figures


def _peer_label(channel: str, db: str) -> str:
    sdk = "python-alipay-sdk verify" if channel == "alipay" else "wechatpayv3 verify + decrypt"
    driver = peer.DEFAULT_DRIVER[db, channel]
    how = {"sqlite3": "sqlite3, blocking on its loop", "pymysql": "PyMySQL, blocking on its loop",
           "pymysql-threads": "PyMySQL in 8 threads", "aiomysql": "aiomysql, pool of 8"}[driver]
    return f"peer: {sdk} + one UPDATE ({how})"


async def ingest(opts: Options) -> list[Figure]:
    """Signed (Alipay) and signed + encrypted (WeChat) callbacks for real attempts, POSTed concurrently;
    every one must be applied and leave its payment ``paid``. The same callbacks go first to the peer (a
    shop's SDK-based handler over its own table of the same trades), then to the gateway, repeat by
    repeat."""
    figures: list[Figure] = []
    for db in opts.dbs:
        with opts.gateway(db) as gw:
            commit = await _ceiling(opts, gw, db)
            figures += commit
            keys = gw.sandbox_keys()
            per_batch = max(1, opts.callbacks // opts.repeats)
            for channel, method, build in (("alipay", "alipay_qr", notifies.alipay),
                                           ("wechat", "wechat_native", notifies.wechat)):
                with Peer(gw.sandbox_keys_path, gw.database_url, peer.DEFAULT_DRIVER[db, channel]) as shop:
                    runs, peer_runs, notes = [], [], []
                    for _ in range(opts.repeats):
                        created = await create_payments(gw, per_batch, channel=method)
                        ids = [p["id"] for p in created]
                        trades = list((await attempts_by_payment(gw.database_url, ids)).values())
                        requests = await asyncio.to_thread(build, keys[channel], f"{gw.url}/notify/{channel}",
                                                           trades)
                        await asyncio.to_thread(peer.seed, gw.database_url, trades)
                        load = {"requests": requests, "mode": "once", "driver": "python",
                                "concurrency": min(opts.concurrency, per_batch)}
                        theirs = run_load({"base": shop.url, **load})
                        theirs |= {"paid": await asyncio.to_thread(peer.paid, gw.database_url, trades),
                                   "sent": len(requests)}
                        peer_runs.append(theirs)
                        result = run_load({"base": gw.url, **load})
                        paid, applied = await _outcome(gw.database_url, ids)
                        result |= {"paid": paid, "applied": applied, "sent": len(requests)}
                        runs.append(result)
                        if paid != len(ids) or applied != len(ids):
                            notes.append(f"only {paid}/{len(ids)} paid, {applied} applied")
                        if theirs["paid"] != len(ids) or ok_ratio(theirs) < 1:
                            notes.append(f"peer: only {theirs['paid']}/{len(ids)} paid, "
                                         f"answers {theirs['statuses']}")
                    what = "signed" if channel == "alipay" else "signed + AES-GCM encrypted"
                    name = f"{channel} callback ingest ({what})"
                    note = "; ".join(notes) or f"{per_batch} callbacks per run, all applied and paid"
                    figure = figure_from("ingest", name, db, runs, None, None, note=note)
                    one_conn = commit[0]
                    assert one_conn.value is not None
                    figure.ratio = figure.value / one_conn.value if figure.value else None
                    figure.reference = f"{one_conn.name}: {one_conn.value:,.0f}/s"
                    figures.append(figure)
                    figures.append(figure_from(
                        "ingest", f"{channel} callback ingest beside the peer", db, runs, peer_runs,
                        _peer_label(channel, db),
                        note=f"the same {per_batch} callbacks per run, peer and gateway interleaved; "
                             + ("; ".join(notes) or "all paid on both")))
    return figures
