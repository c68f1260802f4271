"""Refunds through both channels and their sandboxes: asynchronous WeChat refunds settled by
notification, ABNORMAL/CLOSED refunds failed with the amount given back, duplicate notifications with
no second effect, and ambiguous answers (timeouts, 5xx) resolved by query -- never assumed failed."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.channels.alipay import AlipayFactory
from gateway.channels.registry import Registry
from gateway.channels.wechat import WechatFactory
from gateway.services import refunds as service
from gateway.store.tables import events, ledger_entries, notify_log
from tests.conftest import REDIS_URL
from tests.factories import Gateway, Merchant, start_gateway
from tests.refunds.helpers import (
    CHANNELS,
    assert_books_balance,
    paid_payment,
    refund,
    refund_status,
)
from tests.support.waiting import eventually


async def fault(gw: Gateway, channel: str, body: dict[str, Any]) -> None:
    async with gw.http.post(f"{gw.url}/sandbox/{channel}/_control/faults", json=body) as resp:
        assert resp.status == 200, await resp.text()


async def sandbox_trade(gw: Gateway, channel: str, trade_no: str) -> dict[str, Any]:
    async with gw.http.get(f"{gw.url}/sandbox/{channel}/_control/trades/{trade_no}") as resp:
        assert resp.status == 200
        return await resp.json()


async def refund_entries(gw: Gateway, refund_id: str) -> int:
    return await gw.count(ledger_entries, ledger_entries.c.refund_id == refund_id)


async def payment(gw: Gateway, m: Merchant, payment_id: str) -> dict[str, Any]:
    return (await gw.api(m, "GET", f"/payments/{payment_id}")).body


async def attempt_id(gw: Gateway, payment_id: str) -> str:
    from gateway.store.tables import attempts

    async with gw.svc.db.read() as conn:
        return (await conn.execute(sa.select(attempts.c.id).where(attempts.c.payment_id == payment_id,
                                                                  attempts.c.status == "succeeded"))).scalar_one()


async def test_wechat_refund_is_processing_then_notified(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p = await paid_payment(gateway, m, 2000, "wechat_native")
    r = (await refund(gateway, m, p["id"], 500)).body
    assert r["status"] in ("pending", "succeeded")  # PROCESSING at WeChat; the notification may be quick
    done = await refund_status(gateway, m, r["id"], "succeeded")
    assert done["status"] == "succeeded" and done["succeeded_at"]
    after = await payment(gateway, m, p["id"])
    assert (after["status"], after["refunded_amount"], after["refundable_amount"]) == ("partially_refunded", 500, 1500)
    assert await refund_entries(gateway, r["id"]) == 1
    trade = await sandbox_trade(gateway, "wechat", await attempt_id(gateway, p["id"]))
    assert trade["trade_state"] == "REFUND"
    await assert_books_balance(gateway)


@pytest.mark.parametrize("status", ["ABNORMAL", "CLOSED"])
async def test_wechat_abnormal_or_closed_refund_fails_and_gives_back(gateway: Gateway, status: str) -> None:
    m = await gateway.merchant()
    p = await paid_payment(gateway, m, 1000, "wechat_native")
    await fault(gateway, "wechat", {"refunds": {"status": status, "count": 1}})
    r = (await refund(gateway, m, p["id"], 1000)).body
    failed = await refund_status(gateway, m, r["id"], "failed")
    assert failed["status"] == "failed" and failed["failure_code"] == "channel_failed"
    after = await payment(gateway, m, p["id"])
    assert (after["status"], after["refunded_amount"], after["refundable_amount"]) == ("paid", 0, 1000)
    assert await refund_entries(gateway, r["id"]) == 0
    assert await gateway.count(events, events.c.type == "refund.failed", events.c.object_id == r["id"]) == 1
    # the amount is refundable here again. WeChat gives a CLOSED refund's amount back too; an ABNORMAL
    # one stays counted at WeChat (the money is stuck on the way to the payer), so it refuses a new one.
    again = (await refund(gateway, m, p["id"], 1000)).body
    if status == "CLOSED":
        assert (await refund_status(gateway, m, again["id"], "succeeded"))["status"] == "succeeded"
        assert (await payment(gateway, m, p["id"]))["status"] == "refunded"
    else:
        assert again["status"] == "failed" and again["failure_code"] == "PARAM_ERROR", again
        assert (await payment(gateway, m, p["id"]))["refundable_amount"] == 1000
    await assert_books_balance(gateway)


@pytest.mark.parametrize("channel", sorted(CHANNELS))
async def test_duplicate_refund_notifications_have_no_second_effect(gateway: Gateway, channel: str) -> None:
    m = await gateway.merchant()
    p = await paid_payment(gateway, m, 800, CHANNELS[channel])
    trade_no = await attempt_id(gateway, p["id"])
    await fault(gateway, channel, {"callbacks": {"mode": "duplicate", "count": 1}})
    r = (await refund(gateway, m, p["id"], 300)).body
    await refund_status(gateway, m, r["id"], "succeeded")

    async def logged() -> list[str]:
        async with gateway.svc.db.read() as conn:
            return list((await conn.execute(sa.select(notify_log.c.result).where(
                notify_log.c.trade_no == trade_no).order_by(notify_log.c.id))).scalars())
    # the payment's notify, then the refund's twice (Alipay: the synchronous answer settled it first)
    results = await eventually(logged, lambda rs: len(rs) >= 3)
    assert results.count("duplicate") >= 1 and "rejected" not in results, results
    assert await refund_entries(gateway, r["id"]) == 1
    assert await gateway.count(events, events.c.type == "refund.succeeded", events.c.object_id == r["id"]) == 1
    after = await payment(gateway, m, p["id"])
    assert (after["refunded_amount"], after["refundable_amount"]) == (300, 500)
    await assert_books_balance(gateway)


@pytest.fixture
async def impatient_gateway(backend: str, database_url: str | None, tmp_path: Path) -> AsyncIterator[Gateway]:
    """Alipay answers slower than half a second count as timeouts (the real client waits 15 s)."""
    registry = Registry([AlipayFactory(timeout=0.5), WechatFactory()])
    async with start_gateway(tmp_path, database_url=database_url, registry=registry,
                             redis_url=REDIS_URL if backend == "mysql" else None) as gw:
        yield gw


async def _sync_until(gw: Gateway, m: Merchant, refund_id: str, status: str) -> dict[str, Any]:
    async def step() -> Any:
        await service.sync(gw.svc, refund_id)
        return await gw.api(m, "GET", f"/refunds/{refund_id}")
    return (await eventually(step, lambda a: a.body["status"] == status)).body


@pytest.mark.parametrize("channel, fault_body, applied", [
    # the refund took effect at Alipay, the answer came too late
    ("alipay", {"api": {"method": "alipay.trade.refund", "mode": "timeout", "seconds": 2}}, True),
    # Alipay answered 500 before doing anything: the query finds nothing, the same number is re-sent
    ("alipay", {"api": {"method": "alipay.trade.refund", "mode": "http500"}}, False),
    # WeChat processed the refund, the answer was lost
    ("wechat", {"api": {"path_contains": "/v3/refund/domestic/refunds", "mode": "http500", "after": True,
                        "count": 1}}, True),
    # WeChat timed out (504) without processing: RESOURCE_NOT_EXISTS on query, re-sent with the same number
    ("wechat", {"api": {"path_contains": "/v3/refund/domestic/refunds", "mode": "timeout", "seconds": 0.2,
                        "count": 1}}, False),
])
async def test_ambiguous_refund_answers_are_resolved_by_query(impatient_gateway: Gateway, channel: str,
                                                              fault_body: dict[str, Any], applied: bool) -> None:
    gw = impatient_gateway
    m = await gw.merchant()
    p = await paid_payment(gw, m, 1200, CHANNELS[channel])
    await fault(gw, channel, fault_body)
    answer = await refund(gw, m, p["id"], 700)
    assert answer.status == 201 and answer.body["status"] in ("pending", "succeeded"), answer.text
    r = answer.body
    if not applied:  # nothing reached the channel, so nothing but our query can settle it
        assert r["status"] == "pending"
        assert (await payment(gw, m, p["id"]))["refundable_amount"] == 500  # still reserved, not failed
    done = await _sync_until(gw, m, r["id"], "succeeded")
    assert done["status"] == "succeeded"
    await service.sync(gw.svc, r["id"])  # a late sync of a settled refund changes nothing
    trade = await sandbox_trade(gw, channel, await attempt_id(gw, p["id"]))
    if channel == "alipay":
        assert len(trade["refunds"]) == 1 and trade["refunded_fen"] == 700  # once at the channel
    else:
        assert trade["trade_state"] == "REFUND"
    assert await refund_entries(gw, r["id"]) == 1
    after = await payment(gw, m, p["id"])
    assert (after["status"], after["refunded_amount"], after["refundable_amount"]) == ("partially_refunded", 700, 500)
    await assert_books_balance(gw)


async def test_refused_refund_request_fails_and_gives_back(gateway: Gateway) -> None:
    """A definitive refusal of the refund request itself (not a query) fails the refund."""
    m = await gateway.merchant()
    p = await paid_payment(gateway, m, 900, "wechat_native")
    await fault(gateway, "wechat", {"api": {"path_contains": "/v3/refund/domestic/refunds", "mode": "business",
                                            "status": 403, "code": "NOT_ENOUGH", "message": "余额不足", "count": 1}})
    r = (await refund(gateway, m, p["id"], 900)).body
    assert r["status"] == "failed" and r["failure_code"] == "NOT_ENOUGH"
    after = await payment(gateway, m, p["id"])
    assert (after["status"], after["refundable_amount"]) == ("paid", 900)
    await assert_books_balance(gateway)
