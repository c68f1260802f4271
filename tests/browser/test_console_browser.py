"""The operator console in Chromium: sign-in through the real form, then every main page in zh-CN and
English at desktop and phone sizes -- no CSP violation or script error, nothing wider than the phone's
screen, a screenshot of each kept in tests/artifacts/."""
from __future__ import annotations

from typing import Any

import pytest

from gateway.admin import auth
from tests.admin.helpers import enrolled
from tests.factories import Gateway
from tests.reconciliation.helpers import account_of, attempts_of, inject, run
from tests.refunds.helpers import paid_payment, refund

pytestmark = pytest.mark.browser
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def _watch(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    # Anything the page loads must load (the browser's own favicon probe aside).
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    return problems


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_console_pages(gateway: Gateway, browser: Any, shot: Any, lang: str, size: str) -> None:
    m = await gateway.merchant(name="示例商店 Demo Shop", webhook_url="http://127.0.0.1:9/hook")
    paid = await paid_payment(gateway, m, amount=12_345)
    await paid_payment(gateway, m, amount=880, method="wechat_native")
    await refund(gateway, m, paid["id"], 2_000, reason="partial")
    await gateway.create_payment(m, amount=199, channel="alipay_qr")
    attempt = (await attempts_of(gateway, paid["id"]))[-1]["id"]
    await inject(gateway, "alipay", "amount", trade_no=attempt, amount=12_300)  # an open discrepancy to resolve
    batch = await run(gateway, await account_of(gateway, m, "alipay"))
    console = await enrolled(gateway, "owner", sign_in=False)
    ctx = await browser.new_context(viewport=SIZES[size], locale=lang, is_mobile=size == "phone")
    ctx.set_default_timeout(10_000)
    await ctx.add_cookies([{"name": "admin_lang", "value": lang, "url": gateway.url}])
    page = await ctx.new_page()
    problems = _watch(page)
    try:
        await page.goto(f"{gateway.url}/admin/payments")
        assert "/admin/login" in page.url
        await page.fill("input[name=email]", console.email)
        await page.fill("input[name=password]", "correct horse battery")
        await page.fill("input[name=code]", console.code(console.base))
        await shot(page, "login")
        await page.click("button.primary")
        await page.wait_for_url(f"{gateway.url}/admin/payments")
        pages = {"dashboard": "/admin/", "payments": "/admin/payments", "payment": f"/admin/payments/{paid['id']}",
                 "refunds": "/admin/refunds", "callbacks": "/admin/callbacks", "webhooks": "/admin/webhooks",
                 "merchant": f"/admin/merchants/{m.id}", "operators": "/admin/operators",
                 "audit": "/admin/audit?verify=1", "system": "/admin/system",
                 "reconciliation": "/admin/reconciliation", "recon-batch": f"/admin/reconciliation/{batch['id']}"}
        for name, path in pages.items():
            response = await page.goto(gateway.url + path)
            assert response is not None and response.status == 200, (name, response and response.status)
            assert await page.locator("html").get_attribute("lang") == lang
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, (name, overflow)
            await shot(page, name)
        if size == "phone":
            await page.click("label.menu-button")
            await page.locator("nav.menu a[href='/admin/refunds']").wait_for(state="visible")
            await shot(page, "menu-open")
        await page.goto(f"{gateway.url}/admin/payments/{paid['id']}")
        assert await page.locator("#timeline li").count() >= 6
        assert problems == [], problems
    finally:
        await ctx.close()
        await console.close()


async def test_enrolment_page_shows_the_qr(gateway: Gateway, browser: Any, shot: Any) -> None:
    created = await auth.create_operator(gateway.svc.db, email="qr@example.com", role="viewer")
    ctx = await browser.new_context(viewport=SIZES["phone"], locale="zh-CN", is_mobile=True)
    page = await ctx.new_page()
    problems = _watch(page)
    await page.goto(f"{gateway.url}/admin/enroll/{created.enroll_token}")
    box = await page.locator("#qr svg").bounding_box()
    assert box and box["width"] >= 150
    await shot(page, "enroll")
    assert problems == []
    await ctx.close()
