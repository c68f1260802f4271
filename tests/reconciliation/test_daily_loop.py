"""The daily loop: yesterday's batches seeded at GATEWAY_RECON_TIME, run, retried while not ready,
abandoned (with an error log) at GATEWAY_RECON_GIVE_UP the next day."""
from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
import sqlalchemy as sa

from gateway.services.reconciliation.days import SHANGHAI, today
from gateway.store.reconciliation import recon_batches
from gateway.store.tables import channel_accounts
from gateway.tasks.reconcile import tick
from tests.factories import Gateway
from tests.reconciliation.helpers import account_of, payment


async def only_these_accounts(gw: Gateway, merchant_id: str) -> None:
    """The loop works on every active account of the database: on a shared test database, keep it to
    this test's merchant."""
    async with gw.svc.db.begin() as conn:
        await conn.execute(sa.update(channel_accounts).where(channel_accounts.c.merchant_id != merchant_id)
                           .values(active=False))


async def batches(gw: Gateway, day: object) -> dict[str, dict]:
    async with gw.svc.db.read() as conn:
        rows = (await conn.execute(sa.select(recon_batches).where(recon_batches.c.bill_date == day))).mappings()
        return {r["account_id"]: dict(r) for r in rows}


async def test_seeded_at_recon_time_and_run(gw: Gateway) -> None:
    m = await gw.merchant()
    await only_these_accounts(gw, m.id)
    wechat = await account_of(gw, m, "wechat")
    await payment(gw, m, "wechat", 1000)
    day = today()
    before = datetime.combine(day + timedelta(days=1), time(10, 0), SHANGHAI)
    assert await tick(gw.svc, before) == 0 and wechat not in await batches(gw, day)
    after = datetime.combine(day + timedelta(days=1), time(10, 31), SHANGHAI)
    assert await tick(gw.svc, after) >= 1
    seeded = await batches(gw, day)
    assert seeded[wechat]["status"] == "done" and seeded[wechat]["matched"] == 1
    await tick(gw.svc, after)  # done batches are not run again
    assert (await batches(gw, day))[wechat]["runs"] == 1


async def test_not_ready_is_retried_then_abandoned(gw: Gateway, monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("GATEWAY_SANDBOX_BILLS_IMMEDIATE", raising=False)
    m = await gw.merchant()
    await only_these_accounts(gw, m.id)
    alipay = await account_of(gw, m, "alipay")
    await payment(gw, m, "alipay", 1000)
    day = today()
    at = datetime.combine(day + timedelta(days=1), time(10, 31), SHANGHAI)
    await tick(gw.svc, at)
    batch = (await batches(gw, day))[alipay]
    assert batch["status"] == "not_ready" and batch["next_attempt_at"] is not None
    late = datetime.combine(day + timedelta(days=1), time(20, 1), SHANGHAI)
    async with gw.svc.db.begin() as conn:  # the retry is due
        await conn.execute(sa.update(recon_batches).where(recon_batches.c.id == batch["id"])
                           .values(next_attempt_at=late - timedelta(minutes=1)))
    await tick(gw.svc, late)
    batch = (await batches(gw, day))[alipay]
    assert (batch["status"], batch["error_code"], batch["next_attempt_at"]) == ("failed", "never_ready", None)
    assert any("abandoned" in r.message for r in caplog.records)
