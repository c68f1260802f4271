"""The dashboard's daily rollup: per Asia/Shanghai day, merchant, channel and pay method -- payments
created, paid (count, amount) and refunded (count, amount) -- so the 7- and 30-day figures read a few
hundred rows instead of every payment.

A day is recomputed whole (DELETE + INSERT of its rows in one transaction), from three GROUP BY reads
through the time indexes; running it twice gives the same rows. ``stats_days`` remembers which days
were computed, so a fresh deployment backfills its history once. Only today and yesterday still change
(a refund lands on the day it succeeds; a payment on the day it was paid), so the loop recomputes those;
the dashboard reads today live.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.base import Row, all_rows, utcnow
from gateway.store.db import Database, offloaded
from gateway.store.tables import ID, UTCDateTime, attempts, metadata, payments, refunds

TZ = timedelta(hours=8)
PAID = ("paid", "partially_refunded", "refunded")
MEASURES = ("created_count", "paid_count", "paid_amount", "refund_count", "refund_amount")

stats_daily = sa.Table(
    "stats_daily", metadata,
    sa.Column("day", sa.String(10), primary_key=True),  # YYYY-MM-DD, Asia/Shanghai
    sa.Column("merchant_id", ID, primary_key=True),
    sa.Column("channel", sa.String(16), primary_key=True),  # '' for payments created (no channel yet)
    sa.Column("pay_method", sa.String(24), primary_key=True),
    *(sa.Column(m, sa.BigInteger, nullable=False, server_default="0") for m in MEASURES),
)
stats_days = sa.Table(
    "stats_days", metadata,
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("computed_at", UTCDateTime(), nullable=False),
)


def local_day(at: datetime) -> date:
    return (at.astimezone(UTC) + TZ).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) - TZ
    return start, start + timedelta(days=1)


async def _measure(conn: AsyncConnection, start: datetime, end: datetime) -> dict[tuple[str, str, str], dict[str, int]]:
    p, a, r = payments.c, attempts.c, refunds.c
    out: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(MEASURES, 0))
    for row in await all_rows(conn, sa.select(p.merchant_id, sa.func.count().label("n"))
                              .where(p.created_at >= start, p.created_at < end).group_by(p.merchant_id)):
        out[(row["merchant_id"], "", "")]["created_count"] += int(row["n"])
    for row in await all_rows(conn, sa.select(p.merchant_id, a.channel, a.pay_method, sa.func.count().label("n"),
                                              sa.func.sum(p.amount).label("amount"))
                              .join(attempts, attempts.c.id == payments.c.paid_attempt_id)
                              .where(p.paid_at >= start, p.paid_at < end, p.status.in_(PAID))
                              .group_by(p.merchant_id, a.channel, a.pay_method)):
        cell = out[(row["merchant_id"], row["channel"], row["pay_method"])]
        cell["paid_count"] += int(row["n"])
        cell["paid_amount"] += int(row["amount"] or 0)
    for row in await all_rows(conn, sa.select(r.merchant_id, a.channel, a.pay_method, sa.func.count().label("n"),
                                              sa.func.sum(r.amount).label("amount"))
                              .join(attempts, attempts.c.id == refunds.c.attempt_id)
                              .where(r.succeeded_at >= start, r.succeeded_at < end, r.status == "succeeded")
                              .group_by(r.merchant_id, a.channel, a.pay_method)):
        cell = out[(row["merchant_id"], row["channel"], row["pay_method"])]
        cell["refund_count"] += int(row["n"])
        cell["refund_amount"] += int(row["amount"] or 0)
    return out


async def recompute(db: Database, day: date) -> int:
    """Rebuild one day's rows; returns how many."""
    start, end = day_bounds(day)
    async with db.read() as conn:
        cells = await _measure(conn, start, end)
    key = day.isoformat()
    async with db.begin() as conn:
        await conn.execute(sa.delete(stats_daily).where(stats_daily.c.day == key))
        if cells:
            await conn.execute(sa.insert(stats_daily), [
                {"day": key, "merchant_id": m, "channel": c, "pay_method": pm, **values}
                for (m, c, pm), values in cells.items()])
        await conn.execute(sa.delete(stats_days).where(stats_days.c.day == key))
        await conn.execute(sa.insert(stats_days), dict(day=key, computed_at=utcnow()))
    return len(cells)


async def missing_days(db: Database, today: date) -> list[date]:
    """Days before ``today`` since the first payment that were never computed."""
    async with db.read() as conn:
        first = (await conn.execute(sa.select(sa.func.min(payments.c.created_at)))).scalar()
        done = {row[0] for row in (await conn.execute(sa.select(stats_days.c.day))).all()}
    if first is None:
        return []
    days, d = [], local_day(first)
    while d < today:
        if d.isoformat() not in done:
            days.append(d)
        d += timedelta(days=1)
    return days


async def refresh(db: Database, now: datetime | None = None) -> int:
    """Yesterday, today and any day never computed. Returns the days recomputed."""
    today = local_day(now or utcnow())
    with offloaded():  # SQLite: a day's aggregates are read on a thread, not on the loop
        days = sorted({*await missing_days(db, today), today - timedelta(days=1), today})
        for day in days:
            await recompute(db, day)
    return len(days)


async def read(conn: AsyncConnection, first: date, last: date, scope: str | None) -> list[Row]:
    """Rollup rows of ``first`` … ``last`` (inclusive)."""
    s = stats_daily.c
    stmt = sa.select(stats_daily).where(s.day >= first.isoformat(), s.day <= last.isoformat())
    if scope is not None:
        stmt = stmt.where(s.merchant_id == scope)
    return await all_rows(conn, stmt)


def totals(rows: Iterable[Row]) -> dict[str, Any]:
    out = dict.fromkeys(MEASURES, 0)
    for row in rows:
        for m in MEASURES:
            out[m] += int(row[m])
    return out


async def ensure(db: Database, today: date) -> None:
    """Before a read: compute days never computed, and yesterday again if it was computed before it ended
    (a fresh install, or the background loop switched off)."""
    yesterday = today - timedelta(days=1)
    async with db.read() as conn:
        at = (await conn.execute(sa.select(stats_days.c.computed_at)
                                 .where(stats_days.c.day == yesterday.isoformat()))).scalar()
    stale = at is None or at < day_bounds(yesterday)[1] + timedelta(minutes=1)
    for day in sorted({*await missing_days(db, today), *([yesterday] if stale else [])}):
        await recompute(db, day)
