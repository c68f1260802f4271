"""``pay_method`` names the fixed method; ``channel`` stays as its deprecated alias."""
from __future__ import annotations

from tests.factories import Gateway, unique


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
