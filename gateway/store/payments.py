"""Payments and their channel attempts: rows, lookups and the named conditional transitions."""
from __future__ import annotations

from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain import states
from gateway.domain.errors import DuplicateOutTradeNo
from gateway.store.base import (
    Row,
    all_rows,
    by,
    insert,
    is_unique_violation,
    newest_first,
    one,
    shared,
    transition,
    utcnow,
)
from gateway.store.rows import AttemptRow, PaymentRow
from gateway.store.tables import attempts, merchants, payments, recharges


async def insert_payment(conn: AsyncConnection, row: Row) -> None:
    """Insert a payment; a second one with the merchant's ``out_trade_no`` raises the database's
    IntegrityError -- :func:`duplicate_out_trade_no` turns it into the answer naming the first."""
    await insert(conn, payments, row)


async def duplicate_out_trade_no(conn: AsyncConnection, exc: IntegrityError, merchant_id: str,
                                 out_trade_no: str) -> DuplicateOutTradeNo:
    """After the insert's transaction rolled back: the error to raise, if it was our unique key."""
    if not is_unique_violation(exc):
        raise exc
    existing = await by_out_trade_no(conn, merchant_id, out_trade_no)
    return DuplicateOutTradeNo(
        f"out_trade_no {out_trade_no!r} is already used by payment {existing['id'] if existing else '(unknown)'}",
        payment_id=existing["id"] if existing else None)


_PAYMENT = sa.select(payments).where(by(id=payments.c.id))
_MERCHANTS_PAYMENT = _PAYMENT.where(by(merchant_id=payments.c.merchant_id))
_STATUS = sa.select(payments.c.status).where(by(id=payments.c.id))
# The payment as its merchant event shows it, with what settling it needs besides: the merchant's webhook
# URL (whether the event has somewhere to go) and whether it is a wallet recharge -- in one read.
_FOR_EVENT = (sa.select(payments, merchants.c.webhook_url.label("merchant_webhook_url"),
                        recharges.c.payment_id.label("recharge_of"))
              .select_from(payments.join(merchants, merchants.c.id == payments.c.merchant_id)
                           .outerjoin(recharges, recharges.c.payment_id == payments.c.id))
              .where(by(id=payments.c.id)))


async def get_payment(conn: AsyncConnection, payment_id: str, merchant_id: str | None = None) -> PaymentRow | None:
    if merchant_id is None:
        return cast(PaymentRow | None, await one(conn, _PAYMENT, {"id": payment_id}))
    return cast(PaymentRow | None, await one(conn, _MERCHANTS_PAYMENT, {"id": payment_id, "merchant_id": merchant_id}))


async def payment_for_event(conn: AsyncConnection, payment_id: str) -> Row | None:
    """The payment, plus ``merchant_webhook_url`` and ``recharge_of`` (its id when it is a recharge)."""
    return await one(conn, _FOR_EVENT, {"id": payment_id})


async def status_of(conn: AsyncConnection, payment_id: str) -> str | None:
    """The status alone: one primary-key read (the checkout's status endpoint on a cache miss)."""
    status = (await conn.execute(_STATUS, {"id": payment_id})).scalar_one_or_none()
    return None if status is None else str(status)


async def by_out_trade_no(conn: AsyncConnection, merchant_id: str, out_trade_no: str) -> PaymentRow | None:
    return cast(PaymentRow | None, await one(conn, sa.select(payments).where(payments.c.merchant_id == merchant_id,
                                                     payments.c.out_trade_no == out_trade_no)))


async def list_payments(conn: AsyncConnection, merchant_id: str, *, limit: int,
                        status: str | None = None, out_trade_no: str | None = None,
                        channel_trade_no: str | None = None, channel_order_no: str | None = None,
                        created_gte: datetime | None = None, created_lt: datetime | None = None,
                        after: tuple[datetime, str] | None = None) -> list[PaymentRow]:
    """Newest first, keyset-paginated on ``(created_at, id)``: ``after`` is the last row seen.

    ``channel_order_no`` (our order number at the channel: an attempt's id) and ``channel_trade_no`` (the
    channel's transaction id) find the payment of any of its attempts -- what a shopper's receipt shows,
    the paid attempt's or a second payment's -- through the attempts' primary key and
    ``ix_attempts_merchant_trade_no``."""
    c = payments.c
    stmt = sa.select(payments).where(c.merchant_id == merchant_id)
    if status:
        stmt = stmt.where(c.status == status)
    if out_trade_no:
        stmt = stmt.where(c.out_trade_no == out_trade_no)
    if channel_order_no:
        stmt = stmt.where(c.id.in_(sa.select(attempts.c.payment_id).where(
            attempts.c.id == channel_order_no, attempts.c.merchant_id == merchant_id)))
    if channel_trade_no:
        stmt = stmt.where(c.id.in_(sa.select(attempts.c.payment_id).where(
            attempts.c.merchant_id == merchant_id, attempts.c.channel_trade_no == channel_trade_no)))
    if created_gte:
        stmt = stmt.where(c.created_at >= created_gte)
    if created_lt:
        stmt = stmt.where(c.created_at < created_lt)
    return cast(list[PaymentRow], await all_rows(conn, newest_first(stmt, payments, after, limit)))


