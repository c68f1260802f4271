"""Paying as the shopper on the sandboxes: the page a shopper's phone would open for a payment, and
pressing its Pay / Cancel button as a person would (a form POST of ``action`` to the page's own URL).

:func:`next_action_of` is the one place the tests take a payment's pay action out of the merchant API's
answer; when the shape of that answer changes, it is the one function to change. What a pay method's
data means is the channel's business: its contract driver (``tests/contract/drivers/``) knows.
"""
from __future__ import annotations

from typing import Any

import aiohttp

from gateway.domain.pay import PayAction
from gateway.sandbox.app import phone_pages


def next_action_of(payment: dict[str, Any]) -> dict[str, Any]:
    """A Payment JSON's ``next_action`` (``{}`` once the payment is no longer pending)."""
    return dict(payment.get("next_action") or {})


def phone_page(sandbox_url: str, pay_method: str, payment: dict[str, Any]) -> str:
    """The sandbox page a shopper's phone lands on for this payment (``sandbox_url``: where ``/sandbox``
    answers; ``payment``: the API's payment, or its ``next_action``). The sandbox registers the lookup,
    as it does for the checkout's "open the sandbox phone page" link."""
    action = PayAction.from_json(payment.get("next_action") or payment)
    page = phone_pages(sandbox_url)(pay_method, action)
    if page is None:
        raise KeyError(pay_method)
    return page


async def press(http: aiohttp.ClientSession, page_url: str, action: str = "pay") -> tuple[int, str]:
    """Open the page, check it offers the buttons, press ``action``."""
    async with http.get(page_url) as page:
        assert page.status == 200, await page.text()
        assert 'name="action"' in await page.text()
    async with http.post(page_url, data={"action": action}, allow_redirects=False) as done:
        return done.status, await done.text()


async def pay_as_shopper(gw: Any, payment: dict[str, Any], action: str = "pay") -> None:
    """The shopper opens the payment's sandbox page and presses ``action``."""
    status, text = await press(gw.http, phone_page(f"{gw.url}/sandbox", payment["channel"], payment), action)
    assert status in (200, 302, 303), text
