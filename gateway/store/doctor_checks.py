"""What ``python run.py doctor`` reads: the database's clock, one sealed secret (does the master key open
it?), the channel accounts in use."""
from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.base import Row, all_rows
from gateway.store.tables import channel_accounts, merchants


async def server_now(conn: AsyncConnection) -> datetime:
    """The database server's UTC time (MySQL's ``UTC_TIMESTAMP(6)``; SQLite's own clock is ours)."""
    if conn.dialect.name == "sqlite":
        return datetime.now(UTC)
    value = (await conn.execute(sa.text("SELECT UTC_TIMESTAMP(6)"))).scalar_one()
    return value.replace(tzinfo=UTC)


async def a_sealed_secret(conn: AsyncConnection) -> str | None:
    """Some merchant's sealed webhook secret, if there is any merchant."""
    return (await conn.execute(sa.select(merchants.c.webhook_secret_sealed).limit(1))).scalar()


async def active_accounts(conn: AsyncConnection) -> list[Row]:
    return await all_rows(conn, sa.select(channel_accounts).where(channel_accounts.c.active.is_(True))
                          .order_by(channel_accounts.c.merchant_id, channel_accounts.c.channel))
