"""Every pay method end to end through the gateway: create with a fixed channel → the pay data is in the
answer → the shopper pays on the sandbox's page → the signed callback arrives → ``paid``, with its ledger
entry and merchant event; and a duplicate callback has no second effect."""
from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from gateway.store.tables import events, ledger_entries, notify_log
from tests.factories import Gateway
from tests.support.paying import phone_page, press
from tests.support.waiting import wait_status

PAY_DATA = {"alipay_qr": "qr_code", "alipay_wap": "pay_url", "alipay_page": "pay_url",
            "wechat_native": "code_url", "wechat_h5": "h5_url", "wechat_jsapi": "prepay_id"}


@pytest.mark.parametrize("method", sorted(PAY_DATA))
async def test_pay_method_end_to_end(gateway: Gateway, method: str) -> None:
    m = await gateway.merchant()
    extra = {"payer_openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"} if method == "wechat_jsapi" else {}
    p = await gateway.create_payment(m, amount=2345, channel=method, **extra)
    assert p["status"] == "pending" and p["channel"] == method
    assert p[PAY_DATA[method]], p
    if method == "wechat_native":
        assert p["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    if method == "wechat_jsapi":
        assert {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"} <= set(p)

    status, _ = await press(gateway.http, phone_page(f"{gateway.url}/sandbox", method, p))
    assert status in (200, 302, 303)
    paid = await wait_status(gateway, m, p["id"], "paid")
    assert paid["status"] == "paid" and paid["paid_at"] and paid["refundable_amount"] == 2345
    assert PAY_DATA[method] not in paid  # pay data is shown only while pending
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
