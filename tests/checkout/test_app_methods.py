"""APP pay methods on the cashier page: never offered to a browser to choose, and a payment fixed to one
shows its in-app parameters (and, in sandbox mode, the page standing in for the wallet app)."""
from __future__ import annotations

import html
import re

import pytest

from tests.checkout.helpers import ALIPAY_UA, DESKTOP_UA, MOBILE_UA, get
from tests.factories import Gateway
from tests.support.paying import press
from tests.support.waiting import wait_status

APP_METHODS = ("alipay_app", "wechat_app")


async def test_app_methods_are_never_offered_to_a_browser(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)
    for agent in (DESKTOP_UA, MOBILE_UA, ALIPAY_UA):  # (WeChat's browser goes to OAuth first: JSAPI)
        _, text, _ = await get(gateway, f"/pay/{p['id']}", agent)
        assert not any(method in text for method in APP_METHODS), agent
    assert all(a["pay_method"] not in APP_METHODS for a in await gateway.attempts(p["id"]))


@pytest.mark.parametrize("method", APP_METHODS)
async def test_a_payment_fixed_to_an_app_method_shows_its_parameters(gateway: Gateway, method: str) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m, channel=method, amount=666)
    assert p["next_action"]["type"] == "app"
    _, text, _ = await get(gateway, f"/pay/{p['id']}", MOBILE_UA)
    assert 'id="jsapi-params"' in text
    phone = re.search(r'id="pay-now" href="([^"]+)"', text)
    assert phone is not None and "/app/pay?" in phone.group(1)
    await press(gateway.http, html.unescape(phone.group(1)))
    assert (await wait_status(gateway, m, p["id"], "paid"))["amount"] == 666


async def test_a_payment_link_cannot_fix_an_app_method(gateway: Gateway) -> None:
    m = await gateway.merchant()
    for method in APP_METHODS:
        r = await gateway.api(m, "POST", "/links", json_body={"subject": "x", "amount": 100, "pay_method": method})
        assert r.status == 422, r.text
    doc = (await gateway.api(None, "GET", "/openapi.json")).body
    assert set(APP_METHODS) <= set(doc["components"]["schemas"]["PaymentCreate"]["properties"]["channel"]["anyOf"][0]["enum"])
