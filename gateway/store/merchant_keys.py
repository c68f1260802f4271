"""A merchant's API key replaced (rotation) or made unusable (revocation): only its keyed hash is stored."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.tables import merchants


async def replace_api_key(conn: AsyncConnection, merchant_id: str, key_hash: str, hint: str) -> bool:
    result = await conn.execute(sa.update(merchants).where(merchants.c.id == merchant_id)
                                .values(api_key_hash=key_hash, api_key_hint=hint))
    return result.rowcount == 1
