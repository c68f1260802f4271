"""Graceful shutdown: work in flight when the app stops is finished (within the grace period) and
recorded before the database closes."""
from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa

from gateway.store.db import Database
from gateway.store.tables import events
from tests.conftest import FAST
from tests.factories import start_gateway
from tests.support.receiver import Receiver
from tests.support.waiting import eventually
from tests.tasks.helpers import closed_payment_event


async def test_a_delivery_in_flight_at_shutdown_is_finished_and_recorded(
        database_url: str | None, tmp_path: Path, hooks: Receiver) -> None:
    hooks.delay = 0.5
    async with start_gateway(tmp_path, database_url=database_url, **FAST) as gw:
        m = await gw.merchant(webhook_url=hooks.endpoint("s"))
        event_id = await closed_payment_event(gw, m)
        assert await eventually(lambda: asyncio.sleep(0, hooks.in_flight["/s"] == 1), seconds=5)
        url = gw.svc.settings.effective_database_url
    # the app has stopped: the attempt it was making completed and was written down
    assert hooks.ids("s") == [event_id]
    db = Database(url)
    try:
        async with db.read() as conn:
            row = (await conn.execute(sa.select(events.c.delivery_status, events.c.lease_until)
                                      .where(events.c.id == event_id))).one()
        assert row.delivery_status == "delivered" and row.lease_until is None
    finally:
        await db.dispose()
