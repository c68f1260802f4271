"""The console's wallet pages in Chromium: from the merchant to its customers' wallets, one statement,
freeze through the real form (CSRF token from the page), an adjustment behind the step-up form -- no CSP
violation or script error, nothing wider than a phone's screen."""
from __future__ import annotations

from typing import Any

import pytest

from tests.admin.helpers import enrolled
from tests.browser.test_console_browser import SIZES, _watch
from tests.factories import Gateway, unique
from tests.wallets.conftest import adjust, enable_stored_value, wallet

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_wallet_pages_freeze_and_adjust(gateway: Gateway, browser: Any, shot: Any, size: str) -> None:
    m = await gateway.merchant(name="示例商店")
    await enable_stored_value(gateway, m)
    customer = unique("member")
    await adjust(gateway, m, customer, cash=8800, bonus=500, points=30)
    console = await enrolled(gateway, "owner", sign_in=False)
    ctx = await browser.new_context(viewport=SIZES[size], locale="zh-CN", is_mobile=size == "phone")
    ctx.set_default_timeout(10_000)
    page = await ctx.new_page()
    problems = _watch(page)
    try:
        await page.goto(f"{gateway.url}/admin/merchants/{m.id}")
        await page.fill("input[name=email]", console.email)
        await page.fill("input[name=password]", "correct horse battery")
        await page.fill("input[name=code]", console.code(console.base))
        await page.click("button.primary")
        await page.wait_for_url(f"{gateway.url}/admin/merchants/{m.id}")
        await page.click("#wallets-link")
        await page.locator("#wallet-list").wait_for()
        await shot(page, "wallets")
        await page.click(f"#wallet-list a:text('{customer}')")
        await page.locator("#statement").wait_for()
        assert await page.locator("#cash").inner_text() == "¥88.00"
        assert await page.locator("#statement tbody tr").count() == 1
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, overflow
        await shot(page, "wallet")
        await page.click("#freeze")
        await page.locator("#done").wait_for()
        assert await page.locator("#wallet-status").get_attribute("data-status") == "frozen"
        assert (await wallet(gateway, m, customer))["status"] == "frozen"
        async with page.expect_navigation():
            await page.click("#freeze")  # now "unfreeze": a frozen wallet takes credits only
        assert await page.locator("#wallet-status").get_attribute("data-status") == "active"
        await page.fill("#adjust-form input[name=bonus]", "-2.5")
        await page.fill("#adjust-form input[name=reason]", "expired promotion")
        async with page.expect_navigation():
            await page.click("#adjust")
        if await page.locator("input[name=totp]").count():  # the sign-in's code may no longer be fresh
            await page.fill("input[name=totp]", console.code(console.base + 1))
            async with page.expect_navigation():
                await page.click("section.card button.primary")
        await page.locator("#done").wait_for()
        assert await page.locator("#bonus").inner_text() == "¥2.50"
        assert "expired promotion" in await page.locator("#statement").inner_text()
        await shot(page, "adjusted")
        assert problems == [], problems
    finally:
        await ctx.close()
        await console.close()
