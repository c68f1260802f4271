"""Cross-merchant reads for the operator console: search, one payment's whole story, lists and the
dashboard's aggregates. Every function takes ``scope`` -- a merchant id, or None for every merchant --
and applies it itself, so a merchant-bound operator can never read another merchant's rows.

Days are Asia/Shanghai days (UTC+8, no DST), computed in SQL; amounts are integer fen.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.base import Row, all_rows, one
from gateway.store.reconciliation import recon_discrepancies
from gateway.store.tables import (
    attempts,
    channel_accounts,
    deliveries,
    events,
    ledger_entries,
    ledger_postings,
    merchants,
    notify_log,
    payments,
    refunds,
)

# Console reads by paid time, creation time, the merchant's order number and the channel's trade number.
sa.Index("ix_payments_paid_at", payments.c.paid_at)
sa.Index("ix_payments_created_at", payments.c.created_at)
sa.Index("ix_payments_created_totals", payments.c.created_at, payments.c.merchant_id, payments.c.status,
         payments.c.amount, payments.c.refunded_amount)  # totals of a time range, from the index alone
sa.Index("ix_payments_out_trade_no", payments.c.out_trade_no)
sa.Index("ix_attempts_channel_trade_no", attempts.c.channel_trade_no)
sa.Index("ix_attempts_status_created", attempts.c.status, attempts.c.created_at)  # stuck pending attempts
sa.Index("ix_notify_log_created_at", notify_log.c.created_at)

TZ_OFFSET = timedelta(hours=8)  # Asia/Shanghai
STUCK_AFTER = timedelta(minutes=30)
PROBLEM_CAP = 1000


def _scoped(stmt: sa.Select, column: sa.ColumnElement[Any], scope: str | None) -> sa.Select:
    return stmt if scope is None else stmt.where(column == scope)


@dataclass
class PaymentFilter:
    q: str = ""
    merchant_id: str | None = None
    status: str | None = None
    pay_method: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    amount_min: int | None = None
    amount_max: int | None = None


async def payments_numbered(conn: AsyncConnection, number: str) -> list[str]:
    """Ids of the payments a number names: ours, the merchant's order number, an attempt id (our order
    number at the channel) or the channel's trade number -- each through its own index (one OR over
    all four would read the table on MariaDB)."""
    found: dict[str, None] = {}
    for stmt in (sa.select(payments.c.id).where(payments.c.id == number),
                 sa.select(payments.c.id).where(payments.c.out_trade_no == number).limit(100),
                 sa.select(attempts.c.payment_id).where(attempts.c.id == number),
                 sa.select(attempts.c.payment_id).where(attempts.c.channel_trade_no == number).limit(100)):
        found.update(dict.fromkeys(row[0] for row in (await conn.execute(stmt)).all()))
    return list(found)


async def _payment_where(conn: AsyncConnection, f: PaymentFilter, scope: str | None) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    p = payments.c
    if scope is not None:
        where.append(p.merchant_id == scope)
    if f.merchant_id:
        where.append(p.merchant_id == f.merchant_id)
    if f.q:
        where.append(p.id.in_(await payments_numbered(conn, f.q)))
    if f.status:
        where.append(p.status == f.status)
    if f.pay_method:
        where.append(sa.exists().where(attempts.c.payment_id == p.id, attempts.c.pay_method == f.pay_method))
    if f.created_from:
        where.append(p.created_at >= f.created_from)
    if f.created_to:
        where.append(p.created_at < f.created_to)
    if f.amount_min is not None:
        where.append(p.amount >= f.amount_min)
    if f.amount_max is not None:
        where.append(p.amount <= f.amount_max)
    return where


async def merchant_names(conn: AsyncConnection, ids: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = (await conn.execute(sa.select(merchants.c.id, merchants.c.name).where(merchants.c.id.in_(wanted)))).all()
    return {row[0]: row[1] for row in rows}


async def search_payments(conn: AsyncConnection, f: PaymentFilter, scope: str | None, *, limit: int = 50,
                          before: tuple[datetime, str] | None = None) -> list[Row]:
    """Newest first; ``before`` = (created_at, id) of the last row of the previous page. Each row carries
    ``merchant_name`` (read apart: a join makes MariaDB drive the scan from the merchants table)."""
    stmt = (sa.select(payments).where(*await _payment_where(conn, f, scope))
            .order_by(payments.c.created_at.desc(), payments.c.id.desc()).limit(limit))
    if before is not None:
        at, pid = before
        stmt = stmt.where(sa.or_(payments.c.created_at < at,
                                 sa.and_(payments.c.created_at == at, payments.c.id < pid)))
    rows = await all_rows(conn, stmt)
    names = await merchant_names(conn, (r["merchant_id"] for r in rows))
    return [{**r, "merchant_name": names.get(r["merchant_id"], "")} for r in rows]


async def payment_totals(conn: AsyncConnection, f: PaymentFilter, scope: str | None) -> Row:
    p = payments.c
    paid = p.status.in_(["paid", "partially_refunded", "refunded"])
    stmt = sa.select(sa.func.count().label("count"), sa.func.coalesce(sa.func.sum(p.amount), 0).label("amount"),
                     sa.func.coalesce(sa.func.sum(sa.case((paid, p.amount), else_=0)), 0).label("paid_amount"),
                     sa.func.coalesce(sa.func.sum(p.refunded_amount), 0).label("refunded_amount"),
                     ).where(*await _payment_where(conn, f, scope))
    row = await one(conn, stmt)
    assert row is not None
    return {k: int(v or 0) for k, v in row.items()}


async def payment(conn: AsyncConnection, payment_id: str, scope: str | None) -> Row | None:
    stmt = (sa.select(payments, merchants.c.name.label("merchant_name"))
            .join(merchants, merchants.c.id == payments.c.merchant_id).where(payments.c.id == payment_id))
    return await one(conn, _scoped(stmt, payments.c.merchant_id, scope))


async def payment_story(conn: AsyncConnection, p: Row) -> dict[str, list[Row]]:
    """Everything that happened to one payment (already scope-checked), each list oldest first."""
    pid = p["id"]
    tries = await all_rows(conn, sa.select(attempts).where(attempts.c.payment_id == pid)
                           .order_by(attempts.c.created_at))
    refs = await all_rows(conn, sa.select(refunds).where(refunds.c.payment_id == pid)
                          .order_by(refunds.c.created_at))
    object_ids = [pid, *(r["id"] for r in refs)]
    evs = await all_rows(conn, sa.select(events).where(events.c.merchant_id == p["merchant_id"],
                                                       events.c.object_id.in_(object_ids))
                         .order_by(events.c.created_at))
    dels = await all_rows(conn, sa.select(deliveries).where(deliveries.c.event_id.in_([e["id"] for e in evs]))
                          .order_by(deliveries.c.attempted_at)) if evs else []
    notes = await all_rows(conn, sa.select(notify_log.c.id, notify_log.c.channel, notify_log.c.trade_no,
                                           notify_log.c.remote, notify_log.c.result, notify_log.c.error,
                                           notify_log.c.created_at)
                           .where(notify_log.c.trade_no.in_([a["id"] for a in tries] + [r["id"] for r in refs]))
                           .order_by(notify_log.c.created_at)) if tries else []
    entries = await all_rows(conn, sa.select(ledger_entries.c.id, ledger_entries.c.ref, ledger_entries.c.kind,
                                             ledger_entries.c.refund_id, ledger_entries.c.created_at,
                                             ledger_postings.c.account, ledger_postings.c.amount,
                                             ledger_postings.c.currency)
                             .join(ledger_postings, ledger_postings.c.entry_id == ledger_entries.c.id)
                             .where(ledger_entries.c.payment_id == pid)
                             .order_by(ledger_entries.c.id, ledger_postings.c.id))
    return {"attempts": tries, "refunds": refs, "events": evs, "deliveries": dels, "callbacks": notes,
            "ledger": entries}


async def list_refunds(conn: AsyncConnection, scope: str | None, *, status: str | None = None, q: str = "",
                       limit: int = 100) -> list[Row]:
    stmt = sa.select(refunds).order_by(refunds.c.created_at.desc()).limit(limit)
    stmt = _scoped(stmt, refunds.c.merchant_id, scope)
    if status:
        stmt = stmt.where(refunds.c.status == status)
    if q:
        stmt = stmt.where(sa.or_(refunds.c.id == q, refunds.c.out_refund_no == q, refunds.c.payment_id == q,
                                 refunds.c.channel_refund_no == q))
    return await all_rows(conn, stmt)


def _notify_scope(stmt: sa.Select, scope: str | None) -> sa.Select:
    if scope is None:
        return stmt
    return stmt.where(notify_log.c.account_id.in_(
        sa.select(channel_accounts.c.id).where(channel_accounts.c.merchant_id == scope)))


async def list_callbacks(conn: AsyncConnection, scope: str | None, *, result: str | None = None,
                         channel: str | None = None, limit: int = 100) -> list[Row]:
    n = notify_log.c
    stmt = sa.select(n.id, n.channel, n.account_id, n.trade_no, n.remote, n.result, n.error, n.created_at) \
        .order_by(n.id.desc()).limit(limit)
    stmt = _notify_scope(stmt, scope)
    if result:
        stmt = stmt.where(n.result == result)
    if channel:
        stmt = stmt.where(n.channel == channel)
    return await all_rows(conn, stmt)


async def callback(conn: AsyncConnection, callback_id: int, scope: str | None) -> Row | None:
    return await one(conn, _notify_scope(sa.select(notify_log).where(notify_log.c.id == callback_id), scope))


def shanghai_day(column: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[Any]:
    if dialect == "sqlite":
        return sa.func.date(column, "+8 hours")
    return sa.func.date(sa.func.date_add(column, sa.text("INTERVAL 8 HOUR")))


async def callback_stats(conn: AsyncConnection, scope: str | None, since: datetime, dialect: str) -> list[Row]:
    n = notify_log.c
    day = shanghai_day(n.created_at, dialect).label("day")
    stmt = (sa.select(day, n.channel, n.result, sa.func.coalesce(n.error, "").label("reason"),
                      sa.func.count().label("count"))
            .where(n.created_at >= since).group_by(day, n.channel, n.result, sa.func.coalesce(n.error, ""))
            .order_by(day.desc(), n.channel, n.result))
    return await all_rows(conn, _notify_scope(stmt, scope))


async def list_events(conn: AsyncConnection, scope: str | None, *, status: str | None = None,
                      limit: int = 100) -> list[Row]:
    stmt = sa.select(events.c.id, events.c.merchant_id, events.c.type, events.c.object_id, events.c.delivery_status,
                     events.c.attempts, events.c.next_attempt_at, events.c.delivered_at, events.c.created_at) \
        .order_by(events.c.created_at.desc()).limit(limit)
    stmt = _scoped(stmt, events.c.merchant_id, scope)
    if status:
        stmt = stmt.where(events.c.delivery_status == status)
    return await all_rows(conn, stmt)


async def event(conn: AsyncConnection, event_id: str, scope: str | None) -> Row | None:
    return await one(conn, _scoped(sa.select(events).where(events.c.id == event_id), events.c.merchant_id, scope))


async def event_deliveries(conn: AsyncConnection, event_id: str) -> list[Row]:
    return await all_rows(conn, sa.select(deliveries).where(deliveries.c.event_id == event_id)
                          .order_by(deliveries.c.id))


async def list_merchants(conn: AsyncConnection, scope: str | None) -> list[Row]:
    m = merchants.c
    stmt = sa.select(m.id, m.name, m.api_key_hint, m.webhook_url, m.return_domains, m.created_at).order_by(m.created_at)
    return await all_rows(conn, _scoped(stmt, m.id, scope))


async def merchant(conn: AsyncConnection, merchant_id: str, scope: str | None) -> Row | None:
    m = merchants.c
    stmt = sa.select(m.id, m.name, m.api_key_hint, m.webhook_url, m.return_domains, m.created_at,
                     m.webhook_secret_prev_until).where(m.id == merchant_id)
    return await one(conn, _scoped(stmt, m.id, scope))


async def merchant_accounts(conn: AsyncConnection, merchant_id: str) -> list[Row]:
    c = channel_accounts.c
    return await all_rows(conn, sa.select(c.id, c.channel, c.account_ref, c.pay_methods, c.active, c.created_at)
                          .where(c.merchant_id == merchant_id).order_by(c.created_at))


# -- the dashboard -------------------------------------------------------------------------------------

PAID = ("paid", "partially_refunded", "refunded")


async def overview(conn: AsyncConnection, scope: str | None, since: datetime) -> Row:
    p, r = payments.c, refunds.c
    created = await one(conn, _scoped(sa.select(sa.func.count().label("n")).where(p.created_at >= since),
                                      p.merchant_id, scope))
    paid = await one(conn, _scoped(sa.select(sa.func.count().label("n"),
                                             sa.func.coalesce(sa.func.sum(p.amount), 0).label("amount"))
                                   .where(p.paid_at >= since, p.status.in_(PAID)), p.merchant_id, scope))
    refunded = await one(conn, _scoped(sa.select(sa.func.count().label("n"),
                                                 sa.func.coalesce(sa.func.sum(r.amount), 0).label("amount"))
                                       .where(r.succeeded_at >= since, r.status == "succeeded"),
                                       r.merchant_id, scope))
    assert created and paid and refunded
    n_created, n_paid = int(created["n"]), int(paid["n"])
    return {"created": n_created, "paid_count": n_paid, "paid_amount": int(paid["amount"]),
            "refund_count": int(refunded["n"]), "refund_amount": int(refunded["amount"]),
            "conversion": (n_paid / n_created) if n_created else None}


async def by_method(conn: AsyncConnection, scope: str | None, since: datetime) -> list[Row]:
    """Paid payments per channel and pay method (of the attempt that paid)."""
    p, a = payments.c, attempts.c
    stmt = (sa.select(a.channel, a.pay_method, sa.func.count().label("count"),
                      sa.func.sum(p.amount).label("amount"))
            .join(attempts, attempts.c.id == payments.c.paid_attempt_id)
            .where(p.paid_at >= since, p.status.in_(PAID))
            .group_by(a.channel, a.pay_method).order_by(sa.func.sum(p.amount).desc()))
    return await all_rows(conn, _scoped(stmt, p.merchant_id, scope))


async def problems(conn: AsyncConnection, scope: str | None, now: datetime) -> Row:
    a, e, n = attempts.c, events.c, notify_log.c
    # Counted up to PROBLEM_CAP (shown as "1000+"): a health figure, never a scan of a big backlog.
    stuck_rows = _scoped(sa.select(a.id).where(a.status == "pending", a.created_at < now - STUCK_AFTER),
                         a.merchant_id, scope).limit(PROBLEM_CAP)
    stuck = await one(conn, sa.select(sa.func.count().label("n")).select_from(stuck_rows.subquery()))
    backlog = await one(conn, _scoped(sa.select(
        sa.func.coalesce(sa.func.sum(sa.case((e.delivery_status == "pending", 1), else_=0)), 0).label("pending"),
        sa.func.coalesce(sa.func.sum(sa.case((e.delivery_status == "failed", 1), else_=0)), 0).label("failed"))
        .where(e.delivery_status.in_(["pending", "failed"])), e.merchant_id, scope))
    rejected = await one(conn, _notify_scope(sa.select(sa.func.count().label("n"))
                                             .where(n.result.in_(["rejected", "error"]),
                                                    n.created_at >= now - timedelta(hours=24)), scope))
    d = recon_discrepancies.c
    open_rows = _scoped(sa.select(d.id).where(d.state == "open", d.severity == "high"), d.merchant_id, scope) \
        .limit(PROBLEM_CAP)
    recon = await one(conn, sa.select(sa.func.count().label("n")).select_from(open_rows.subquery()))
    assert stuck and backlog and rejected and recon
    return {"stuck_pending": int(stuck["n"]), "webhook_pending": int(backlog["pending"]),
            "webhook_failed": int(backlog["failed"]), "rejected_callbacks_24h": int(rejected["n"]),
            "recon_open_high": int(recon["n"])}
