"""The built-in alert notifier's state: which alerts fire and when they were last sent (so a restart or
a second process never sends twice), and named leases for singleton jobs -- the one process that
evaluates and sends in a given round holds ``job_leases['alerts']``."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.base import Row, all_rows
from gateway.store.tables import UTCDateTime, metadata

alert_state = sa.Table(
    "alert_state", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("firing", sa.Boolean, nullable=False),
    sa.Column("summary", sa.String(512), nullable=False),
    sa.Column("since", UTCDateTime(), nullable=False),  # when it started firing (or resolved)
    sa.Column("notified_at", UTCDateTime(), nullable=True),
)

job_leases = sa.Table(
    "job_leases", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("lease_until", UTCDateTime(), nullable=False),
)


async def take_lease(conn: AsyncConnection, name: str, holder: str, now: datetime, until: datetime) -> bool:
    """Hold the named lease until ``until`` if it is free, expired, or already ours; one conditional
    UPDATE (or the first INSERT), so two processes never both hold it."""
    t = job_leases
    done = await conn.execute(sa.update(t).where(
        t.c.name == name, sa.or_(t.c.lease_until < now, t.c.holder == holder)).values(holder=holder, lease_until=until))
    if done.rowcount:
        return True
    try:
        async with conn.begin_nested():
            await conn.execute(sa.insert(t), dict(name=name, holder=holder, lease_until=until))
    except IntegrityError:
        return False  # held by another process
    return True


async def states(conn: AsyncConnection) -> dict[str, Row]:
    return {row["name"]: row for row in await all_rows(conn, sa.select(alert_state))}


async def save(conn: AsyncConnection, name: str, *, firing: bool, summary: str, since: datetime,
               notified_at: datetime | None) -> None:
    t = alert_state
    values = {"firing": firing, "summary": summary[:512], "since": since, "notified_at": notified_at}
    done = await conn.execute(sa.update(t).where(t.c.name == name).values(**values))
    if not done.rowcount:
        await conn.execute(sa.insert(t), dict(name=name, **values))
