"""UnionPay in a real browser: the checkout's form post to UnionPay's cashier (CSP form-action in force),
paying there, and UnionPay's front return -- a form POST back to the checkout."""
from __future__ import annotations

from typing import Any

import pytest

from tests.browser.test_checkout_browser import PAY, _context, _watch
from tests.checkout.helpers import MOBILE_UA
from tests.factories import Gateway

pytestmark = pytest.mark.browser


async def test_phone_pays_through_the_unionpay_form_post(gateway: Gateway, browser: Any, shot: Any) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m, amount=1234)
    ctx = await _context(browser, MOBILE_UA, mobile=True)
    page = await ctx.new_page()
    problems = _watch(page)
    await page.goto(f"{gateway.url}/pay/{p['id']}")
    await page.click("#method-unionpay_wap")
    await page.locator("#form-post #pay-now").wait_for()
    await shot(page, "form")
    await page.click("#form-post #pay-now")
    await page.wait_for_url("**/sandbox/unionpay/gateway/api/frontTransReq.do")
    await shot(page, "cashier")
    await page.click(PAY)
    await page.locator("#back").wait_for()
    await page.click("#back")  # UnionPay's front return: the signed fields, posted back to the checkout
    await page.wait_for_url(f"{gateway.url}/pay/{p['id']}")
    await page.locator("#result").wait_for()
    await shot(page, "paid")
    assert "支付成功" in await page.locator("#result").inner_text()
    assert [x for x in problems if "sandbox" not in x] == []
    await ctx.close()
