"""Every channel callback as it arrived, with what we made of it."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.base import dumps, insert, utcnow
from gateway.store.tables import notify_log

_BODY_LIMIT = 256 * 1024


async def record(conn: AsyncConnection, *, channel: str, headers: Mapping[str, str], body: bytes,
                 remote: str | None, result: str, error: str | None = None,
                 account_id: str | None = None, trade_no: str | None = None) -> None:
    await insert(conn, notify_log, dict(
        channel=channel, account_id=account_id, trade_no=trade_no, remote=remote,
        headers=dumps(dict(headers)), body=body[:_BODY_LIMIT].decode("utf-8", "replace"),
        result=result, error=(error or None) and error[:256], created_at=utcnow()))


async def purge_refused(conn: AsyncConnection, before: datetime, *, batch: int = 1000) -> int:
    """Delete up to ``batch`` refused (``rejected``/``error``) rows logged before ``before``; how many.
    Applied, duplicate and ignored callbacks are kept as long as the payments they belong to."""
    c = notify_log.c
    ids = [r[0] for r in (await conn.execute(
        sa.select(c.id).where(c.result.in_(("rejected", "error")), c.created_at < before).limit(batch))).all()]
    if ids:
        await conn.execute(sa.delete(notify_log).where(c.id.in_(ids)))
    return len(ids)
