"""The dashboard's rollup agrees with the payments: today's figures read live equal the same day read
from the rollup a day later; recomputing a day twice gives the same rows."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from gateway.admin.dashboard import figures
from gateway.store import rollup, stats
from gateway.store.base import utcnow
from tests.factories import Gateway
from tests.refunds.helpers import paid_payment, refund, refund_status


async def test_rollup_equals_live_figures(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p1 = await paid_payment(gateway, m, amount=1500)
    await paid_payment(gateway, m, amount=700, method="wechat_native")
    await gateway.create_payment(m, amount=99)
    r = await refund(gateway, m, p1["id"], 400)
    await refund_status(gateway, m, r.body["id"], "succeeded")
    db, now = gateway.svc.db, utcnow()
    today = rollup.local_day(now)
    live = await figures(db, m.id, now, "7d")
    assert live["tiles"]["today"]["paid_amount"] == 2200 and live["tiles"]["today"]["created"] == 3
    assert live["tiles"]["today"]["refund_amount"] == 400
    assert {(x["channel"], x["amount"]) for x in live["methods"]} == {("alipay", 1500), ("wechat", 700)}

    assert await rollup.recompute(db, today) == await rollup.recompute(db, today)  # idempotent
    async with db.read() as conn:
        rows = await rollup.read(conn, today, today, m.id)
        over = await stats.overview(conn, m.id, rollup.day_bounds(today)[0])
    sums = rollup.totals(rows)
    assert (sums["paid_count"], sums["paid_amount"], sums["refund_amount"], sums["created_count"]) == (
        over["paid_count"], over["paid_amount"], over["refund_amount"], over["created"])

    tomorrow = await figures(db, m.id, now + timedelta(days=1), "7d")  # today is now a past day: the rollup
    for key in ("created", "paid_count", "paid_amount", "refund_count", "refund_amount"):
        assert tomorrow["tiles"]["7d"][key] == live["tiles"]["today"][key], key
    assert tomorrow["tiles"]["today"]["paid_amount"] == 0
    assert {(x["channel"], x["amount"]) for x in tomorrow["methods"]} == {("alipay", 1500), ("wechat", 700)}
    assert [d["amount"] for d in tomorrow["days"]][-2:] == [2200, 0]
    async with db.read() as conn:
        done = (await conn.execute(sa.select(sa.func.count()).select_from(rollup.stats_days))).scalar_one()
    assert done >= 1
