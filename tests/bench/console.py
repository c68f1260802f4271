"""``python -m tests.bench.console [--rows N] [--db sqlite|mysql] [--runs R]``: the console's dashboard
and payment search against N payments (default 1,000,000) with one attempt each, written by the database
itself (as :mod:`tests.bench.seed` does), spread over ~90 days. Measures request time (loopback HTTP, a
signed-in owner) per page: p50 / p99 / max in ms."""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from gateway.store.base import utcnow
from gateway.store.db import Database
from gateway.store.migrate import upgrade_async
from gateway.store.tables import channel_accounts, merchants
from tests.bench.procs import DEFAULT_MYSQL_URL
from tests.support.net import free_port

MERCHANT, ACCOUNT = "mch_bench_console", "acct_bench_console"
SPREAD = 8  # seconds between consecutive payments: a million cover ~92 days

_P = ("id, merchant_id, out_trade_no, amount, currency, subject, status, refundable_amount, refunded_amount, "
      "metadata, late, expires_at, created_at, updated_at, paid_at, paid_attempt_id")
_A = ("id, payment_id, merchant_id, account_id, channel, pay_method, amount, currency, status, pay_data, "
      "channel_trade_no, sync_count, created_at, updated_at, paid_at")
_PAID = "{n} % 10 < 7"  # 70 % paid, 10 % closed, 20 % still pending
_PAY_SELECT = f"""SELECT {{pid}}, :merchant, {{trade_no}}, 100 + {{n}} % 50000, 'CNY', 'Bench order',
  CASE WHEN {_PAID} THEN 'paid' WHEN {{n}} % 10 = 7 THEN 'closed' ELSE 'pending' END,
  CASE WHEN {_PAID} THEN 100 + {{n}} % 50000 ELSE 0 END, 0, '{{{{}}}}', 0, {{ago}}, {{ago}}, {{ago}},
  CASE WHEN {_PAID} THEN {{ago}} END, CASE WHEN {_PAID} THEN {{aid}} END"""
_ATT_SELECT = f"""SELECT {{aid}}, {{pid}}, :merchant, :account,
  CASE WHEN {{n}} % 3 = 0 THEN 'wechat' ELSE 'alipay' END,
  CASE WHEN {{n}} % 3 = 0 THEN 'wechat_native' ELSE 'alipay_qr' END, 100 + {{n}} % 50000, 'CNY',
  CASE WHEN {_PAID} THEN 'succeeded' WHEN {{n}} % 10 = 7 THEN 'closed' ELSE 'pending' END, '{{{{}}}}',
  CASE WHEN {_PAID} THEN {{ctn}} END, 0, {{ago}}, {{ago}}, CASE WHEN {_PAID} THEN {{ago}} END"""


