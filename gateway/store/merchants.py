"""Merchants and their channel accounts."""
from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.base import Row, all_rows, one
from gateway.store.tables import channel_accounts, merchants


async def insert_merchant(conn: AsyncConnection, row: Row) -> None:
    await conn.execute(sa.insert(merchants).values(**row))


async def by_key_hash(conn: AsyncConnection, key_hash: str) -> Row | None:
    return await one(conn, sa.select(merchants).where(merchants.c.api_key_hash == key_hash))


async def get_merchant(conn: AsyncConnection, merchant_id: str) -> Row | None:
    return await one(conn, sa.select(merchants).where(merchants.c.id == merchant_id))


async def first_merchant(conn: AsyncConnection) -> Row | None:
    return await one(conn, sa.select(merchants).order_by(merchants.c.created_at).limit(1))


async def insert_account(conn: AsyncConnection, row: Row) -> None:
    await conn.execute(sa.insert(channel_accounts).values(**row))


async def accounts_of(conn: AsyncConnection, merchant_id: str) -> list[Row]:
    rows = await all_rows(conn, sa.select(channel_accounts).where(
        channel_accounts.c.merchant_id == merchant_id, channel_accounts.c.active.is_(True))
        .order_by(channel_accounts.c.created_at))
    for r in rows:
        r["pay_methods"] = json.loads(r["pay_methods"])
    return rows


async def get_account(conn: AsyncConnection, account_id: str) -> Row | None:
    return await one(conn, sa.select(channel_accounts).where(channel_accounts.c.id == account_id))


async def accounts_for_callback(conn: AsyncConnection, channel: str, account_ref: str | None) -> list[Row]:
    stmt = sa.select(channel_accounts).where(channel_accounts.c.channel == channel,
                                             channel_accounts.c.active.is_(True))
    if account_ref is not None:
        stmt = stmt.where(channel_accounts.c.account_ref == account_ref)
    return await all_rows(conn, stmt.order_by(channel_accounts.c.created_at))
