"""Where a shopper's phone would land for a payment's pay data, on the sandboxes -- and pressing its
Pay / Cancel button, as a person would (a form POST of ``action`` to the page's own URL)."""
from __future__ import annotations

from typing import Any

import aiohttp

from gateway.sandbox.wechat import scan_page_url


def phone_page(sandbox_url: str, pay_method: str, pay_data: dict[str, Any]) -> str:
    """``sandbox_url`` is where ``/sandbox`` answers."""
    if pay_method == "alipay_qr":
        return pay_data["qr_code"]
    if pay_method in ("alipay_wap", "alipay_page"):
        return pay_data["pay_url"]
    if pay_method == "wechat_native":
        return scan_page_url(f"{sandbox_url}/wechat", pay_data["code_url"])
    if pay_method == "wechat_h5":
        return pay_data["h5_url"]
    if pay_method == "wechat_jsapi":
        return f"{sandbox_url}/wechat/jsapi/{pay_data['prepay_id']}"
    raise KeyError(pay_method)


async def press(http: aiohttp.ClientSession, page_url: str, action: str = "pay") -> tuple[int, str]:
    async with http.get(page_url) as page:
        assert page.status == 200, await page.text()
        assert 'name="action"' in await page.text()
    async with http.post(page_url, data={"action": action}, allow_redirects=False) as done:
        return done.status, await done.text()
