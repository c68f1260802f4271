"""/api/v1/docs reads well on a phone: nothing wider than the screen but what scrolls in its own box."""
from __future__ import annotations

from typing import Any

from tests.factories import Gateway


async def test_the_api_docs_fit_a_phone(sqlite_gateway: Gateway, browser: Any, shot: Any) -> None:
    ctx = await browser.new_context(viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True)
    page = await ctx.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" and "404" not in msg.text
            else None)  # a 404 is counted below, by URL (the browser asks for /favicon.ico on its own)
    page.on("response", lambda r: problems.append(r.url) if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None)
    await page.goto(f"{sqlite_gateway.url}/api/v1/docs")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375
    assert await page.locator("#pay-methods").is_visible() and await page.locator("#webhooks").count() == 1
    size = await page.evaluate("parseFloat(getComputedStyle(document.querySelector('main p')).fontSize)")
    assert size >= 14  # readable without zooming
    await shot(page, "phone")
    assert problems == []  # no CSP violation, no missing resource
    await ctx.close()
