"""Leases: how background work is shared between gateway processes without a coordinator.

A due row is claimed by writing ``lease_until`` in one short transaction; on MariaDB/MySQL the candidate
rows are read ``FOR UPDATE SKIP LOCKED``, so two processes claiming at once take disjoint rows and never
wait on each other (SQLite serialises writers, which gives the same guarantee). The ``lease_until``
value written is the holder's token: the holder finishes or releases the row only ``WHERE lease_until =
<token>``, so a process whose lease ran out (it stalled, or died and was replaced) cannot overwrite the
work of the process that took over. A killed process's rows become due again when its leases expire.

What is due for each kind of background work is declared here, as a :class:`Queue`. Like every
repository, these functions take the caller's connection; the caller owns the (short) transaction.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.states import AttemptStatus, PaymentStatus, RefundStatus
from gateway.store.base import Row, all_rows, utcnow
from gateway.store.tables import attempts, payments, refunds


@dataclass(frozen=True)
class Queue:
    """One kind of background work: the rows of ``table`` that ``due(now)`` selects, ``order`` first."""

    name: str
    table: sa.Table
    due: Callable[[datetime], sa.ColumnElement[bool]]
    order: sa.ColumnElement[Any]


def _expiry_due(now: datetime) -> sa.ColumnElement[bool]:
    """Pending payments past their time: read through ``ix_payments_status_expires`` (a range on
    ``(status, expires_at)``), so the sweep's cost follows the due rows, never the table's size."""
    return sa.and_(payments.c.status == PaymentStatus.PENDING.value, payments.c.expires_at <= now)


def _sync_due(table: sa.Table, pending: str) -> Callable[[datetime], sa.ColumnElement[bool]]:
    return lambda now: sa.and_(table.c.next_sync_at <= now, table.c.status == pending)


EXPIRY = Queue("expiry", payments, _expiry_due, payments.c.expires_at)
ATTEMPT_SYNC = Queue("attempt-sync", attempts, _sync_due(attempts, AttemptStatus.PENDING.value),
                     attempts.c.next_sync_at)
REFUND_SYNC = Queue("refund-sync", refunds, _sync_due(refunds, RefundStatus.PENDING.value), refunds.c.next_sync_at)


def free(table: sa.Table, now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(table.c.lease_until.is_(None), table.c.lease_until < now)


def skip_locked(conn: AsyncConnection, stmt: sa.Select) -> sa.Select:
    """``FOR UPDATE SKIP LOCKED`` on MariaDB/MySQL; SQLite serialises writers, so it needs nothing."""
    return stmt if conn.dialect.name == "sqlite" else stmt.with_for_update(skip_locked=True)


def lock(conn: AsyncConnection, stmt: sa.Select) -> sa.Select:
    """``FOR UPDATE``: the rows read stay as read until commit (SQLite's one writer needs nothing)."""
    return stmt if conn.dialect.name == "sqlite" else stmt.with_for_update()


async def any_due(conn: AsyncConnection, queue: Queue) -> bool:
    """Whether ``queue`` has a due row no one holds: a plain read, so an idle loop polls without taking
    the write lock (SQLite's one writer, MariaDB's row locks) every round."""
    table, now = queue.table, utcnow()
    found = await conn.execute(sa.select(table.c.id).where(queue.due(now), free(table, now)).limit(1))
    return found.first() is not None


async def claim(conn: AsyncConnection, queue: Queue, *, limit: int, until: datetime) -> list[Row]:
    """Lease up to ``limit`` due rows of ``queue`` (and not leased), in its order, until ``until``
    (:func:`token`).

    Returns the rows as leased; each row's ``lease_until`` is its token. The caller commits before
    working on them: a lease is only seen by other processes once committed.
    """
    table = queue.table
    now = utcnow()
    stmt = sa.select(table.c.id).where(queue.due(now), free(table, now)).order_by(queue.order).limit(limit)
    ids = list((await conn.execute(skip_locked(conn, stmt))).scalars())
    if not ids:
        return []
    await conn.execute(sa.update(table).where(table.c.id.in_(ids), free(table, now)).values(lease_until=until))
    return await all_rows(conn, sa.select(table).where(table.c.id.in_(ids), table.c.lease_until == until))


def token(lease: timedelta) -> datetime:
    """A new claim's token: when its leases run out. The caller keeps it, so that a claim whose commit
    went unanswered can be given back whole (:func:`release_claim`) without waiting for it to run out."""
    return utcnow() + lease


async def release_claim(conn: AsyncConnection, queue: Queue, until: datetime) -> int:
    """Give back every row a claim leased until ``until`` -- if it committed at all (its answer was
    lost with the connection). Returns how many rows it held."""
    result = await conn.execute(sa.update(queue.table).where(queue.table.c.lease_until == until)
                                .values(lease_until=None))
    return result.rowcount


async def finish(conn: AsyncConnection, table: sa.Table, row_id: str, token: datetime, **values: Any) -> bool:
    """Give the row back (and set ``values``) if we still hold it. Returns whether we did."""
    result = await conn.execute(sa.update(table).where(table.c.id == row_id, table.c.lease_until == token)
                                .values(lease_until=None, **values))
    return result.rowcount == 1


async def release(conn: AsyncConnection, queue: Queue, row_id: str, token: datetime) -> bool:
    """Give the row back unchanged if we still hold it (it is due again as soon as its queue says so)."""
    return await finish(conn, queue.table, row_id, token)


async def release_synced(conn: AsyncConnection, queue: Queue, row_id: str, token: datetime,
                         next_sync_at: datetime) -> bool:
    """Give a synced attempt or refund back with its next query due at ``next_sync_at`` -- unless a
    callback settled it meanwhile: a settled row keeps no due time."""
    table = queue.table
    return await finish(conn, table, row_id, token,
                        next_sync_at=sa.case((table.c.status == AttemptStatus.PENDING.value,  # = RefundStatus's
                                              next_sync_at), else_=None),
                        sync_count=table.c.sync_count + 1)


async def postpone(conn: AsyncConnection, queue: Queue, row_id: str, token: datetime, until: datetime) -> bool:
    """Keep the row leased (to nobody) until ``until``: a retry delay for work that could not finish."""
    table = queue.table
    result = await conn.execute(sa.update(table).where(table.c.id == row_id, table.c.lease_until == token)
                                .values(lease_until=until))
    return result.rowcount == 1
