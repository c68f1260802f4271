"""Where a shopper's phone would land for a payment's ``next_action``, on the sandboxes -- and pressing
its Pay / Cancel button, as a person would (a form POST of ``action`` to the page's own URL)."""
from __future__ import annotations

from typing import Any

import aiohttp

from gateway.domain.pay import PayAction
from gateway.sandbox.app import phone_pages


def phone_page(sandbox_url: str, pay_method: str, payment: dict[str, Any]) -> str:
    """``sandbox_url`` is where ``/sandbox`` answers; ``payment`` is the API's payment (or its
    ``next_action``)."""
    action = PayAction.from_json(payment.get("next_action") or payment)
    page = phone_pages(sandbox_url)(pay_method, action)
    if page is None:
        raise KeyError(pay_method)
    return page


async def press(http: aiohttp.ClientSession, page_url: str, action: str = "pay") -> tuple[int, str]:
    async with http.get(page_url) as page:
        assert page.status == 200, await page.text()
        assert 'name="action"' in await page.text()
    async with http.post(page_url, data={"action": action}, allow_redirects=False) as done:
        return done.status, await done.text()
