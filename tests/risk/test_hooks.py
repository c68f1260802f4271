"""The other places rules run: a shopper opening a payment link or a pay method on the checkout (a
friendly page on a block, no rule detail), refund create, callback receipt; and what the console shows."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from gateway.store.tables import notify_log, payments
from tests.checkout.helpers import DESKTOP_UA, Shopper
from tests.factories import Gateway, unique
from tests.risk.helpers import add_rule, create, decisions, expect, fund
from tests.support.paying import pay_as_shopper
from tests.support.waiting import eventually, wait_status

MODES = ["enforce", "monitor"]


def shopper(ip: str) -> dict[str, str]:
    return {"User-Agent": DESKTOP_UA, "X-Forwarded-For": ip, "Accept-Language": "en"}


async def _open(gw: Gateway, path: str, ip: str, *, data: dict[str, str] | None = None) -> tuple[int, str, str]:
    """A shopper's browser at ``ip`` GETs ``path``, or (``data``) posts one of its forms -- with the
    browser's cookie and the form's CSRF token. A payment link's pay button is ``data={}``."""
    s = Shopper(gw)
    method = gw.http.post if data is not None else gw.http.get
    body = {**data, "csrf_token": s.token} if data is not None else None
    async with method(f"{gw.url}{path}", data=body, headers={**shopper(ip), "Cookie": s.headers["Cookie"]},
                      allow_redirects=False) as r:
        return r.status, await r.text(), r.headers.get("Location", "")


@pytest.mark.parametrize("mode", MODES)
async def test_a_listed_shopper_opening_a_link_gets_a_friendly_page(proxied: Gateway, mode: str) -> None:
    gw = proxied
    m = await gw.merchant()
    if mode == "monitor":
        await add_rule(gw, m, type="ip_blocklist", mode="monitor")
    assert (await gw.api(m, "POST", "/risk/lists/ip", json_body={"value": "198.18.0.66"})).status == 201
    link = (await gw.api(m, "POST", "/links", json_body={"subject": "Tea", "amount": 1500})).body
    status, text, location = await _open(gw, f"/l/{link['slug']}", "198.18.0.66", data={})
    if mode == "enforce":
        assert status == 403 and "cannot be made right now" in text
        assert "ip_blocklist" not in text and "rdec_" not in text  # nothing internal for the shopper
        assert await gw.count(payments, payments.c.merchant_id == m.id) == 0
    else:
        assert status == 303
        payment = (await gw.api(m, "GET", f"/payments/{location.rsplit('/', 1)[1]}")).body
        assert payment["risk"]["rules"][0]["type"] == "ip_blocklist"
    other = await _open(gw, f"/l/{link['slug']}", "198.18.0.67", data={})
    assert other[0] == 303


@pytest.mark.parametrize("mode", MODES)
async def test_opening_a_pay_method_on_the_checkout(proxied: Gateway, mode: str) -> None:
    gw = proxied
    m = await gw.merchant()
    payment = (await create(gw, m, amount=1200)).body
    await add_rule(gw, m, type="unpaid_velocity", count=1, window=600, mode=mode)
    ip = "198.18.1.10"
    first = await _open(gw, f"/pay/{payment['id']}/method", ip, data={"method": "alipay_qr"})
    assert first[0] == 303  # one code opened: fine
    second = await _open(gw, f"/pay/{payment['id']}/method", ip, data={"method": "wechat_native"})
    if mode == "enforce":
        assert second[0] == 403 and "cannot be made right now" in second[1]
        assert [a["pay_method"] for a in await gw.attempts(payment["id"])] == ["alipay_qr"]  # no new order
    else:
        assert second[0] == 303
    got = (await gw.api(m, "GET", f"/payments/{payment['id']}")).body
    assert got["risk"]["decision"] == ("block" if mode == "enforce" else "allow")
    assert [(r["type"], r["mode"]) for r in got["risk"]["rules"]] == [("unpaid_velocity", mode)]
    [seen] = await decisions(gw, m, hook="checkout.pay")
    assert seen["object_id"] == payment["id"] and seen["ip"] == ip


@pytest.mark.parametrize("mode", MODES)
async def test_refund_ratio(gateway: Gateway, mode: str) -> None:
    m = await gateway.merchant()
    customer = unique("c")
    await fund(gateway, m, customer, 10_000)
    paid = (await create(gateway, m, amount=1000, channel="balance", customer_id=customer)).body
    rule = await add_rule(gateway, m, type="refund_ratio", ratio=0.5, action="block", mode=mode)
    assert rule["window"] == 86400 and rule["action"] == "block"
    small = await gateway.api(m, "POST", f"/payments/{paid['id']}/refunds",
                              json_body={"amount": 400, "out_refund_no": unique("rf")})
    assert small.status == 201, small.text  # 40 % refunded
    more = await gateway.api(m, "POST", f"/payments/{paid['id']}/refunds",
                             json_body={"amount": 200, "out_refund_no": unique("rf")})
    if mode == "enforce":
        assert more.status == 403 and more.body["code"] == "risk_blocked"
        assert (await gateway.api(m, "GET", f"/payments/{paid['id']}")).body["refunded_amount"] == 400
    else:
        assert more.status == 201
    [seen] = await decisions(gateway, m, hook="refund.create")
    assert seen["rules"][0]["type"] == "refund_ratio" and seen["object_id"] == paid["id"]


@pytest.mark.parametrize("mode", MODES)
async def test_callback_source(gateway: Gateway, mode: str) -> None:
    m = await gateway.merchant()
    await add_rule(gateway, m, type="callback_source", channel="alipay", cidrs=["203.0.113.0/24"], mode=mode)
    payment = (await create(gateway, m, channel="alipay_qr")).body
    await pay_as_shopper(gateway, payment)
    trade = (await gateway.attempts(payment["id"]))[0]["id"]

    async def logged() -> list[str]:
        async with gateway.svc.db.read() as conn:
            return [r[0] for r in (await conn.execute(sa.select(notify_log.c.result)
                                                      .where(notify_log.c.trade_no == trade))).all()]

    results = await eventually(logged)
    assert results[0] == ("rejected" if mode == "enforce" else "applied"), results
    if mode == "monitor":  # logged and recorded only: the signature decided
        await wait_status(gateway, m, payment["id"], "paid")
    [seen] = await decisions(gateway, m, hook="callback")
    assert seen["ip"] == "127.0.0.1" and seen["decision"] == ("block" if mode == "enforce" else "allow")


async def test_the_console_shows_the_decision_on_the_payment(gateway: Gateway) -> None:
    from tests.admin.helpers import enrolled

    m = await gateway.merchant()
    await add_rule(gateway, m, type="amount_max", amount=100, mode="monitor")
    payment = await create(gateway, m, amount=500)
    expect(payment, "monitor", "block", "amount_max")
    console = await enrolled(gateway, "viewer")
    try:
        status, html = await console.get(f"/payments/{payment.body['id']}")
        assert status == 200 and 'id="risk"' in html and "amount_max · monitor · block" in html
        status, html = await console.get(f"/risk/decisions?object_id={payment.body['id']}")
        assert status == 200 and "amount above 100" in html
    finally:
        await console.close()
