"""Merchants and their channel accounts."""
from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.base import Row, all_rows, by, one
from gateway.store.tables import channel_accounts, merchants


async def insert_merchant(conn: AsyncConnection, row: Row) -> None:
    await conn.execute(sa.insert(merchants), row)


async def by_key_hash(conn: AsyncConnection, key_hash: str) -> Row | None:
    return await one(conn, sa.select(merchants).where(merchants.c.api_key_hash == key_hash))


_MERCHANT = sa.select(merchants).where(by(id=merchants.c.id))
_ACCOUNTS_OF = (sa.select(channel_accounts).where(by(merchant_id=channel_accounts.c.merchant_id),
                                                  channel_accounts.c.active.is_(True))
                .order_by(channel_accounts.c.created_at))


async def get_merchant(conn: AsyncConnection, merchant_id: str) -> Row | None:
    return await one(conn, _MERCHANT, {"id": merchant_id})


async def merchants_by_id(conn: AsyncConnection, merchant_ids: Collection[str]) -> dict[str, Row]:
    if not merchant_ids:
        return {}
    return {r["id"]: r for r in await all_rows(conn, sa.select(merchants).where(merchants.c.id.in_(sorted(merchant_ids))))}


async def first_merchant(conn: AsyncConnection) -> Row | None:
    return await one(conn, sa.select(merchants).order_by(merchants.c.created_at).limit(1))


async def set_webhook_url(conn: AsyncConnection, merchant_id: str, url: str | None) -> bool:
    """Returns whether the merchant exists."""
    result = await conn.execute(sa.update(merchants).where(merchants.c.id == merchant_id).values(webhook_url=url))
    return result.rowcount == 1


async def set_return_domains(conn: AsyncConnection, merchant_id: str, domains: list[str]) -> bool:
    """Returns whether the merchant exists."""
    result = await conn.execute(sa.update(merchants).where(merchants.c.id == merchant_id)
                                .values(return_domains=json.dumps(domains)))
    return result.rowcount == 1


async def rotate_webhook_secret(conn: AsyncConnection, merchant_id: str, *, current_sealed: str, new_sealed: str,
                                previous_until: datetime) -> bool:
    """Make ``new_sealed`` the secret and keep ``current_sealed`` valid until ``previous_until`` -- only if
    ``current_sealed`` is still the secret (no lost update between two rotations). Returns whether it did."""
    result = await conn.execute(sa.update(merchants).where(
        merchants.c.id == merchant_id, merchants.c.webhook_secret_sealed == current_sealed,
    ).values(webhook_secret_sealed=new_sealed, webhook_secret_prev_sealed=current_sealed,
             webhook_secret_prev_until=previous_until))
    return result.rowcount == 1


async def insert_account(conn: AsyncConnection, row: Row) -> None:
    await conn.execute(sa.insert(channel_accounts), row)


async def update_account(conn: AsyncConnection, account_id: str, *, credentials_sealed: str,
                         pay_methods: list[str], account_ref: str) -> None:
    """Replace an account's credentials in place: its attempts and refunds keep pointing at it."""
    await conn.execute(sa.update(channel_accounts).where(channel_accounts.c.id == account_id).values(
        credentials_sealed=credentials_sealed, pay_methods=json.dumps(sorted(pay_methods)),
        account_ref=account_ref))


async def accounts_of(conn: AsyncConnection, merchant_id: str) -> list[Row]:
    rows = await all_rows(conn, _ACCOUNTS_OF, {"merchant_id": merchant_id})
    return [{**r, "pay_methods": json.loads(r["pay_methods"])} for r in rows]


async def get_account(conn: AsyncConnection, account_id: str) -> Row | None:
    return await one(conn, sa.select(channel_accounts).where(channel_accounts.c.id == account_id))


_ACTIVE_ON = (sa.select(channel_accounts).where(by(channel=channel_accounts.c.channel),
                                                channel_accounts.c.active.is_(True))
              .order_by(channel_accounts.c.created_at))
_ACTIVE_ON_REF = _ACTIVE_ON.where(by(account_ref=channel_accounts.c.account_ref))


async def accounts_for_callback(conn: AsyncConnection, channel: str, account_ref: str | None) -> list[Row]:
    if account_ref is None:
        return await all_rows(conn, _ACTIVE_ON, {"channel": channel})
    return await all_rows(conn, _ACTIVE_ON_REF, {"channel": channel, "account_ref": account_ref})
