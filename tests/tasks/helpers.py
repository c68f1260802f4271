"""Shortcuts shared by the background-task tests."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from gateway.store.tables import events
from tests.factories import Gateway, Merchant


async def closed_payment_event(gw: Gateway, m: Merchant) -> str:
    """A quick event: a payment created and closed through the API (``payment.closed``)."""
    p = await gw.create_payment(m)
    closed = await gw.api(m, "POST", f"/payments/{p['id']}/close")
    assert closed.status == 200, closed.text
    async with gw.svc.db.read() as conn:
        return (await conn.execute(sa.select(events.c.id).where(events.c.object_id == p["id"],
                                                                events.c.type == "payment.closed"))).scalar_one()


async def event_row(gw: Gateway, event_id: str) -> dict[str, Any]:
    async with gw.svc.db.read() as conn:
        return dict((await conn.execute(sa.select(events).where(events.c.id == event_id))).mappings().one())
