"""Refund rows and the refundable balance -- reserved by one conditional update, never read-then-write."""
from __future__ import annotations

from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain import states
from gateway.domain.errors import DuplicateOutRefundNo
from gateway.domain.states import REFUNDABLE
from gateway.store.base import Row, all_rows, is_unique_violation, one, transition, utcnow
from gateway.store.rows import RefundRow
from gateway.store.tables import payments, refunds


async def reserve(conn: AsyncConnection, payment_id: str, merchant_id: str, amount: int) -> bool:
    """Take ``amount`` from the payment's refundable balance, if the payment is refundable and the
    balance covers it. Concurrent reservations serialise on the row; the CHECK backs it up."""
    result = await conn.execute(sa.update(payments).where(
        payments.c.id == payment_id, payments.c.merchant_id == merchant_id,
        payments.c.status.in_(sorted(REFUNDABLE)), payments.c.refundable_amount >= amount,
    ).values(refundable_amount=payments.c.refundable_amount - amount, updated_at=utcnow()))
    return result.rowcount == 1


async def give_back(conn: AsyncConnection, payment_id: str, amount: int) -> None:
    """Return a failed refund's reservation. Called only when the refund's ``refund_failed``
    transition applied in this transaction, so each reservation comes back at most once; the CHECK
    ``refundable_amount + refunded_amount <= amount`` rejects a give-back that was never taken."""
    await conn.execute(sa.update(payments).where(payments.c.id == payment_id).values(
        refundable_amount=payments.c.refundable_amount + amount, updated_at=utcnow()))


async def insert_refund(conn: AsyncConnection, row: Row) -> None:
    try:
        async with conn.begin_nested():
            await conn.execute(sa.insert(refunds), row)
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        existing = await by_out_refund_no(conn, row["merchant_id"], row["out_refund_no"])
        raise DuplicateOutRefundNo(
            f"out_refund_no {row['out_refund_no']!r} is already used by refund "
            f"{existing['id'] if existing else '(unknown)'}",
            refund_id=existing["id"] if existing else None) from None


async def get_refund(conn: AsyncConnection, refund_id: str, merchant_id: str | None = None) -> RefundRow | None:
    stmt = sa.select(refunds).where(refunds.c.id == refund_id)
    if merchant_id is not None:
        stmt = stmt.where(refunds.c.merchant_id == merchant_id)
    return cast(RefundRow | None, await one(conn, stmt))


async def by_out_refund_no(conn: AsyncConnection, merchant_id: str, out_refund_no: str) -> RefundRow | None:
    return cast(RefundRow | None, await one(conn, sa.select(refunds).where(
        refunds.c.merchant_id == merchant_id, refunds.c.out_refund_no == out_refund_no)))


async def refunds_of(conn: AsyncConnection, payment_id: str, merchant_id: str | None = None) -> list[RefundRow]:
    stmt = sa.select(refunds).where(refunds.c.payment_id == payment_id)
    if merchant_id is not None:
        stmt = stmt.where(refunds.c.merchant_id == merchant_id)
    return cast(list[RefundRow], await all_rows(conn, stmt.order_by(refunds.c.created_at, refunds.c.id)))


async def refund_succeeded(conn: AsyncConnection, refund_id: str, *, succeeded_at: datetime,
                           channel_refund_no: str | None) -> bool:
    """``pending → succeeded``: the channel confirmed the refund (no sync due any more)."""
    return await transition(conn, refunds, states.REFUND_SUCCEEDED, refund_id, succeeded_at=succeeded_at,
                            channel_refund_no=channel_refund_no, next_sync_at=None)


async def refund_failed(conn: AsyncConnection, refund_id: str, *, code: str | None, message: str | None) -> bool:
    """``pending → failed``, with the channel's reason cut to its columns (no sync due any more)."""
    return await transition(conn, refunds, states.REFUND_FAILED, refund_id, next_sync_at=None,
                            failure_code=(code or "failed")[:64], failure_message=(message or "")[:256] or None)


async def add_refunded(conn: AsyncConnection, payment_id: str, amount: int) -> str | None:
    """Count a succeeded refund on its payment: ``mark_refunded`` when it completes the amount, else
    ``mark_partially_refunded``. Returns the new status, or None if the payment was not refundable.

    One statement, choosing between the two named transitions on the row as it is when the statement
    runs: two refunds settling at once must not each decide from a stale read that the other is not the
    last (read committed re-evaluates an UPDATE's expressions on the newest row version). ``status`` is
    assigned before ``refunded_amount`` because MySQL evaluates SET left to right.
    """
    full, partial = states.MARK_REFUNDED, states.MARK_PARTIALLY_REFUNDED
    sources = sorted(full.sources | partial.sources)
    new_total = payments.c.refunded_amount + amount
    result = await conn.execute(
        sa.update(payments)
        .where(payments.c.id == payment_id, payments.c.status.in_(sources))
        .ordered_values(
            (payments.c.status, sa.case((new_total == payments.c.amount, full.target), else_=partial.target)),
            (payments.c.refunded_amount, new_total),
            (payments.c.updated_at, utcnow())))
    if result.rowcount != 1:
        return None
    status = (await conn.execute(sa.select(payments.c.status).where(payments.c.id == payment_id))).scalar_one()
    return str(status)
