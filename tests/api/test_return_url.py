"""``return_url`` is read as the shopper's browser reads it (WHATWG URL parsing), at create and again
before the checkout sends the shopper there; no stored value makes the page fail."""
from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from gateway.store.tables import merchants, payments
from gateway.web.urls import allowed_return, return_domains
from tests.checkout.helpers import get
from tests.factories import Gateway
from tests.support.paying import phone_page, press
from tests.support.waiting import wait_status

DOMAINS = ["shop.example", "bücher.example", "127.0.0.1"]

ALLOWED = [
    ("https://shop.example/thanks?o=1", "https://shop.example/thanks?o=1"),
    ("https://SHOP.example:8443/x", "https://shop.example:8443/x"),
    ("https://xn--bcher-kva.example/", "https://xn--bcher-kva.example/"),
    ("https://bücher.example/done", "https://xn--bcher-kva.example/done"),
    ("https://ｓｈｏｐ.example/", "https://shop.example/"),  # full-width: the browser goes to shop.example
    ("https://shop.example\\@evil.example/", "https://shop.example/@evil.example/"),  # "\" ends the host
    ("http://127.0.0.1:8080/back", "http://127.0.0.1:8080/back"),
]
REFUSED = [
    "https://evil.example\\@shop.example/",  # urlsplit reads host shop.example; a browser goes to evil.example
    "https://shop.example.evil.example/",
    "https://evil.example/?https://shop.example/",
    "https://ѕhop.example/",  # Cyrillic ѕ: another host (xn--hop-…)
    "https://shop.example%2eevil.example/",
    "https://127.0.0.2/",
    "https://0x7f.0.0.1.evil.example/",
]
INVALID = [  # not a URL a browser follows as written: refused by the field's own validation
    "https://user@shop.example/", "https://shop.example@evil.example/", "https://shop.example/\tx",
    "https://shop.example/\nx", "https:shop.example/", "javascript:alert(1)", "https://shop.example:99999/",
    "https://[::1/", " https://shop.example/",
]


@pytest.mark.parametrize(("url", "followed"), ALLOWED)
def test_the_parser_follows_what_a_browser_follows(url: str, followed: str) -> None:
    assert allowed_return(url, return_domains(DOMAINS)) == followed


@pytest.mark.parametrize("url", REFUSED + INVALID)
def test_the_parser_refuses_other_hosts_and_repaired_urls(url: str) -> None:
    assert allowed_return(url, return_domains(DOMAINS)) is None


async def test_create_refuses_a_return_url_off_the_return_domains(gateway: Gateway) -> None:
    m = await gateway.merchant(return_domains=DOMAINS)
    for url, _ in ALLOWED:
        assert (await gateway.api(m, "POST", "/payments", json_body={
            "amount": 100, "subject": "x", "out_trade_no": f"ok-{len(url)}-{ALLOWED.index((url, _))}",
            "return_url": url})).status == 201, url
    for i, url in enumerate(REFUSED):
        answer = await gateway.api(m, "POST", "/payments", json_body={
            "amount": 100, "subject": "x", "out_trade_no": f"no-{i}", "return_url": url})
        assert answer.status == 422 and answer.body["code"] == "return_url_not_allowed", (url, answer.text)
        assert answer.body["allowed_domains"] == ["127.0.0.1", "shop.example", "xn--bcher-kva.example"]
        assert "shop.example" in answer.body["detail"]
    for i, url in enumerate(INVALID):
        answer = await gateway.api(m, "POST", "/payments", json_body={
            "amount": 100, "subject": "x", "out_trade_no": f"bad-{i}", "return_url": url})
        assert answer.status == 422 and answer.body["errors"][0]["field"] == "return_url", (url, answer.text)
    recharge = await gateway.api(m, "POST", "/customers/c1/recharges", json_body={
        "amount": 100, "return_url": REFUSED[0]})
    assert recharge.status == 422 and recharge.body["code"] == "return_url_not_allowed"
    link = await gateway.api(m, "POST", "/links", json_body={"subject": "Tea", "amount": 100,
                                                             "return_url": REFUSED[0]})
    assert link.status == 422 and link.body["code"] == "return_url_not_allowed", link.text
    assert (await gateway.api(m, "POST", "/links", json_body={"subject": "Tea", "amount": 100,
                                                              "return_url": ALLOWED[0][0]})).status == 201


async def test_the_shopper_is_sent_where_the_browser_would_go(gateway: Gateway) -> None:
    m = await gateway.merchant(return_domains=DOMAINS)
    p = await gateway.create_payment(m, pay_method="alipay_qr", return_url="https://shop.example\\@evil.example/")
    await press(gateway.http, phone_page(f"{gateway.url}/sandbox", "alipay_qr", p))
    await wait_status(gateway, m, p["id"], "paid")
    _, text, _ = await get(gateway, f"/pay/{p['id']}")
    back = re.search(r'id="back"[^>]*href="([^"]+)"|href="([^"]+)"[^>]*id="back"', text)
    assert back is not None, text
    assert html.unescape(back.group(1) or back.group(2)) == "https://shop.example/@evil.example/"
    assert "\\@" not in html.unescape(text)  # the stored spelling never reaches the page


ODD_URLS = ["http://[::1", "https://shop.example:99999/", "\x00", "https://shop.example/\n<script>",
            "javascript:alert(1)", "https://" + "a" * 2040, "https://evil.example\\@shop.example/", "", "%",
            "https://ｓｈｏｐ．example/"]
ODD_DOMAINS = ['{"a": 1}', "not json", "[5, null, {}]", "null", '["shop.example/evil"]', "", '"shop.example"']


async def test_no_stored_value_makes_the_checkout_page_fail(gateway: Gateway) -> None:
    m = await gateway.merchant(return_domains=DOMAINS)
    for i, url in enumerate(ODD_URLS):
        p = await gateway.create_payment(m, return_url="https://shop.example/")
        async with gateway.svc.db.begin() as conn:
            await conn.execute(sa.update(payments).where(payments.c.id == p["id"]).values(return_url=url))
            await conn.execute(sa.update(merchants).where(merchants.c.id == m.id)
                               .values(return_domains=ODD_DOMAINS[i % len(ODD_DOMAINS)]))
        status, text, _ = await get(gateway, f"/pay/{p['id']}")
        assert status == 200, (url, text[:300])
        assert (await gateway.api(m, "GET", f"/payments/{p['id']}")).status == 200
        closed = await gateway.api(m, "POST", f"/payments/{p['id']}/close")
        assert closed.status == 200, closed.text
        status, text, _ = await get(gateway, f"/pay/{p['id']}")
        assert status == 200 and "<script>" not in text
