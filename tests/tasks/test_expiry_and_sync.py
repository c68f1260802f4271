"""Expiry, channel sync and the policies that follow a confirmed payment, against the sandboxes with
compressed time: a lost callback is repaired by sync; an expired payment closes at the channel first;
a payment the channel reports paid at expiry becomes paid; a success after a local close is never
dropped (refunded by default, kept under ``keep``); a second payment of one order is refunded once."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.services.payments import open_attempt
from gateway.store import payments as payments_repo
from gateway.store.base import utcnow
from gateway.store.tables import attempts, events, ledger_entries, notify_log, payments, refunds
from tests.conftest import FAST
from tests.factories import Gateway, Merchant, start_gateway
from tests.support.waiting import eventually, wait_status

CHANNEL = {"alipay_qr": "alipay", "wechat_native": "wechat"}


async def _control(gw: Gateway, channel: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    async with gw.http.post(f"{gw.url}/sandbox/{channel}/_control/{path}", json=body or {}) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def _drop_callbacks(gw: Gateway, channel: str, count: int = 0) -> None:
    """Callbacks lost for the rest of the test. WeChat's sandbox drops only a first delivery and then
    retries within milliseconds at this time scale, so there the callbacks are held back a minute
    (count 0: until reset)."""
    fault = ({"mode": "delay", "seconds": 60, "count": count} if channel == "wechat"
             else {"mode": "drop", "count": count or 1000})
    await _control(gw, channel, "faults", {"callbacks": fault})


async def _attempts(gw: Gateway, payment_id: str) -> list[dict[str, Any]]:
    async with gw.svc.db.read() as conn:
        return await payments_repo.attempts_of(conn, payment_id)


async def _set(gw: Gateway, table: sa.Table, row_id: str, **values: Any) -> None:
    async with gw.svc.db.begin() as conn:
        await conn.execute(sa.update(table).where(table.c.id == row_id).values(**values))


async def _count_events(gw: Gateway, payment_id: str, type_: str) -> int:
    return await gw.count(events, events.c.object_id == payment_id, events.c.type == type_)


@pytest.mark.parametrize("method", sorted(CHANNEL))
async def test_a_lost_callback_is_repaired_by_sync(fast_gateway: Gateway, method: str) -> None:
    gw = fast_gateway
    m = await gw.merchant()
    await _drop_callbacks(gw, CHANNEL[method])
    p = await gw.create_payment(m, channel=method)
    (attempt,) = await _attempts(gw, p["id"])
    await _control(gw, CHANNEL[method], f"pay/{attempt['id']}")
    assert (await wait_status(gw, m, p["id"], "paid"))["status"] == "paid"
    assert await eventually(lambda: _synced(gw, p["id"], 1))  # counted when the sync job gives its lease back
    (attempt,) = await _attempts(gw, p["id"])
    assert attempt["status"] == "succeeded" and attempt["next_sync_at"] is None
    assert await gw.count(notify_log, notify_log.c.trade_no == attempt["id"], notify_log.c.result == "applied") == 0
    assert await _count_events(gw, p["id"], "payment.succeeded") == 1
    assert await gw.count(ledger_entries, ledger_entries.c.payment_id == p["id"]) == 1


async def test_sync_keeps_querying_an_unpaid_attempt_on_its_tiers(fast_gateway: Gateway) -> None:
    gw = fast_gateway
    m = await gw.merchant()
    p = await gw.create_payment(m, channel="wechat_native")
    assert await eventually(lambda: _synced(gw, p["id"], 3), seconds=5)
    (attempt,) = await _attempts(gw, p["id"])
    assert attempt["status"] == "pending" and attempt["next_sync_at"] > utcnow() - timedelta(seconds=1)
    assert (await gw.api(m, "GET", f"/payments/{p['id']}")).body["status"] == "pending"


async def _synced(gw: Gateway, payment_id: str, times: int) -> bool:
    (attempt,) = await _attempts(gw, payment_id)
    return attempt["sync_count"] >= times


async def test_expiry_closes_at_the_channel_first_then_here(fast_gateway: Gateway) -> None:
    gw = fast_gateway
    m = await gw.merchant()
    p = await gw.create_payment(m, channel="wechat_native")
    (attempt,) = await _attempts(gw, p["id"])
    await _set(gw, payments, p["id"], expires_at=utcnow() - timedelta(seconds=1))
    closed = await wait_status(gw, m, p["id"], "closed")
    assert closed["status"] == "closed" and closed["closed_at"]
    async with gw.http.get(f"{gw.url}/sandbox/wechat/_control/trades/{attempt['id']}") as resp:
        assert (await resp.json())["trade_state"] == "CLOSED"
    assert (await _attempts(gw, p["id"]))[0]["status"] == "closed"
    async with gw.svc.db.read() as conn:
        (payload,) = (await conn.execute(sa.select(events.c.payload).where(
            events.c.object_id == p["id"], events.c.type == "payment.closed"))).scalars().all()
    assert '"close_reason":"expired"' in payload


async def test_expiry_of_a_payment_the_channel_has_paid_makes_it_paid(fast_gateway: Gateway) -> None:
    gw = fast_gateway
    m = await gw.merchant()
    await _drop_callbacks(gw, "wechat")
    p = await gw.create_payment(m, channel="wechat_native")
    (attempt,) = await _attempts(gw, p["id"])
    await _set(gw, attempts, attempt["id"], next_sync_at=utcnow() + timedelta(days=1))  # sync stays away
    await _control(gw, "wechat", f"pay/{attempt['id']}")
    await _set(gw, payments, p["id"], expires_at=utcnow() - timedelta(seconds=1))
    assert (await wait_status(gw, m, p["id"], "paid"))["status"] == "paid"
    assert await _count_events(gw, p["id"], "payment.closed") == 0
    assert await _count_events(gw, p["id"], "payment.succeeded") == 1


async def _refunds_of(gw: Gateway, payment_id: str) -> list[dict[str, Any]]:
    async with gw.svc.db.read() as conn:
        return [dict(r) for r in (await conn.execute(sa.select(refunds).where(refunds.c.payment_id == payment_id)))
                .mappings()]


async def _late_payment(gw: Gateway, m: Merchant) -> dict[str, Any]:
    """An Alipay QR nobody scanned does not exist at Alipay: closing it there "succeeds", yet the code
    stays scannable -- the real way a success arrives after we closed the payment."""
    p = await gw.create_payment(m, channel="alipay_qr")
    (attempt,) = await _attempts(gw, p["id"])
    await _set(gw, payments, p["id"], expires_at=utcnow() - timedelta(seconds=1))
    assert (await wait_status(gw, m, p["id"], "closed"))["status"] == "closed"
    await _control(gw, "alipay", f"pay/{attempt['id']}")  # the shopper scans and pays anyway
    return p


async def test_a_success_after_close_is_refunded_by_default(fast_gateway: Gateway) -> None:
    gw = fast_gateway
    m = await gw.merchant()
    p = await _late_payment(gw, m)
    done = await wait_status(gw, m, p["id"], "refunded")
    assert done["status"] == "refunded" and done["late_payment"] and done["refunded_amount"] == p["amount"]
    (refund,) = await _refunds_of(gw, p["id"])
    assert refund["automatic"] == "late_paid" and refund["status"] == "succeeded"
    for type_ in ("payment.closed", "payment.succeeded", "payment.refunded"):
        assert await _count_events(gw, p["id"], type_) == 1
    assert await gw.count(events, events.c.object_id == refund["id"], events.c.type == "refund.succeeded") == 1


async def test_a_success_after_close_is_kept_under_the_keep_policy(
        database_url: str | None, tmp_path: Path) -> None:
    async with start_gateway(tmp_path, database_url=database_url, late_payment_policy="keep", **FAST) as gw:
        m = await gw.merchant()
        p = await _late_payment(gw, m)
        paid = await wait_status(gw, m, p["id"], "paid")
        assert paid["status"] == "paid" and paid["late_payment"] and paid["refundable_amount"] == p["amount"]
        assert await _refunds_of(gw, p["id"]) == []
        assert await _count_events(gw, p["id"], "payment.succeeded") == 1


async def test_a_double_payment_found_by_sync_is_refunded_once(fast_gateway: Gateway) -> None:
    gw = fast_gateway
    m = await gw.merchant()
    p = await gw.create_payment(m, amount=888)
    async with gw.svc.db.read() as conn:
        row = await payments_repo.get_payment(conn, p["id"])
    assert row is not None
    first = await open_attempt(gw.svc, row, "alipay_qr")
    second = await open_attempt(gw.svc, row, "wechat_native")
    await _control(gw, "alipay", f"pay/{first['id']}")
    assert (await wait_status(gw, m, p["id"], "paid"))["status"] == "paid"
    await _drop_callbacks(gw, "wechat", 1)  # the second success reaches us only by sync
    await _control(gw, "wechat", f"pay/{second['id']}")
    assert await eventually(lambda: _refund_done(gw, p["id"]), seconds=10)
    (refund,) = await _refunds_of(gw, p["id"])
    assert refund["automatic"] == "double_paid" and refund["attempt_id"] == second["id"] and refund["amount"] == 888
    after = (await gw.api(m, "GET", f"/payments/{p['id']}")).body
    assert after["status"] == "paid" and after["refundable_amount"] == 888 and after["refunded_amount"] == 0
    assert await _count_events(gw, p["id"], "payment.double_paid") == 1
    assert await _count_events(gw, p["id"], "payment.succeeded") == 1


async def _refund_done(gw: Gateway, payment_id: str) -> bool:
    rows = await _refunds_of(gw, payment_id)
    return bool(rows) and all(r["status"] == "succeeded" for r in rows)
