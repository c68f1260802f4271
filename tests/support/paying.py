"""Paying as the shopper on the sandboxes: the page a shopper's phone would open for a payment, and
pressing its Pay / Cancel button as a person would (a form POST of ``action`` to the page's own URL).

:func:`pay_data_of` is the one place the tests read a payment's pay data from the merchant API's answer:
when the shape of that answer changes, only it changes.
"""
from __future__ import annotations

from typing import Any

import aiohttp

# Where each pay method's page address lies in the pay data, and how it becomes a page URL.
PAY_DATA_FIELDS = {"alipay_qr": "qr_code", "alipay_wap": "pay_url", "alipay_page": "pay_url",
                   "wechat_native": "code_url", "wechat_h5": "h5_url", "wechat_jsapi": "prepay_id"}
JSAPI_FIELDS = frozenset({"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"})


def pay_data_of(payment: dict[str, Any]) -> dict[str, Any]:
    """The channel's pay data in a Payment JSON (empty once the payment is no longer pending)."""
    method = payment.get("channel")
    keys = {PAY_DATA_FIELDS.get(method or ""), *JSAPI_FIELDS}
    return {k: payment[k] for k in keys if k and k in payment}


def pay_url_of(payment: dict[str, Any]) -> str:
    """The address the pay data points the shopper to (a URL, a QR payload or a prepay id)."""
    return str(pay_data_of(payment)[PAY_DATA_FIELDS[payment["channel"]]])


def phone_page(sandbox_url: str, pay_method: str, payment: dict[str, Any]) -> str:
    """The sandbox page a shopper's phone lands on for this payment. ``sandbox_url`` is where
    ``/sandbox`` answers."""
    from gateway.sandbox.wechat import scan_page_url

    data = pay_data_of({**payment, "channel": pay_method})
    if pay_method == "alipay_qr":
        return str(data["qr_code"])  # the sandbox's qr_code is already a page URL
    if pay_method in ("alipay_wap", "alipay_page"):
        return str(data["pay_url"])
    if pay_method == "wechat_native":
        return scan_page_url(f"{sandbox_url}/wechat", data["code_url"])
    if pay_method == "wechat_h5":
        return str(data["h5_url"])
    if pay_method == "wechat_jsapi":
        return f"{sandbox_url}/wechat/jsapi/{data['prepay_id']}"
    raise KeyError(pay_method)


async def press(http: aiohttp.ClientSession, page_url: str, action: str = "pay") -> tuple[int, str]:
    """Open the page, check it offers the buttons, press ``action``."""
    async with http.get(page_url) as page:
        assert page.status == 200, await page.text()
        assert 'name="action"' in await page.text()
    async with http.post(page_url, data={"action": action}, allow_redirects=False) as done:
        return done.status, await done.text()
