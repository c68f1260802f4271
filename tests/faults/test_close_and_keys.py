"""Close is idempotent at the channel, the Idempotency-Key layer keeps final answers only, and the refund
sync's first check follows GATEWAY_TASK_TIME_SCALE."""
from __future__ import annotations

from pathlib import Path

import pytest

from gateway.store import refunds as refunds_repo
from tests.conftest import FAST
from tests.factories import Gateway, start_gateway, unique
from tests.support.paying import pay_as_shopper
from tests.support.waiting import wait_status


@pytest.mark.parametrize("channel", ["alipay_qr", "wechat_native"])
async def test_closing_a_trade_the_shopper_already_cancelled_is_closed(sqlite_gateway: Gateway, channel: str) -> None:
    gw = sqlite_gateway
    m = await gw.merchant()
    p = await gw.create_payment(m, channel=channel)
    # The cancel's callback is lost: the gateway still believes the trade is open.
    await gw.fault(channel.split("_")[0], {"callbacks": {"mode": "drop", "count": 100}})
    await pay_as_shopper(gw, p, action="cancel")
    key = {"Idempotency-Key": unique("close")}
    closed = await gw.api(m, "POST", f"/payments/{p['id']}/close", headers=key)
    assert closed.status == 200 and closed.body["status"] == "closed", closed.text
    again = await gw.api(m, "POST", f"/payments/{p['id']}/close", headers=key)
    assert again.status == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert (await gw.api(m, "POST", f"/payments/{p['id']}/close")).status == 409  # closed: nothing to close


async def test_closing_a_paid_trade_whose_callback_was_lost_ends_paid(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    m = await gw.merchant()
    p = await gw.create_payment(m, channel="alipay_qr")
    await gw.fault("alipay", {"callbacks": {"mode": "drop", "count": 100}})
    await pay_as_shopper(gw, p)
    closed = await gw.api(m, "POST", f"/payments/{p['id']}/close")
    assert closed.status == 409 and closed.body.get("payment_status") == "paid", closed.text
    assert (await wait_status(gw, m, p["id"], "paid"))["status"] == "paid"


async def test_a_503_is_not_kept_the_retry_runs_again(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    m = await gw.merchant()
    p = await gw.create_payment(m, channel="alipay_qr")
    await gw.fault("alipay", {"api": {"operation": "alipay.trade.close", "mode": "http500", "count": 1}})
    key = {"Idempotency-Key": unique("close")}
    first = await gw.api(m, "POST", f"/payments/{p['id']}/close", headers=key)
    assert first.status == 503 and first.body["code"] == "channel_unavailable", first.text
    retry = await gw.api(m, "POST", f"/payments/{p['id']}/close", headers=key)
    assert retry.status == 200 and retry.body["status"] == "closed", retry.text
    assert "Idempotent-Replayed" not in retry.headers


async def test_the_first_refund_sync_follows_the_time_scale(tmp_path: Path) -> None:
    async with start_gateway(tmp_path, **FAST) as gw:
        m = await gw.merchant()
        p = await gw.create_payment(m, channel="alipay_qr")
        await gw.fault("alipay", {"api": {"operation": "alipay.trade.refund", "mode": "http500", "count": 1}})
        await pay_as_shopper(gw, p)
        await wait_status(gw, m, p["id"], "paid")
        refund = await gw.api(m, "POST", f"/payments/{p['id']}/refunds", json_body={"amount": 100,
                                                                                   "out_refund_no": unique("r")})
        assert refund.status == 201, refund.text
        async with gw.svc.db.read() as conn:
            row = await refunds_repo.get_refund(conn, refund.body["id"])
        assert row is not None
        if row["status"] == "pending":  # not already resolved by the sync
            assert (row["next_sync_at"] - row["created_at"]).total_seconds() < 1
        await wait_status(gw, m, p["id"], "partially_refunded")
