"""Payment links: the API, a fixed-amount visit, a shopper-entered amount within bounds, the poster."""
from __future__ import annotations

from xml.etree import ElementTree

from hypothesis import given
from hypothesis import strategies as st

from gateway.checkout.oauth_state import OAuthState
from gateway.crypto.secrets import Secret
from gateway.domain.money import parse_major
from gateway.store.tables import payments
from gateway.web.i18n import format_amount
from tests.checkout.helpers import Shopper, get
from tests.factories import Gateway


async def test_opening_a_link_writes_nothing_its_pay_button_posts(gateway: Gateway) -> None:
    m = await gateway.merchant(name="Tea House")
    r = await gateway.api(m, "POST", "/links", json_body={"subject": "Green tea", "amount": 1500})
    assert r.status == 201, r.text
    link = r.body
    assert link["object"] == "payment_link" and link["url"].endswith(f"/l/{link['slug']}")
    assert (await gateway.api(m, "GET", f"/links/{link['id']}")).body == link
    assert (await gateway.api(m, "GET", "/links")).body["data"][0]["id"] == link["id"]
    for _ in range(3):  # previews, crawlers, reloads: a page, never a payment
        status, text, _ = await get(gateway, f"/l/{link['slug']}")
        assert status == 200 and "¥15.00" in text and 'id="create"' in text and 'name="csrf_token"' in text
    assert await gateway.count(payments, payments.c.merchant_id == m.id) == 0
    shopper = Shopper(gateway)
    status, text, _ = await shopper.post(f"/l/{link['slug']}", {}, csrf=False)  # a forged cross-site POST
    assert status == 403 and "text/html" in _["Content-Type"]
    status, _, _ = await Shopper(gateway).post(f"/l/{link['slug']}", {"csrf_token": shopper.token}, csrf=False)
    assert status == 403  # another browser's token
    assert await gateway.count(payments, payments.c.merchant_id == m.id) == 0
    first = await shopper.post(f"/l/{link['slug']}", {})
    second = await shopper.post(f"/l/{link['slug']}", {})
    assert first[0] == second[0] == 303 and first[2]["Location"] != second[2]["Location"]
    payment_id = first[2]["Location"].rsplit("/", 1)[1]
    body = (await gateway.api(m, "GET", f"/payments/{payment_id}")).body
    assert body["amount"] == 1500 and body["subject"] == "Green tea" and body["link_id"] == link["id"]
    assert link["poster_url"].endswith("/poster.svg")


async def test_poster_is_print_sized_svg_with_text(gateway: Gateway) -> None:
    m = await gateway.merchant(name="茶馆")
    link = (await gateway.api(m, "POST", "/links", json_body={"subject": "绿茶 <b>&", "amount": 1500})).body
    async with gateway.http.get(link["poster_url"]) as resp:
        assert resp.status == 200 and resp.content_type == "image/svg+xml"
        svg = await resp.text()
    root = ElementTree.fromstring(svg)  # well-formed, hostile text escaped
    assert int(root.get("width") or 0) >= 1200
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "茶馆" in texts and "绿茶 <b>&" in texts and "¥15.00" in texts  # text for the viewer's fonts
    status, _, headers = await get(gateway, f"/l/{link['slug']}/poster.png")
    assert status == 301 and headers["Location"].endswith("/poster.svg")


async def test_patch_edits_and_deactivates_a_link(gateway: Gateway) -> None:
    m = await gateway.merchant()
    link = (await gateway.api(m, "POST", "/links", json_body={"subject": "Tea", "amount": 1500})).body
    r = await gateway.api(m, "PATCH", f"/links/{link['id']}", json_body={"subject": "Black tea", "amount": 1800})
    assert r.status == 200 and (r.body["subject"], r.body["amount"]) == ("Black tea", 1800), r.text
    assert (await gateway.api(m, "GET", f"/links/{link['id']}")).body == r.body
    for bad in ({}, {"min_amount": 100}, {"amount": None}, {"subject": None}, {"active": "no"}, {"amount": 0},
                {"colour": "red"}):
        answer = await gateway.api(m, "PATCH", f"/links/{link['id']}", json_body=bad)
        assert answer.status == 422, (bad, answer.text)
    other = await gateway.merchant()
    assert (await gateway.api(other, "PATCH", f"/links/{link['id']}", json_body={"active": False})).status == 404
    shopper = Shopper(gateway)
    r = await gateway.api(m, "PATCH", f"/links/{link['id']}", json_body={"active": False})
    assert r.status == 200 and r.body["active"] is False
    for path in (f"/l/{link['slug']}", f"/l/{link['slug']}/poster.svg"):
        status, text, headers = await shopper.get(path)
        assert status == 410 and "text/html" in headers["Content-Type"] and "该收款链接已停用" in text, path
    status, text, _ = await shopper.post(f"/l/{link['slug']}", {})
    assert status == 410 and 'id="inactive"' in text
    assert await gateway.count(payments, payments.c.merchant_id == m.id) == 0
    open_link = (await gateway.api(m, "POST", "/links", json_body={"subject": "Tip", "min_amount": 100})).body
    r = await gateway.api(m, "PATCH", f"/links/{open_link['id']}", json_body={"max_amount": 500})
    assert r.status == 200 and r.body["max_amount"] == 500
    assert (await gateway.api(m, "PATCH", f"/links/{open_link['id']}", json_body={"max_amount": 50})).status == 422
    assert (await gateway.api(m, "PATCH", f"/links/{open_link['id']}", json_body={"amount": 50})).status == 422
    assert (await gateway.api(m, "PATCH", f"/links/{link['id']}", json_body={"active": True})).body["active"]
    status, _, _ = await shopper.post(f"/l/{link['slug']}", {})
    assert status == 303