# -- payment transitions (table in gateway.domain.states): each reports whether it applied ----------

# The paid attempt's pay method and channel transaction id, copied onto the payment in the paid
# transition's own UPDATE (the attempt's success is written first, in the same transaction).
_HOW_PAID = {column: shared(sa.select(attempts.c[column]).where(attempts.c.id == sa.bindparam("_paid_by"))
                            .scalar_subquery()) for column in ("pay_method", "channel_trade_no")}


async def mark_paid(conn: AsyncConnection, payment_id: str, *, attempt_id: str, amount: int,
                    paid_at: datetime) -> bool:
    """``pending → paid`` by ``attempt_id``: all of ``amount`` becomes refundable; the payment records
    how it was paid (the attempt's pay method and channel transaction id)."""
    return await transition(conn, payments, states.MARK_PAID, payment_id, paid_attempt_id=attempt_id,
                            refundable_amount=amount, paid_at=paid_at, params={"_paid_by": attempt_id},
                            **_HOW_PAID)


async def mark_paid_late(conn: AsyncConnection, payment_id: str, *, attempt_id: str, amount: int,
                         paid_at: datetime) -> bool:
    """``closed → paid``, flagged ``late``: the channel's success arrived after we closed locally."""
    return await transition(conn, payments, states.MARK_PAID_LATE, payment_id, paid_attempt_id=attempt_id,
                            refundable_amount=amount, paid_at=paid_at, late=True, params={"_paid_by": attempt_id},
                            **_HOW_PAID)


async def mark_closed(conn: AsyncConnection, payment_id: str, *, closed_at: datetime,
                      reason: str | None = None) -> bool:
    """``pending → closed``: every attempt is closed at its channel; ``reason``: merchant | expired."""
    return await transition(conn, payments, states.MARK_CLOSED, payment_id, closed_at=closed_at,
                            close_reason=reason)


# -- attempts -------------------------------------------------------------------------------------

async def insert_attempt(conn: AsyncConnection, row: Row) -> None:
    await insert(conn, attempts, row)


_ATTEMPT = sa.select(attempts).where(by(id=attempts.c.id))
_ATTEMPTS_OF = (sa.select(attempts).where(by(payment_id=attempts.c.payment_id))
                .order_by(attempts.c.created_at, attempts.c.id))


async def get_attempt(conn: AsyncConnection, attempt_id: str) -> AttemptRow | None:
    return cast(AttemptRow | None, await one(conn, _ATTEMPT, {"id": attempt_id}))


async def attempts_of(conn: AsyncConnection, payment_id: str) -> list[AttemptRow]:
    return cast(list[AttemptRow], await all_rows(conn, _ATTEMPTS_OF, {"payment_id": payment_id}))


async def set_pay_data(conn: AsyncConnection, attempt_id: str, pay_data: str) -> None:
    await conn.execute(sa.update(attempts).where(attempts.c.id == attempt_id)
                       .values(pay_data=pay_data, updated_at=utcnow()))


# -- attempt transitions: each leaves the attempt with no sync due --------------------------------

async def attempt_succeeded(conn: AsyncConnection, attempt_id: str, *, paid_at: datetime,
                            channel_trade_no: str | None) -> bool:
    """``pending | closed | failed → succeeded``: the channel confirmed the money arrived."""
    return await transition(conn, attempts, states.ATTEMPT_SUCCEEDED, attempt_id, paid_at=paid_at,
                            channel_trade_no=channel_trade_no, next_sync_at=None)


async def attempt_closed(conn: AsyncConnection, attempt_id: str) -> bool:
    """``pending → closed``: the trade is closed at the channel."""
    return await transition(conn, attempts, states.ATTEMPT_CLOSED, attempt_id, next_sync_at=None)


async def attempt_failed(conn: AsyncConnection, attempt_id: str) -> bool:
    """``pending → failed``: the channel refused to open the trade."""
    return await transition(conn, attempts, states.ATTEMPT_FAILED, attempt_id, next_sync_at=None)
