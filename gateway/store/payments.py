"""Payments and their channel attempts: rows, lookups and the named conditional transitions."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.errors import DuplicateOutTradeNo
from gateway.domain.states import ATTEMPT_TRANSITIONS, PAYMENT_TRANSITIONS
from gateway.store.base import Row, all_rows, is_unique_violation, one, transition, utcnow
from gateway.store.tables import attempts, payments


async def insert_payment(conn: AsyncConnection, row: Row) -> None:
    """Insert a payment; a second one with the merchant's ``out_trade_no`` raises the database's
    IntegrityError -- :func:`duplicate_out_trade_no` turns it into the answer naming the first."""
    await conn.execute(sa.insert(payments).values(**row))


async def duplicate_out_trade_no(conn: AsyncConnection, exc: IntegrityError, merchant_id: str,
                                 out_trade_no: str) -> DuplicateOutTradeNo:
    """After the insert's transaction rolled back: the error to raise, if it was our unique key."""
    if not is_unique_violation(exc):
        raise exc
    existing = await by_out_trade_no(conn, merchant_id, out_trade_no)
    return DuplicateOutTradeNo(
        f"out_trade_no {out_trade_no!r} is already used by payment {existing['id'] if existing else '(unknown)'}",
        payment_id=existing["id"] if existing else None)


async def get_payment(conn: AsyncConnection, payment_id: str, merchant_id: str | None = None) -> Row | None:
    stmt = sa.select(payments).where(payments.c.id == payment_id)
    if merchant_id is not None:
        stmt = stmt.where(payments.c.merchant_id == merchant_id)
    return await one(conn, stmt)


async def by_out_trade_no(conn: AsyncConnection, merchant_id: str, out_trade_no: str) -> Row | None:
    return await one(conn, sa.select(payments).where(payments.c.merchant_id == merchant_id,
                                                     payments.c.out_trade_no == out_trade_no))


async def list_payments(conn: AsyncConnection, merchant_id: str, *, limit: int,
                        status: str | None = None, out_trade_no: str | None = None,
                        created_gte: datetime | None = None, created_lt: datetime | None = None,
                        after: tuple[datetime, str] | None = None) -> list[Row]:
    """Newest first, keyset-paginated on ``(created_at, id)``: ``after`` is the last row seen."""
    c = payments.c
    stmt = sa.select(payments).where(c.merchant_id == merchant_id)
    if status:
        stmt = stmt.where(c.status == status)
    if out_trade_no:
        stmt = stmt.where(c.out_trade_no == out_trade_no)
    if created_gte:
        stmt = stmt.where(c.created_at >= created_gte)
    if created_lt:
        stmt = stmt.where(c.created_at < created_lt)
    if after:
        stmt = stmt.where(sa.or_(c.created_at < after[0], sa.and_(c.created_at == after[0], c.id < after[1])))
    return await all_rows(conn, stmt.order_by(c.created_at.desc(), c.id.desc()).limit(limit))


async def transition_payment(conn: AsyncConnection, name: str, payment_id: str, **values: Any) -> bool:
    return await transition(conn, payments, PAYMENT_TRANSITIONS[name], payment_id, **values)


# -- attempts -------------------------------------------------------------------------------------

async def insert_attempt(conn: AsyncConnection, row: Row) -> None:
    await conn.execute(sa.insert(attempts).values(**row))


async def get_attempt(conn: AsyncConnection, attempt_id: str) -> Row | None:
    return await one(conn, sa.select(attempts).where(attempts.c.id == attempt_id))


async def attempts_of(conn: AsyncConnection, payment_id: str) -> list[Row]:
    return await all_rows(conn, sa.select(attempts).where(attempts.c.payment_id == payment_id)
                          .order_by(attempts.c.created_at, attempts.c.id))


async def set_pay_data(conn: AsyncConnection, attempt_id: str, pay_data: str) -> None:
    await conn.execute(sa.update(attempts).where(attempts.c.id == attempt_id)
                       .values(pay_data=pay_data, updated_at=utcnow()))


async def transition_attempt(conn: AsyncConnection, name: str, attempt_id: str, **values: Any) -> bool:
    return await transition(conn, attempts, ATTEMPT_TRANSITIONS[name], attempt_id, **values)
