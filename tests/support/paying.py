"""Paying as the shopper on the sandboxes: the page a shopper's phone would open for a payment, and
pressing its Pay / Cancel button as a person would (a form POST of ``action`` to the page's own URL).

:func:`pay_data_of` is the one place the tests take a payment's pay data out of the merchant API's
answer; when the shape of that answer changes, it is the one function to change. What a pay method's
data means is the channel's business: its contract driver (``tests/contract/drivers/``) knows.
"""
from __future__ import annotations

from typing import Any

import aiohttp

# The fields of the merchant API's Payment object; anything else in a create answer is pay data.
PAYMENT_FIELDS = frozenset({
    "id", "object", "status", "amount", "currency", "refunded_amount", "refundable_amount", "out_trade_no",
    "subject", "description", "channel", "checkout_url", "return_url", "notify_url", "metadata",
    "created_at", "expires_at", "paid_at", "closed_at", "late_payment",
})


def pay_data_of(payment: dict[str, Any]) -> dict[str, Any]:
    """The channel's pay data in a Payment JSON (empty once the payment is no longer pending)."""
    return {k: v for k, v in payment.items() if k not in PAYMENT_FIELDS}


def phone_page(sandbox_url: str, pay_method: str, payment: dict[str, Any]) -> str:
    """The sandbox page a shopper's phone lands on for this payment (``sandbox_url``: where ``/sandbox``
    answers)."""
    from tests.contract.drivers import driver_for

    return driver_for(pay_method).phone_page(sandbox_url, pay_method, pay_data_of(payment))


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
