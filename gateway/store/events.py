"""Merchant events: a transactional outbox. An event is inserted in the transaction of the state change
it reports, so none is lost and none exists for a change that rolled back; its id never changes."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.ids import new_id
from gateway.store.base import Row, all_rows, dumps, insert, newest_first, one, utcnow
from gateway.store.tables import events


async def emit(conn: AsyncConnection, merchant_id: str, type_: str, data: dict[str, Any],
               *, deliver: bool) -> str:
    event_id = new_id("evt")
    now = utcnow()
    body = {"id": event_id, "type": type_, "created_at": now.isoformat().replace("+00:00", "Z"),
            "data": data}
    await insert(conn, events, dict(
        id=event_id, merchant_id=merchant_id, type=type_, payload=dumps(body), object_id=data.get("id"),
        delivery_status="pending" if deliver else "none", attempts=0,
        next_attempt_at=now if deliver else None, created_at=now))
    return event_id


async def get_event(conn: AsyncConnection, merchant_id: str, event_id: str) -> Row | None:
    return await one(conn, sa.select(events).where(events.c.id == event_id,
                                                   events.c.merchant_id == merchant_id))


async def list_events(conn: AsyncConnection, merchant_id: str, *, limit: int, type_: str | None = None,
                      object_id: str | None = None, after: tuple[datetime, str] | None = None) -> list[Row]:
    c = events.c
    stmt = sa.select(events).where(c.merchant_id == merchant_id)
    if type_:
        stmt = stmt.where(c.type == type_)
    if object_id:
        stmt = stmt.where(c.object_id == object_id)
    return await all_rows(conn, newest_first(stmt, events, after, limit))
