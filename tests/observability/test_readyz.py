"""``/readyz``: the database, the cache, and this process's background loops -- a loop that has not
completed a round for too long makes the process not ready (503), and ready again once it does."""
from __future__ import annotations

from pathlib import Path

from tests.factories import Gateway, start_gateway
from tests.support.waiting import eventually


async def readiness(gw: Gateway) -> tuple[int, dict]:
    async with gw.http.get(f"{gw.url}/readyz") as r:
        return r.status, await r.json()


async def test_ready_names_the_database_cache_and_every_loop(gateway: Gateway) -> None:
    status, body = await eventually(lambda: readiness(gateway), lambda a: a[0] == 200)
    assert status == 200 and body["status"] == "ready"
    checks = body["checks"]
    # the cache is reported (a slow Redis ping on a busy machine trips its breaker: "degraded", still ready)
    assert checks["database"] == "ok" and (checks["cache"] == "ok" or checks["cache"].startswith("degraded"))
    assert {"expiry", "attempt-sync", "refund-sync", "webhooks", "reconcile", "stats-rollup"} <= set(checks["loops"])
    assert all(loop["ok"] for loop in checks["loops"].values())
    assert "stale_loops" not in checks


async def test_a_loop_stuck_in_a_round_makes_the_process_not_ready(tmp_path: Path) -> None:
    # The sync loop waits on its batch; an Alipay query that takes 2 s holds it past its 0.5 s limit.
    async with start_gateway(tmp_path, task_interval=0.05, task_time_scale=0.001, loop_stale_after=0.5) as gw:
        m = await gw.merchant()
        await gw.fault("alipay", {"api": {"mode": "timeout", "seconds": 2, "operation": "query", "count": 3}})
        await gw.create_payment(m, channel="alipay_qr")
        status, body = await eventually(lambda: readiness(gw), lambda a: a[0] == 503, seconds=15)
        assert status == 503 and body["status"] == "not_ready", body
        assert body["checks"]["stale_loops"] == ["attempt-sync"] and body["checks"]["database"] == "ok"
        assert body["checks"]["loops"]["attempt-sync"]["ok"] is False
        status, body = await eventually(lambda: readiness(gw), lambda a: a[0] == 200, seconds=20)
        assert status == 200, body


async def test_without_background_work_there_are_no_loops_to_report(tmp_path: Path) -> None:
    async with start_gateway(tmp_path, background=False) as gw:
        status, body = await readiness(gw)
        assert status == 200 and "loops" not in body["checks"]
