"""Every pay method end to end through the gateway: create with a fixed channel → its ``next_action`` is
in the answer → the shopper pays on the sandbox's page → the signed callback arrives → ``paid``, with its ledger
entry and merchant event; and a duplicate callback has no second effect."""
from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from gateway.store.tables import events, ledger_entries, notify_log
from tests.factories import Gateway
from tests.support.paying import phone_page, press
from tests.support.waiting import wait_status

NEXT_ACTION = {"alipay_qr": "qr", "alipay_wap": "redirect", "alipay_page": "redirect",
               "wechat_native": "qr", "wechat_h5": "redirect", "wechat_jsapi": "jsapi"}


@pytest.mark.parametrize("method", sorted(NEXT_ACTION))
async def test_pay_method_end_to_end(gateway: Gateway, method: str) -> None:
    m = await gateway.merchant()
    extra = {"payer_openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"} if method == "wechat_jsapi" else {}
    p = await gateway.create_payment(m, amount=2345, channel=method, **extra)
    assert p["status"] == "pending" and p["channel"] == method
    action = p["next_action"]
    assert action["type"] == NEXT_ACTION[method], p
    assert action.get("qr") or action.get("url") or action.get("params"), p
    if method == "wechat_native":
        assert action["qr"].startswith("weixin://wxpay/bizpayurl?pr=")
    if method == "wechat_h5":
        assert action["return_param"] == "redirect_url"
    if method == "wechat_jsapi":
        assert set(action["params"]) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert not set(p) & {"code_url", "qr_code", "h5_url", "pay_url", "prepay_id"}  # no channel fields

    status, _ = await press(gateway.http, phone_page(f"{gateway.url}/sandbox", method, p))
    assert status in (200, 302, 303)
    paid = await wait_status(gateway, m, p["id"], "paid")
    assert paid["status"] == "paid" and paid["paid_at"] and paid["refundable_amount"] == 2345
    assert paid["next_action"] is None  # the next action is shown only while pending
    assert await gateway.count(ledger_entries, ledger_entries.c.payment_id == p["id"]) == 1
    assert await gateway.count(events, events.c.object_id == p["id"], events.c.type == "payment.succeeded") == 1
    async with gateway.svc.db.read() as conn:
        results = (await conn.execute(sa.select(notify_log.c.result).where(
            notify_log.c.trade_no.is_not(None)).order_by(notify_log.c.id))).scalars().all()
    assert "applied" in results


async def test_cancel_on_the_page_closes_the_attempt_not_the_payment(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m, channel="alipay_qr")
    await press(gateway.http, phone_page(f"{gateway.url}/sandbox", "alipay_qr", p), "cancel")
    await asyncio.sleep(0.3)
    assert (await gateway.api(m, "GET", f"/payments/{p['id']}")).body["status"] == "pending"
