"""``pay_method`` names the fixed method; ``channel`` stays as its deprecated alias."""
from __future__ import annotations

import html
import re

from tests.checkout.helpers import Shopper
from tests.factories import Gateway, unique
from tests.support.paying import press
from tests.support.waiting import wait_status


async def test_pay_method_and_its_deprecated_alias(gateway: Gateway) -> None:
    m = await gateway.merchant()
    new = await gateway.create_payment(m, pay_method="alipay_qr")
    old = await gateway.create_payment(m, channel="alipay_qr")
    both = await gateway.create_payment(m, pay_method="alipay_qr", channel="alipay_qr")
    for p in (new, old, both):
        assert p["pay_method"] == p["channel"] == "alipay_qr" and p["next_action"]["type"] == "qr"
    differ = await gateway.api(m, "POST", "/payments", json_body={
        "amount": 100, "subject": "x", "out_trade_no": unique(), "pay_method": "alipay_qr",
        "channel": "wechat_native"})
    assert differ.status == 422 and differ.body["code"] == "validation_error"
    assert "differ" in differ.body["errors"][0]["message"]
    unknown = await gateway.api(m, "POST", "/payments", json_body={
        "amount": 100, "subject": "x", "out_trade_no": unique(), "pay_method": "cash"})
    assert unknown.status == 422 and unknown.body["errors"][0]["field"] == "pay_method"
    doc = (await gateway.api(None, "GET", "/openapi.json")).body
    create = doc["components"]["schemas"]["PaymentCreate"]["properties"]
    assert create["channel"]["deprecated"] is True and "deprecated" not in create["pay_method"]


async def test_a_payment_paid_on_the_checkout_page_says_how(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)  # no method: the shopper chooses on the checkout page
    shopper = Shopper(gateway)  # a desktop browser: the shopper picks a method, its code appears
    await shopper.post(f"/pay/{p['id']}/method", {"method": "wechat_native"})
    _, text, _ = await shopper.get(f"/pay/{p['id']}")
    phone = re.search(r'id="sandbox-phone" href="([^"]+)"', text)
    assert phone is not None
    await press(gateway.http, html.unescape(phone.group(1)))
    paid = await wait_status(gateway, m, p["id"], "paid")
    attempts = await gateway.attempts(p["id"])
    assert paid["pay_method"] == paid["channel"] == attempts[-1]["pay_method"]  # was null before
    assert paid["channel_order_no"] == attempts[-1]["id"] and paid["channel_trade_no"] == attempts[-1]["channel_trade_no"]
