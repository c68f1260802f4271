"""The expiry sweep reads due rows through the (status, expires_at) index -- never a table scan -- on
both databases, so its cost does not grow with the number of payments."""
from __future__ import annotations

import sqlalchemy as sa

from gateway.store import leases
from gateway.store.base import utcnow
from gateway.store.tables import payments
from gateway.tasks.runner import BATCH
from tests.factories import Gateway


async def test_the_expiry_sweep_uses_the_index(gateway: Gateway) -> None:
    db = gateway.svc.db
    now = utcnow()
    stmt = (sa.select(payments.c.id).where(leases.EXPIRY.due(now), leases.free(payments, now))
            .order_by(leases.EXPIRY.order).limit(BATCH))
    async with db.read() as conn:
        sql = str(stmt.compile(conn.sync_connection, compile_kwargs={"literal_binds": True}))
        if db.is_sqlite:
            plan = " ".join(str(r[-1]) for r in (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")).all())
            assert "ix_payments_status_expires" in plan and "SCAN payments" not in plan, plan
        else:
            row = (await conn.exec_driver_sql(f"EXPLAIN {sql}")).mappings().one()
            assert row["key"] == "ix_payments_status_expires" and row["type"] == "range", dict(row)
