"""The console's "Test credentials" button in Chromium: clicked on a merchant's page, the channel's verdict
is shown on the page (screenshot kept in tests/artifacts/)."""
from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from gateway.store.tables import channel_accounts
from tests.admin.helpers import enrolled
from tests.browser.test_console_browser import SIZES, _watch
from tests.factories import Gateway

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_test_credentials_button(sqlite_gateway: Gateway, browser: Any, shot: Any, size: str) -> None:
    gw = sqlite_gateway
    m = await gw.merchant(name="Demo Shop")
    async with gw.svc.db.read() as conn:
        account_id = (await conn.execute(sa.select(channel_accounts.c.id).where(
            channel_accounts.c.merchant_id == m.id, channel_accounts.c.channel == "unionpay"))).scalar_one()
    console = await enrolled(gw, "owner", sign_in=False)
    ctx = await browser.new_context(viewport=SIZES[size], locale="en", is_mobile=size == "phone")
    ctx.set_default_timeout(10_000)
    page = await ctx.new_page()
    problems = _watch(page)
    try:
        await page.goto(f"{gw.url}/admin/merchants/{m.id}")
        await page.fill("input[name=email]", console.email)
        await page.fill("input[name=password]", "correct horse battery")
        await page.fill("input[name=code]", console.code(console.base))
        await page.click("button.primary")
        await page.wait_for_url(f"{gw.url}/admin/merchants/{m.id}")
        await page.click(f"#check-{account_id}")
        result = page.locator("#check-result")
        await result.wait_for(state="visible")
        assert await result.get_attribute("data-problem") == "ok"
        assert account_id in (await result.inner_text())
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, overflow
        await shot(page, "checked")
        assert problems == [], problems
    finally:
        await ctx.close()
        await console.close()