async def seed(db: Database, rows: int) -> float:
    now = utcnow()
    async with db.begin() as conn:
        await conn.execute(sa.insert(merchants).values(
            id=MERCHANT, name="Console Bench", api_key_hash="1" * 64, api_key_hint="0000",
            webhook_secret_sealed="-", return_domains="[]", created_at=now))
        await conn.execute(sa.insert(channel_accounts).values(
            id=ACCOUNT, merchant_id=MERCHANT, channel="alipay", account_ref="bench", credentials_sealed="-",
            pay_methods="[]", active=True, created_at=now))
    past = (now.replace(tzinfo=None) - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S.%f")
    started = time.perf_counter()
    for first in range(1, rows + 1, 200_000):  # in chunks: bounded transactions
        last = min(rows, first + 199_999)
        params = {"merchant": MERCHANT, "account": ACCOUNT, "past": past, "first": first, "last": last}
        if db.is_sqlite:
            parts = {"n": "n", "pid": "printf('pay_bc%015d', n)", "aid": "printf('att_bc%015d', n)",
                     "trade_no": "'bo' || n", "ctn": "printf('2026%024d', n)",
                     "ago": f"datetime(:past, printf('-%d seconds', n * {SPREAD})) || '.000000'"}
            series = ("WITH RECURSIVE series(n) AS (SELECT :first UNION ALL SELECT n + 1 FROM series "
                      "WHERE n < :last) ")
            statements = [f"INSERT INTO payments ({_P}) {series}{_PAY_SELECT.format(**parts)} FROM series",
                          f"INSERT INTO payment_attempts ({_A}) {series}{_ATT_SELECT.format(**parts)} FROM series"]
        else:
            parts = {"n": "seq", "pid": "CONCAT('pay_bc', LPAD(seq, 15, '0'))",
                     "aid": "CONCAT('att_bc', LPAD(seq, 15, '0'))", "trade_no": "CONCAT('bo', seq)",
                     "ctn": "CONCAT('2026', LPAD(seq, 24, '0'))", "ago": f"TIMESTAMPADD(SECOND, -seq * {SPREAD}, :past)"}
            statements = [f"INSERT INTO payments ({_P}) {_PAY_SELECT.format(**parts)} FROM seq_{first}_to_{last}",
                          f"INSERT INTO payment_attempts ({_A}) {_ATT_SELECT.format(**parts)} FROM seq_{first}_to_{last}"]
        async with db.begin() as conn:
            if not db.is_sqlite:
                await conn.exec_driver_sql("SET SESSION foreign_key_checks = 0, unique_checks = 0")
            for sql in statements:
                await conn.execute(sa.text(sql), params)
            if not db.is_sqlite:
                await conn.exec_driver_sql("SET SESSION foreign_key_checks = 1, unique_checks = 1")
        print(f"  seeded {last:,}", file=sys.stderr, flush=True)
    if not db.is_sqlite:
        async with db.begin() as conn:
            await conn.exec_driver_sql("ANALYZE TABLE payments, payment_attempts")
    else:
        async with db.begin() as conn:
            await conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


async def measure(url: str, rows: int, runs: int) -> dict[str, dict[str, float]]:
    from gateway.app import create_app
    from gateway.config import Settings
    from gateway.crypto.secrets import Secret
    from tests.admin.helpers import enrolled

    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="console-bench-"))
    settings = Settings.from_env({}, host="127.0.0.1", port=port, data_dir=str(data), database_url=url,
                                 sandbox=False, background=False, secret_key=Secret("bench-master-key"))
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    db = Database(url)
    gw: Any = SimpleNamespace(svc=SimpleNamespace(db=db), url=f"http://127.0.0.1:{port}")
    console = await enrolled(gw, "owner")
    middle = rows // 2
    pages = {
        "dashboard (30 days)": "/?range=30d",
        "payments, newest 50 + totals": "/payments",
        "search: merchant order no.": f"/payments?q=bo{middle}",
        "search: channel trade no.": f"/payments?q=2026{middle:024d}",
        "search: attempt id": f"/payments?q=att_bc{middle:015d}",
        "filter: paid, last 7 days": f"/payments?status=paid&from={(utcnow() + timedelta(hours=8) - timedelta(days=6)):%Y-%m-%d}",
        "payment page": f"/payments/pay_bc{middle:015d}",
    }
    out: dict[str, dict[str, float]] = {}
    try:
        for name, path in pages.items():
            times = []
            for i in range(runs + 3):
                started = time.perf_counter()
                async with console.http.get(console.url + path, allow_redirects=False) as r:
                    await r.read()
                    assert r.status in (200, 303), (path, r.status)
                if i >= 3:  # warm-up
                    times.append((time.perf_counter() - started) * 1000)
            times.sort()
            out[name] = {"p50": statistics.median(times), "p99": times[min(len(times) - 1, int(len(times) * 0.99))],
                         "max": times[-1]}
            print(f"  {name:34s} p50 {out[name]['p50']:7.1f} ms  p99 {out[name]['p99']:7.1f} ms", file=sys.stderr)
    finally:
        await console.close()
        await db.dispose()
        await runner.cleanup()
    return out


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--db", choices=["sqlite", "mysql"], default="sqlite")
    p.add_argument("--mysql-url", default=DEFAULT_MYSQL_URL)
    p.add_argument("--runs", type=int, default=100)
    args = p.parse_args()
    if args.db == "sqlite":
        url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='console-bench-')}/bench.db"
        await upgrade_async(url)
    else:
        from tests.factories import reset_mysql

        url = args.mysql_url
        await asyncio.to_thread(reset_mysql, url)
    db = Database(url)
    try:
        seconds = await seed(db, args.rows)
    finally:
        await db.dispose()
    print(f"{args.db}: {args.rows:,} payments + attempts seeded in {seconds:.1f} s", file=sys.stderr)
    await measure(url, args.rows, args.runs)


if __name__ == "__main__":
    asyncio.run(main())
