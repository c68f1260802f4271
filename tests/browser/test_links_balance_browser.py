"""Chromium: payment links (a page and a pay button, never a payment on open; a deactivated link's page),
the print-sized SVG poster, paying from balance with a confirmation step, the refunded and unavailable
texts, and a cross-site form refused for want of a CSRF token."""
from __future__ import annotations

from typing import Any

import pytest

from gateway.cli import sandbox_accounts
from gateway.services.merchants import set_channel_account
from gateway.store.tables import payments
from tests.browser.test_checkout_browser import _context, _watch
from tests.checkout.helpers import DESKTOP_UA, WECHAT_UA
from tests.contract.steps import refund
from tests.factories import Gateway, unique
from tests.wallets.conftest import adjust, enable_stored_value, wallet

pytestmark = pytest.mark.browser


async def test_link_page_pay_button_then_deactivated(gateway: Gateway, browser: Any, shot: Any) -> None:
    m = await gateway.merchant(name="茶馆")
    link = (await gateway.api(m, "POST", "/links", json_body={"subject": "绿茶", "amount": 1500})).body
    ctx = await _context(browser, DESKTOP_UA)
    page = await ctx.new_page()
    problems = _watch(page)
    await page.goto(link["url"])
    assert await page.locator("#amount").inner_text() == "¥15.00"
    await shot(page, "link")
    await page.reload()
    assert await gateway.count(payments, payments.c.merchant_id == m.id) == 0  # opening wrote nothing
    await page.click("#create")
    await page.locator("#checkout").wait_for()
    assert "/pay/pay_" in page.url and await page.locator("#amount").inner_text() == "¥15.00"
    payment_id = page.url.rsplit("/", 1)[1]
    assert (await gateway.api(m, "GET", f"/payments/{payment_id}")).body["link_id"] == link["id"]
    assert problems == []
    await gateway.api(m, "PATCH", f"/links/{link['id']}", json_body={"active": False})
    answer = await page.goto(link["url"])
    assert answer.status == 410 and "该收款链接已停用" in await page.locator("#inactive").inner_text()
    await shot(page, "inactive")
    await ctx.close()


async def test_poster_is_a_print_sized_svg(gateway: Gateway, browser: Any, shot: Any) -> None:
    m = await gateway.merchant(name="茶馆")
    link = (await gateway.api(m, "POST", "/links", json_body={"subject": "绿茶", "amount": 1500})).body
    ctx = await _context(browser, DESKTOP_UA)
    page = await ctx.new_page()
    answer = await page.goto(link["poster_url"])
    assert answer.status == 200 and answer.headers["content-type"].startswith("image/svg+xml")
    box = await page.evaluate("(() => { const b = document.documentElement.getBBox(); "
                              "return [document.documentElement.width.baseVal.value, b.width]; })()")
    assert box[0] >= 1200
    texts = await page.evaluate("[...document.querySelectorAll('text')].map(t => t.textContent)")
    assert "茶馆" in texts and "¥15.00" in texts
    await ctx.close()


async def test_pay_from_balance_with_a_confirmation(gateway: Gateway, browser: Any, shot: Any) -> None:
    m = await gateway.merchant()
    await enable_stored_value(gateway, m)
    customer = unique("c")
    await adjust(gateway, m, customer, cash=5000)
    p = await gateway.create_payment(m, amount=1999)
    issued = (await gateway.api(m, "POST", f"/customers/{customer}/checkout_tokens",
                                json_body={"payment_id": p["id"]})).body
    ctx = await _context(browser, DESKTOP_UA)
    page = await ctx.new_page()
    problems = _watch(page)
    await page.goto(issued["checkout_url"])
    await page.click("#pay-balance")
    await page.locator("#confirm").wait_for()
    assert await page.locator("#available").inner_text() == "¥50.00"
    assert await page.locator("#amount").inner_text() == "¥19.99"
    await shot(page, "confirm")
    assert (await wallet(gateway, m, customer))["cash"] == 5000
    await page.click("#confirm")
    await page.locator("#result").wait_for()
    assert "支付成功" in await page.locator("#result").inner_text()
    assert (await wallet(gateway, m, customer))["cash"] == 5000 - 1999
    await shot(page, "paid")
    assert problems == []
    await ctx.close()


async def test_a_cross_site_form_is_refused(gateway: Gateway, browser: Any, shot: Any) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)
    ctx = await _context(browser, DESKTOP_UA)
    page = await ctx.new_page()
    await page.goto(f"{gateway.url}/pay/{p['id']}")  # the shopper has the cookie
    evil = await ctx.new_page()
    await evil.set_content(f'<form method="post" action="{gateway.url}/pay/{p["id"]}/method">'
                           '<input name="method" value="alipay_qr"><button id="go">go</button></form>')
    async with evil.expect_navigation() as went:
        await evil.click("#go")
    answer = await went.value
    assert answer.status == 403 and "请刷新页面后重试" in await evil.content()  # a readable refusal
    assert not await gateway.attempts(p["id"])
    await ctx.close()


async def test_nothing_to_offer_reads_so_and_does_not_wait(gateway: Gateway, browser: Any, shot: Any) -> None:
    m = await gateway.merchant(sandbox_accounts=False)
    svc = gateway.svc
    await set_channel_account(svc.db, svc.settings, svc.registry, m.id, "alipay",
                              sandbox_accounts(svc.settings)["alipay"], ["alipay_qr"], check=False)
    p = await gateway.create_payment(m)
    ctx = await _context(browser, WECHAT_UA, mobile=True)
    page = await ctx.new_page()
    await page.goto(f"{gateway.url}/pay/{p['id']}")
    assert await page.locator("#no-methods").is_visible()
    assert await page.locator("#status, #choose, #countdown").count() == 0
    await shot(page, "unavailable")
    await ctx.close()


async def test_refunded_reads_refunded_without_a_promise_to_go_back(gateway: Gateway, browser: Any,
                                                                    shot: Any) -> None:
    m = await gateway.merchant(return_domains=["127.0.0.1"])
    await enable_stored_value(gateway, m)
    customer = unique("c")
    await adjust(gateway, m, customer, cash=5000)
    p = (await gateway.api(m, "POST", "/payments", json_body={
        "amount": 700, "subject": "Tea", "out_trade_no": unique("o"), "channel": "balance",
        "customer_id": customer, "return_url": f"{gateway.url}/healthz"})).body
    await refund(gateway, m, p["id"], 700)
    ctx = await _context(browser, DESKTOP_UA)
    page = await ctx.new_page()
    await page.goto(f"{gateway.url}/pay/{p['id']}")
    text = await page.locator("#result").inner_text()
    assert "已退款" in text and "正在返回" not in text
    await page.wait_for_timeout(2500)  # longer than a paid page's redirect delay: it stays
    assert page.url == f"{gateway.url}/pay/{p['id']}"
    await shot(page, "refunded")
    await ctx.close()
