"""Payment links: reusable, merchant-owned; each visit creates a payment (``payments.link_id``)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.base import Row, all_rows, newest_first, one
from gateway.store.tables import payment_links


async def insert_link(conn: AsyncConnection, row: Row) -> None:
    await conn.execute(sa.insert(payment_links), row)


async def by_slug(conn: AsyncConnection, slug: str) -> Row | None:
    return await one(conn, sa.select(payment_links).where(payment_links.c.slug == slug))


async def get_link(conn: AsyncConnection, merchant_id: str, link_id: str) -> Row | None:
    return await one(conn, sa.select(payment_links).where(payment_links.c.id == link_id,
                                                          payment_links.c.merchant_id == merchant_id))


async def list_links(conn: AsyncConnection, merchant_id: str, *, limit: int,
                     after: tuple[datetime, str] | None = None) -> list[Row]:
    """Newest first, keyset-paginated on ``(created_at, id)`` like payments."""
    c = payment_links.c
    stmt = sa.select(payment_links).where(c.merchant_id == merchant_id)
    return await all_rows(conn, newest_first(stmt, payment_links, after, limit))


async def update_link(conn: AsyncConnection, merchant_id: str, link_id: str, values: Row) -> bool:
    """Change a link's editable fields; whether it exists for this merchant."""
    result = await conn.execute(sa.update(payment_links).where(
        payment_links.c.id == link_id, payment_links.c.merchant_id == merchant_id).values(**values))
    return result.rowcount > 0