async def test_open_amount_link_checks_bounds(gateway: Gateway) -> None:
    m = await gateway.merchant()
    link = (await gateway.api(m, "POST", "/links", json_body={
        "subject": "Donation", "min_amount": 100, "max_amount": 10000})).body
    status, text, _ = await get(gateway, f"/l/{link['slug']}")
    assert status == 200 and 'name="amount"' in text and "¥1.00 – ¥100.00" in text
    shopper = Shopper(gateway)
    for bad in ("0.99", "100.01", "abc", "1.001", "-5", "1e3"):
        status, _, _ = await shopper.post(f"/l/{link['slug']}", {"amount": bad})
        assert status == 422, bad
    status, _, headers = await shopper.post(f"/l/{link['slug']}", {"amount": "12.34"})
    assert status == 303
    payment_id = headers["Location"].rsplit("/", 1)[1]
    assert (await gateway.api(m, "GET", f"/payments/{payment_id}")).body["amount"] == 1234


async def test_link_api_validation(gateway: Gateway) -> None:
    m = await gateway.merchant()
    for body in ({"subject": "x", "amount": 100, "min_amount": 1}, {"subject": "x", "min_amount": 5, "max_amount": 4},
                 {"subject": "x", "amount": 1.5}, {"subject": "x", "pay_method": "wechat_jsapi"}, {"amount": 100}):
        r = await gateway.api(m, "POST", "/links", json_body=body)
        assert r.status == 422, (body, r.text)
    assert (await gateway.api(m, "GET", "/links/plink_nope")).status == 404
    other = await gateway.merchant()
    mine = (await gateway.api(m, "POST", "/links", json_body={"subject": "x", "amount": 1})).body
    assert (await gateway.api(other, "GET", f"/links/{mine['id']}")).status == 404
    doc = (await gateway.api(None, "GET", "/openapi.json")).body
    assert {"post", "get"} <= set(doc["paths"]["/links"]) and {"get", "patch"} <= set(doc["paths"]["/links/{id}"])


@given(st.integers(min_value=0, max_value=10_000_000_000), st.sampled_from(["zh-CN", "en"]))
def test_amounts_format_exactly(minor: int, lang: str) -> None:
    text = format_amount(minor, "CNY", lang)
    assert parse_major(text.lstrip("CN¥").replace(",", "")) == minor


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_oauth_state_is_bound_to_its_payment_and_browser(payment_id: str, other: str) -> None:
    signer = OAuthState(Secret("k"))
    state = signer.sign(payment_id, "browser-a", now=1000.0)
    assert signer.check(payment_id, "browser-a", state, now=1000.0)
    assert not signer.check(payment_id, "browser-a", state, now=1000.0 + 601)
    assert signer.check(other, "browser-a", state, now=1000.0) == (other == payment_id)
    assert signer.check(payment_id, other, state, now=1000.0) == (other == "browser-a")
    assert not signer.check(payment_id, "", state, now=1000.0)


async def test_links_list_pages_with_a_cursor(gateway: Gateway) -> None:
    m = await gateway.merchant()
    ids = [(await gateway.api(m, "POST", "/links", json_body={"subject": f"l{i}", "amount": 100 + i})).body["id"]
           for i in range(3)]
    first = (await gateway.api(m, "GET", "/links?limit=2")).body
    assert first["has_more"] and len(first["data"]) == 2
    rest = (await gateway.api(m, "GET", f"/links?limit=2&cursor={first['next_cursor']}")).body
    assert not rest["has_more"] and rest["next_cursor"] is None
    assert [x["id"] for x in first["data"] + rest["data"]] == list(reversed(ids))
