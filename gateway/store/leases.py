"""Leases: how background work is shared between gateway processes without a coordinator.

A due row is claimed by writing ``lease_until`` in one short transaction; on MariaDB/MySQL the candidate
rows are read ``FOR UPDATE SKIP LOCKED``, so two processes claiming at once take disjoint rows and never
wait on each other (SQLite serialises writers, which gives the same guarantee). The ``lease_until``
value written is the holder's token: the holder finishes or releases the row only ``WHERE lease_until =
<token>``, so a process whose lease ran out (it stalled, or died and was replaced) cannot overwrite the
work of the process that took over. A killed process's rows become due again when its leases expire.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.base import Row, all_rows, utcnow
from gateway.store.db import Database


def free(table: sa.Table, now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(table.c.lease_until.is_(None), table.c.lease_until < now)


async def claim(db: Database, table: sa.Table, due: sa.ColumnElement[bool], order: sa.ColumnElement[Any],
                *, limit: int, lease: timedelta) -> list[Row]:
    """Lease up to ``limit`` rows matching ``due`` (and not leased), oldest ``order`` first.

    Returns the rows as leased; each row's ``lease_until`` is its token.
    """
    now = utcnow()
    until = now + lease
    async with db.begin() as conn:
        stmt = sa.select(table.c.id).where(due, free(table, now)).order_by(order).limit(limit)
        ids = list((await conn.execute(db.for_update(stmt, skip_locked=True))).scalars())
        if not ids:
            return []
        await conn.execute(sa.update(table).where(table.c.id.in_(ids), free(table, now))
                           .values(lease_until=until))
        return await all_rows(conn, sa.select(table).where(table.c.id.in_(ids), table.c.lease_until == until))


async def finish(conn: AsyncConnection, table: sa.Table, row_id: str, token: datetime, **values: Any) -> bool:
    """Give the row back (and set ``values``) if we still hold it. Returns whether we did."""
    result = await conn.execute(sa.update(table).where(table.c.id == row_id, table.c.lease_until == token)
                                .values(lease_until=None, **values))
    return result.rowcount == 1


async def release(db: Database, table: sa.Table, row_id: str, token: datetime, **values: Any) -> bool:
    async with db.begin() as conn:
        return await finish(conn, table, row_id, token, **values)


async def postpone(db: Database, table: sa.Table, row_id: str, token: datetime, until: datetime) -> bool:
    """Keep the row leased (to nobody) until ``until``: a retry delay for work that could not finish."""
    async with db.begin() as conn:
        result = await conn.execute(sa.update(table).where(table.c.id == row_id, table.c.lease_until == token)
                                    .values(lease_until=until))
        return result.rowcount == 1
