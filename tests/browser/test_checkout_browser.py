"""The checkout in a real browser: every shopper flow, with the page's own script and CSP in force."""
from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.services.merchants import update_merchant
from gateway.store.base import utcnow
from gateway.store.tables import attempts, payments
from tests.checkout.helpers import ALIPAY_UA, DESKTOP_UA, MOBILE_UA, WECHAT_UA
from tests.factories import Gateway

pytestmark = pytest.mark.browser
PAY = "button[value=pay]"  # the sandboxes' pay button (WeChat and Alipay pages alike)


async def _context(browser: Any, ua: str, *, mobile: bool = False) -> Any:
    ctx = await browser.new_context(user_agent=ua, locale="zh-CN", is_mobile=mobile,
                                    viewport={"width": 390, "height": 844} if mobile else {"width": 1100, "height": 900})
    ctx.set_default_timeout(10_000)
    return ctx


def _watch(page: Any) -> list[str]:
    """Collect CSP violations, script errors and dialogs: a checkout page must produce none."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: problems.append("dialog: " + d.message))
    return problems


async def test_desktop_qr_paid_in_second_tab_then_return_url(gateway: Gateway, browser: Any, shot: Any) -> None:
    m = await gateway.merchant(return_domains=["127.0.0.1"])
    p = await gateway.create_payment(m, return_url=f"{gateway.url}/healthz?order=42")
    ctx = await _context(browser, DESKTOP_UA)
    page = await ctx.new_page()
    problems = _watch(page)
    await page.goto(f"{gateway.url}/pay/{p['id']}")
    await page.locator("#qr[data-method=aggregated] figure svg").wait_for()
    assert await page.locator("#amount").inner_text() == "¥19.99"
    await page.click("#method-wechat_native")  # the shopper picks one channel's own code
    await page.locator("#qr[data-method=wechat_native] figure svg").wait_for()
    await shot(page, "qr")
    phone = await ctx.new_page()
    await phone.goto(await page.locator("#sandbox-phone").get_attribute("href"))
    await phone.click(PAY)
    paid_at = asyncio.get_running_loop().time()
    await page.locator("#result").wait_for(timeout=2000)  # the long-poll turned the page within 2 s
    assert asyncio.get_running_loop().time() - paid_at < 2
    assert "支付成功" in await page.locator("#result").inner_text()
    await shot(page, "paid")
    assert problems == []  # no CSP violation, no script error (checked before leaving for the merchant)
    await page.wait_for_url(f"{gateway.url}/healthz?order=42", timeout=6000)
    await ctx.close()


async def test_mobile_browser_h5_and_back(gateway: Gateway, browser: Any, shot: Any) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)
    ctx = await _context(browser, MOBILE_UA, mobile=True)
    page = await ctx.new_page()
    problems = _watch(page)
    await page.goto(f"{gateway.url}/pay/{p['id']}")
    await shot(page, "methods")
    await page.click("#method-wechat_h5")
    await page.wait_for_url("**/sandbox/wechat/h5/**")
    await shot(page, "h5")
    await page.click(PAY)
    await page.wait_for_url(f"{gateway.url}/pay/{p['id']}")
    await page.locator("#result").wait_for()
    await shot(page, "paid")
    assert "支付成功" in await page.locator("#result").inner_text()
    assert [x for x in problems if "sandbox" not in x] == []
    await ctx.close()


async def test_inside_wechat_oauth_then_jsapi(gateway: Gateway, browser: Any, shot: Any) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)
    ctx = await _context(browser, WECHAT_UA, mobile=True)
    page = await ctx.new_page()
    await page.goto(f"{gateway.url}/pay/{p['id']}")  # → WeChat OAuth (silent) → back with the openid
    await page.locator("#pay-now").wait_for()  # the state was bound to this browser's cookie: it came back
    assert await page.locator("#choose").count() == 0  # no empty "choose how to pay" inside WeChat
    # (the browser keeps the authorize URL's #wechat_redirect fragment across the redirects)
    assert page.url.split("#")[0] == f"{gateway.url}/pay/{p['id']}"
    await shot(page, "jsapi")
    await page.click("#pay-now")  # the sandbox's stand-in for WeixinJSBridge
    await page.click(PAY)
    await page.goto(f"{gateway.url}/pay/{p['id']}")
    await page.locator("#result").wait_for()
    await shot(page, "paid")
    await ctx.close()


async def test_inside_alipay_wap(gateway: Gateway, browser: Any, shot: Any) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)
    ctx = await _context(browser, ALIPAY_UA, mobile=True)
    page = await ctx.new_page()
    await page.goto(f"{gateway.url}/pay/{p['id']}")
    assert await page.locator("#method-alipay_wap").count() == 1
    await page.click("#method-alipay_wap")
    await page.wait_for_url("**/sandbox/alipay/gateway.do**")
    await page.click(PAY)  # Alipay returns the browser to /pay/{id}/return → our page
    await page.wait_for_url(f"{gateway.url}/pay/{p['id']}")
    await page.locator("#result").wait_for()
    await shot(page, "paid")
    await ctx.close()


async def test_aggregated_code(gateway: Gateway, browser: Any, shot: Any) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)
    desk = await _context(browser, DESKTOP_UA)
    page = await desk.new_page()
    await page.goto(f"{gateway.url}/pay/{p['id']}")
    await page.locator("#qr[data-method=aggregated] figure svg").wait_for()
    assert await page.locator("#checkout figure").count() == 1  # one code on a desktop
    assert await page.locator("#qr .mark-wechat").count() == 1 and await page.locator("#qr .mark-alipay").count() == 1
    trust = await page.locator("#qr-trust").inner_text()
    assert "Test Shop" in trust and p["out_trade_no"] in trust and "¥19.99" in trust
    for method in ("wechat_native", "alipay_qr"):  # each method button carries its channel's mark
        assert await page.locator(f"#method-{method} svg.mark").count() == 1
    await shot(page, "aggregated")
    other = await desk.new_page()  # a scanner that is neither app
    await other.goto(f"{gateway.url}/pay/{p['id']}/scan")
    await other.locator("#open-cashier").wait_for()
    await shot(other, "other-scanner")
    app = await _context(browser, ALIPAY_UA, mobile=True)
    phone = await app.new_page()
    await phone.goto(f"{gateway.url}/pay/{p['id']}/scan")  # what the Alipay app opens on scanning
    await phone.wait_for_url("**/sandbox/alipay/gateway.do**")
    await phone.click(PAY)
    await page.locator("#result").wait_for(timeout=3000)  # the desktop page sees it too
    await shot(page, "paid")
    await desk.close()
    await app.close()


async def test_expiry_on_the_page(gateway: Gateway, browser: Any, shot: Any) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m, return_url=f"{gateway.url}/healthz")
    async with gateway.svc.db.begin() as conn:
        await conn.execute(sa.update(payments).where(payments.c.id == p["id"])
                           .values(expires_at=utcnow() + timedelta(seconds=5)))
    ctx = await _context(browser, DESKTOP_UA)
    page = await ctx.new_page()
    await page.goto(f"{gateway.url}/pay/{p['id']}")
    await page.locator("#countdown").wait_for()
    await page.locator("#result").wait_for(timeout=12000)  # the countdown reached zero and reloaded
    assert "订单已过期" in await page.locator("#result").inner_text()
    assert await page.locator("#back").get_attribute("href") == f"{gateway.url}/healthz"
    await shot(page, "expired")
    await ctx.close()


async def test_method_switch(gateway: Gateway, browser: Any, shot: Any) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)
    ctx = await _context(browser, DESKTOP_UA)
    page = await ctx.new_page()
    await page.goto(f"{gateway.url}/pay/{p['id']}")
    assert await page.locator("#qr").get_attribute("data-method") == "aggregated"
    await page.click("#method-wechat_native")
    await page.locator("#qr[data-method=wechat_native]").wait_for()
    assert await page.locator("#checkout figure").count() == 1  # the channel's code instead, not beside it
    await page.click("#method-alipay_qr")
    await page.locator("#qr[data-method=alipay_qr]").wait_for()
    await shot(page, "alipay")
    async with gateway.svc.db.read() as conn:
        rows = (await conn.execute(sa.select(attempts.c.pay_method, attempts.c.status)
                                   .where(attempts.c.payment_id == p["id"]).order_by(attempts.c.created_at))).all()
    assert [tuple(r) for r in rows] == [("wechat_native", "closed"), ("alipay_qr", "pending")]
    phone = await ctx.new_page()
    await phone.goto(await page.locator("#sandbox-phone").get_attribute("href"))
    await phone.click(PAY)
    await page.locator("#result").wait_for(timeout=3000)
    await ctx.close()


async def test_hostile_subject_and_merchant_name_are_inert(gateway: Gateway, browser: Any, shot: Any) -> None:
    evil = '"><script>alert(1)</script><img src=x onerror="alert(2)"><b onmouseover=alert(3)>x'
    m = await gateway.merchant(name=evil)
    p = await gateway.create_payment(m, subject=evil)
    ctx = await _context(browser, DESKTOP_UA)
    page = await ctx.new_page()
    problems = _watch(page)
    await page.goto(f"{gateway.url}/pay/{p['id']}")
    await page.locator("#qr figure svg").wait_for()
    assert await page.locator("#merchant-name").inner_text() == evil
    assert await page.locator("#subject").inner_text() == evil
    await page.hover("#subject")
    assert await page.locator("#checkout img, #checkout b").count() == 0
    await shot(page, "inert")
    await page.wait_for_timeout(300)
    assert problems == []
    await ctx.close()


async def test_return_url_off_the_allow_list_is_not_followed(gateway: Gateway, browser: Any, shot: Any) -> None:
    m = await gateway.merchant(return_domains=["shop.example", "127.0.0.1"])
    p = await gateway.create_payment(m, return_url=f"{gateway.url}/healthz")
    await update_merchant(gateway.svc.db, m.id, return_domains=["shop.example"])  # 127.0.0.1 taken off since
    ctx = await _context(browser, DESKTOP_UA)
    page = await ctx.new_page()
    await page.goto(f"{gateway.url}/pay/{p['id']}")
    await page.click("#method-wechat_native")
    phone = await ctx.new_page()
    await phone.goto(await page.locator("#sandbox-phone").get_attribute("href"))
    await phone.click(PAY)
    await page.locator("#result").wait_for(timeout=3000)
    await page.wait_for_timeout(3000)  # longer than the allowed redirect's delay
    assert page.url == f"{gateway.url}/pay/{p['id']}" and await page.locator("#back").count() == 0
    await shot(page, "stays")
    await ctx.close()
