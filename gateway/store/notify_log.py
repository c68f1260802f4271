"""Every channel callback as it arrived, with what we made of it."""
from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.base import dumps, utcnow
from gateway.store.tables import notify_log

_BODY_LIMIT = 256 * 1024


async def record(conn: AsyncConnection, *, channel: str, headers: Mapping[str, str], body: bytes,
                 remote: str | None, result: str, error: str | None = None,
                 account_id: str | None = None, trade_no: str | None = None) -> None:
    await conn.execute(sa.insert(notify_log).values(
        channel=channel, account_id=account_id, trade_no=trade_no, remote=remote,
        headers=dumps(dict(headers)), body=body[:_BODY_LIMIT].decode("utf-8", "replace"),
        result=result, error=(error or None) and error[:256], created_at=utcnow()))
