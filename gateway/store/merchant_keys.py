"""A merchant's API keys (table ``api_keys``): only each key's keyed hash is stored, with a name, a
printable prefix, a last-used time, the end of a rotation's overlap (``expires_at``) and a revocation.

A key authenticates while ``revoked_at`` is null and ``expires_at`` is null or later than now. The merchant
row's ``api_key_hash`` / ``api_key_hint`` mirror the newest key (older readers list the hint).
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.base import Row, all_rows, one
from gateway.store.tables import api_keys, merchants

_PUBLIC = (api_keys.c.id, api_keys.c.merchant_id, api_keys.c.name, api_keys.c.prefix, api_keys.c.created_at,
           api_keys.c.expires_at, api_keys.c.revoked_at, api_keys.c.last_used_at)


def _usable(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(api_keys.c.revoked_at.is_(None),
                   sa.or_(api_keys.c.expires_at.is_(None), api_keys.c.expires_at > now))


async def insert_key(conn: AsyncConnection, *, key_id: str, merchant_id: str, name: str, key_hash: str,
                     prefix: str, now: datetime) -> None:
    """A new key; the merchant row's mirror follows it."""
    await conn.execute(sa.insert(api_keys), dict(id=key_id, merchant_id=merchant_id, name=name, key_hash=key_hash,
                                                  prefix=prefix, created_at=now))
    await conn.execute(sa.update(merchants).where(merchants.c.id == merchant_id)
                       .values(api_key_hash=key_hash, api_key_hint=prefix[-4:]))


async def by_hash(conn: AsyncConnection, key_hash: str, now: datetime) -> tuple[Row, Row] | None:
    """``(merchant, key)`` for a usable key's hash, else None."""
    key = await one(conn, sa.select(*_PUBLIC).where(api_keys.c.key_hash == key_hash, _usable(now)))
    if key is None:
        return None
    merchant = await one(conn, sa.select(merchants).where(merchants.c.id == key["merchant_id"]))
    return None if merchant is None else (merchant, key)


async def keys_of(conn: AsyncConnection, merchant_id: str) -> list[Row]:
    """All the merchant's keys, revoked and expired included, newest first; never a hash."""
    return await all_rows(conn, sa.select(*_PUBLIC).where(api_keys.c.merchant_id == merchant_id)
                          .order_by(api_keys.c.created_at.desc(), api_keys.c.id.desc()))


async def usable_keys_of(conn: AsyncConnection, merchant_id: str, now: datetime) -> list[Row]:
    return await all_rows(conn, sa.select(*_PUBLIC).where(api_keys.c.merchant_id == merchant_id, _usable(now))
                          .order_by(api_keys.c.created_at))


async def get_key(conn: AsyncConnection, merchant_id: str, key_id: str) -> Row | None:
    return await one(conn, sa.select(*_PUBLIC).where(api_keys.c.merchant_id == merchant_id, api_keys.c.id == key_id))


async def revoke(conn: AsyncConnection, merchant_id: str, key_ids: list[str], now: datetime) -> int:
    """Revoke these of the merchant's keys that still work; how many were."""
    if not key_ids:
        return 0
    result = await conn.execute(sa.update(api_keys).where(
        api_keys.c.merchant_id == merchant_id, api_keys.c.id.in_(key_ids), _usable(now)).values(revoked_at=now))
    return int(result.rowcount)


async def expire(conn: AsyncConnection, merchant_id: str, key_ids: list[str], now: datetime, until: datetime) -> int:
    """Let these keys work until ``until`` at the latest (a key already ending sooner keeps its end)."""
    if not key_ids:
        return 0
    result = await conn.execute(sa.update(api_keys).where(
        api_keys.c.merchant_id == merchant_id, api_keys.c.id.in_(key_ids), _usable(now),
        sa.or_(api_keys.c.expires_at.is_(None), api_keys.c.expires_at > until)).values(expires_at=until))
    return int(result.rowcount)


async def touch(conn: AsyncConnection, key_id: str, now: datetime, every: timedelta) -> None:
    """Record a use, at most once per ``every`` (the condition keeps concurrent processes from rewriting it)."""
    await conn.execute(sa.update(api_keys).where(
        api_keys.c.id == key_id,
        sa.or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < now - every)).values(last_used_at=now))


async def merchant_exists(conn: AsyncConnection, merchant_id: str) -> bool:
    return await one(conn, sa.select(merchants.c.id).where(merchants.c.id == merchant_id)) is not None
