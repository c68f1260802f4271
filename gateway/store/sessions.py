"""Server-side sessions of the HTML audiences (:mod:`gateway.web.sessions`), in our own database.

A row is keyed by the SHA-256 of the session id, never the id itself: a copy of the table opens no
session. ``idle_until`` never passes ``expires_at`` (the absolute deadline), so one predicate,
``idle_until <= now``, finds every dead row, through its index.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.base import Row, one
from gateway.store.tables import Text, UTCDateTime, metadata

web_sessions = sa.Table(
    "web_sessions", metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # hex SHA-256 of the cookie's session id
    sa.Column("data", Text, nullable=False),  # JSON object
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("idle_until", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Index("ix_web_sessions_idle_until", "idle_until"),
)
t = web_sessions


async def live(conn: AsyncConnection, key: str, now: datetime) -> Row | None:
    return await one(conn, sa.select(t).where(t.c.id == key, t.c.idle_until > now))


async def insert(conn: AsyncConnection, key: str, data: str, *, now: datetime, idle_until: datetime,
                 expires_at: datetime) -> None:
    await conn.execute(sa.insert(t), dict(id=key, data=data, created_at=now, idle_until=min(idle_until, expires_at),
                                           expires_at=expires_at))


async def save(conn: AsyncConnection, key: str, data: str | None, *, now: datetime, idle_until: datetime) -> bool:
    """Store new data (``None``: keep it) and push the idle deadline, if the session is still alive.
    False when it is not: a rotated or expired session stays dead."""
    values: dict[str, object] = {"idle_until": sa.case((t.c.expires_at < idle_until, t.c.expires_at),
                                                       else_=idle_until)}
    if data is not None:
        values["data"] = data
    result = await conn.execute(sa.update(t).where(t.c.id == key, t.c.idle_until > now).values(**values))
    return result.rowcount == 1


async def delete(conn: AsyncConnection, key: str) -> None:
    await conn.execute(sa.delete(t).where(t.c.id == key))


async def purge_expired(conn: AsyncConnection, now: datetime) -> int:
    result = await conn.execute(sa.delete(t).where(t.c.idle_until <= now))
    return result.rowcount
