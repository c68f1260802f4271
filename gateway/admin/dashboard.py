"""The dashboard's figures: past days from the daily rollup (:mod:`gateway.store.rollup`), today live
from the payments through their time indexes -- so the page costs the same with a thousand payments or
millions."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from gateway.store import rollup, stats
from gateway.store.db import Database

RANGES = {"today": 1, "7d": 7, "30d": 30}


def _tile(live: Mapping[str, Any], past: Mapping[str, Any]) -> dict[str, Any]:
    created = live["created"] + past["created_count"]
    paid = live["paid_count"] + past["paid_count"]
    return {"created": created, "paid_count": paid, "paid_amount": live["paid_amount"] + past["paid_amount"],
            "refund_count": live["refund_count"] + past["refund_count"],
            "refund_amount": live["refund_amount"] + past["refund_amount"],
            "conversion": paid / created if created else None}


async def figures(db: Database, scope: str | None, now: datetime, chosen: str) -> dict[str, Any]:
    today = rollup.local_day(now)
    today_start = rollup.day_bounds(today)[0]
    await rollup.ensure(db, today)
    async with db.read() as conn:
        live = await stats.overview(conn, scope, today_start)
        live_methods = await stats.by_method(conn, scope, today_start)
        past = await rollup.read(conn, today - timedelta(days=29), today - timedelta(days=1), scope)
        problems = await stats.problems(conn, scope, now)
    tiles = {}
    for name, length in RANGES.items():
        first = (today - timedelta(days=length - 1)).isoformat()
        tiles[name] = _tile(live, rollup.totals(r for r in past if r["day"] >= first))
    first = (today - timedelta(days=RANGES.get(chosen, 7) - 1)).isoformat()
    methods: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {"count": 0, "amount": 0})
    for m in live_methods:
        methods[(m["channel"], m["pay_method"])]["count"] += int(m["count"])
        methods[(m["channel"], m["pay_method"])]["amount"] += int(m["amount"] or 0)
    for r in past:
        if r["day"] >= first and r["channel"] and r["paid_count"]:
            methods[(r["channel"], r["pay_method"])]["count"] += int(r["paid_count"])
            methods[(r["channel"], r["pay_method"])]["amount"] += int(r["paid_amount"])
    by_day: dict[str, dict[str, int]] = defaultdict(lambda: {"count": 0, "amount": 0, "refunded": 0})
    for r in past:
        by_day[r["day"]]["count"] += int(r["paid_count"])
        by_day[r["day"]]["amount"] += int(r["paid_amount"])
        by_day[r["day"]]["refunded"] += int(r["refund_amount"])
    by_day[today.isoformat()] = {"count": live["paid_count"], "amount": live["paid_amount"],
                                 "refunded": live["refund_amount"]}
    days = [{"day": d, **by_day[d]} for d in ((today - timedelta(days=i)).isoformat() for i in range(29, -1, -1))]
    return {"tiles": tiles, "problems": problems, "days": days,
            "methods": sorted(({"channel": c, "pay_method": pm, **v} for (c, pm), v in methods.items()),
                              key=lambda m: -m["amount"])}
