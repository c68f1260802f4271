"""The cashier's texts for every state, the CSRF token on its forms, and the 422 for a merchant whose
checkout could only wait forever."""
from __future__ import annotations

import html
import re
from datetime import timedelta

import sqlalchemy as sa

from gateway.admin.actions import update_merchant
from gateway.cli import sandbox_accounts
from gateway.services.merchants import set_channel_account
from gateway.store.base import utcnow
from gateway.store.tables import payments
from tests.checkout.helpers import WECHAT_UA, Shopper, get
from tests.contract.steps import refund
from tests.factories import Gateway, unique
from tests.support.paying import press
from tests.support.waiting import wait_status


async def _result(gw: Gateway, payment_id: str) -> str:
    """The heading of the page's outcome section."""
    _, text, _ = await get(gw, f"/pay/{payment_id}")
    found = re.search(r'id="result"[^>]*>\s*<h2>([^<]*)</h2>', text)
    assert found, text
    return found.group(1)


async def test_refunded_reads_refunded_and_does_not_promise_a_redirect(gateway: Gateway) -> None:
    m = await gateway.merchant(return_domains=["127.0.0.1"])
    p = await gateway.create_payment(m, return_url=f"{gateway.url}/healthz")
    await Shopper(gateway).post(f"/pay/{p['id']}/method", {"method": "wechat_native"})
    _, text, _ = await get(gateway, f"/pay/{p['id']}")
    await press(gateway.http, html.unescape(re.search(r'id="sandbox-phone" href="([^"]+)"', text).group(1)))
    await wait_status(gateway, m, p["id"], "paid")
    await refund(gateway, m, p["id"], p["amount"])
    await wait_status(gateway, m, p["id"], "refunded")
    _, text, _ = await get(gateway, f"/pay/{p['id']}", headers={"Accept-Language": "en"})
    assert "Refunded" in text and "refunded to how it was paid" in text
    assert "Taking you back" not in text and "refresh" not in text and 'id="back"' in text


async def test_a_payment_closed_after_its_time_reads_expired_and_a_merchant_close_reads_closed(
        gateway: Gateway) -> None:
    m = await gateway.merchant()
    late, early = await gateway.create_payment(m), await gateway.create_payment(m)
    async with gateway.svc.db.begin() as conn:
        await conn.execute(sa.update(payments).where(payments.c.id == late["id"])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
    for p in (late, early):
        assert (await gateway.api(m, "POST", f"/payments/{p['id']}/close")).status == 200
    assert await _result(gateway, late["id"]) == "订单已过期"
    assert await _result(gateway, early["id"]) == "订单已关闭"


async def test_a_merchant_without_a_usable_pay_method_cannot_create_a_checkout_payment(gateway: Gateway) -> None:
    m = await gateway.merchant(sandbox_accounts=False)
    answer = await gateway.api(m, "POST", "/payments", json_body={
        "amount": 100, "subject": "x", "out_trade_no": unique("o")})
    assert answer.status == 422 and answer.body["code"] == "pay_method_unavailable", answer.text
    assert await gateway.count(payments, payments.c.merchant_id == m.id) == 0


async def test_a_page_with_nothing_to_offer_says_so_instead_of_waiting(gateway: Gateway) -> None:
    m = await gateway.merchant(sandbox_accounts=False)
    svc = gateway.svc
    await set_channel_account(svc.db, svc.settings, svc.registry, m.id, "alipay",
                              sandbox_accounts(svc.settings)["alipay"], ["alipay_qr"], check=False)
    p = await gateway.create_payment(m)  # a desktop can pay it; WeChat's browser cannot
    _, text, _ = await get(gateway, f"/pay/{p['id']}", WECHAT_UA)
    assert 'data-state="unavailable"' in text and 'id="no-methods"' in text
    assert 'id="status"' not in text and 'id="choose"' not in text and 'id="countdown"' not in text


async def test_method_switch_needs_this_browsers_csrf_token(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)
    shopper, other = Shopper(gateway), Shopper(gateway)
    _, text, _ = await shopper.get(f"/pay/{p['id']}")
    assert f'name="csrf_token" value="{shopper.token}"' in text
    for who, data in ((shopper, {"method": "alipay_qr"}), (other, {"method": "alipay_qr", "csrf_token": shopper.token})):
        status, _, headers = await who.post(f"/pay/{p['id']}/method", data, csrf=False)
        assert status == 403 and "text/html" in headers["Content-Type"]
    assert not await gateway.attempts(p["id"])
    status, _, _ = await shopper.post(f"/pay/{p['id']}/method", {"method": "alipay_qr"})
    assert status == 303 and [a["pay_method"] for a in await gateway.attempts(p["id"])] == ["alipay_qr"]
    # a first visit gets its cookie: HttpOnly, SameSite=Lax
    _, _, headers = await get(gateway, f"/pay/{p['id']}")
    cookie = headers["Set-Cookie"]
    assert "checkout_browser=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


async def test_a_console_edit_of_the_return_domains_shows_on_the_next_page(gateway: Gateway) -> None:
    """The checkout keeps the merchant as it shows it for a few seconds; an edit through the console
    (this process) is seen by the very next page."""
    m = await gateway.merchant(return_domains=["127.0.0.1"])
    p = await gateway.create_payment(m, return_url=f"{gateway.url}/healthz")
    await gateway.api(m, "POST", f"/payments/{p['id']}/close")
    _, text, _ = await get(gateway, f"/pay/{p['id']}")
    assert 'id="back"' in text and "/healthz" in text
    await update_merchant(gateway.svc, m.id, webhook_url=None, return_domains=["shop.example"])
    _, text, _ = await get(gateway, f"/pay/{p['id']}")
    assert 'id="back"' not in text and "/healthz" not in text
