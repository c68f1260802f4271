"""Bulk rows for the ``expiry`` scenario, written by the database itself in one INSERT … SELECT over a
generated series (SQLite: a recursive CTE; MariaDB: the SEQUENCE engine's ``seq_1_to_N``), so a million
payment rows take seconds rather than a million round trips.

Rows ``1..due`` are pending and past their ``expires_at`` (what the expiry sweep must find); of the rest,
1 in 100 is pending and not yet due, 1 in 10 closed, the others paid -- all with past ``expires_at``, as in
a table that has lived for a while. Every row satisfies the table's CHECK constraints.
"""
from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa

from gateway.store.base import utcnow
from gateway.store.db import Database
from gateway.store.tables import merchants

MERCHANT = "mch_bench_expiry"

_COLUMNS = ("id, merchant_id, out_trade_no, amount, currency, subject, status, refundable_amount, "
            "refunded_amount, metadata, late, expires_at, created_at, updated_at, paid_at, closed_at")

# {n}: the series' number; {ago}: an expression for ":past minus n seconds" in the dialect's SQL.
_SELECT = """
SELECT {id}, :merchant, {trade_no}, 1999, 'CNY', 'Bench order',
       CASE WHEN {n} <= :due OR {n} % 100 = 1 THEN 'pending' WHEN {n} % 10 = 0 THEN 'closed' ELSE 'paid' END,
       CASE WHEN {n} <= :due OR {n} % 100 = 1 OR {n} % 10 = 0 THEN 0 ELSE 1999 END,
       0, '{{}}', 0,
       CASE WHEN {n} > :due AND {n} % 100 = 1 THEN :future ELSE {ago} END,
       {ago}, {ago},
       CASE WHEN {n} > :due AND {n} % 100 <> 1 AND {n} % 10 <> 0 THEN {ago} END,
       CASE WHEN {n} > :due AND {n} % 100 <> 1 AND {n} % 10 = 0 THEN {ago} END
"""


async def merchant(db: Database) -> str:
    """The one merchant the payments' foreign key needs."""
    async with db.begin() as conn:
        await conn.execute(sa.insert(merchants).values(
            id=MERCHANT, name="Expiry Bench", api_key_hash="0" * 64, api_key_hint="0000",
            webhook_secret_sealed="-", return_domains="[]", created_at=utcnow()))
    return MERCHANT


async def payments(db: Database, merchant_id: str, first: int, last: int, *, due: int) -> float:
    """Insert payment rows number ``first..last``; the seconds it took."""
    now = utcnow().replace(tzinfo=None)
    fmt = "%Y-%m-%d %H:%M:%S.%f"  # how the store keeps datetimes (naive UTC, microseconds)
    params = {"merchant": merchant_id, "due": due, "first": first, "last": last,
              "past": (now - timedelta(hours=1)).strftime(fmt), "future": (now + timedelta(hours=1)).strftime(fmt)}
    if db.is_sqlite:
        select = _SELECT.format(n="n", id="printf('pay_bench%015d', n)", trade_no="'o' || n",
                                ago="datetime(:past, printf('-%d seconds', n)) || '.000000'")
        sql = (f"INSERT INTO payments ({_COLUMNS}) WITH RECURSIVE series(n) AS "
               f"(SELECT :first UNION ALL SELECT n + 1 FROM series WHERE n < :last) {select} FROM series")
    else:
        select = _SELECT.format(n="seq", id="CONCAT('pay_bench', LPAD(seq, 15, '0'))", trade_no="CONCAT('o', seq)",
                                ago="TIMESTAMPADD(SECOND, -seq, :past)")
        sql = f"INSERT INTO payments ({_COLUMNS}) {select} FROM seq_{first}_to_{last}"
    started = time.perf_counter()
    async with db.begin() as conn:
        if not db.is_sqlite:  # checked by construction above; the checks would only slow the bulk load
            await conn.exec_driver_sql("SET SESSION foreign_key_checks = 0, unique_checks = 0")
        try:
            await conn.execute(sa.text(sql), params)
        finally:
            if not db.is_sqlite:
                await conn.exec_driver_sql("SET SESSION foreign_key_checks = 1, unique_checks = 1")
    return time.perf_counter() - started
