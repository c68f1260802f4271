"""Payment links: the API, a fixed-amount visit, a shopper-entered amount within bounds, the poster."""
from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from gateway.checkout.oauth_state import OAuthState
from gateway.crypto.secrets import Secret
from gateway.domain.money import parse_major
from gateway.web.i18n import format_amount
from tests.checkout.helpers import get
from tests.factories import Gateway


async def test_fixed_link_creates_a_payment_per_visit(gateway: Gateway) -> None:
    m = await gateway.merchant(name="Tea House")
    r = await gateway.api(m, "POST", "/links", json_body={"subject": "Green tea", "amount": 1500})
    assert r.status == 201, r.text
    link = r.body
    assert link["object"] == "payment_link" and link["url"].endswith(f"/l/{link['slug']}")
    assert (await gateway.api(m, "GET", f"/links/{link['id']}")).body == link
    assert (await gateway.api(m, "GET", "/links")).body["data"][0]["id"] == link["id"]
    first = await get(gateway, f"/l/{link['slug']}")
    second = await get(gateway, f"/l/{link['slug']}")
    assert first[0] == second[0] == 303 and first[2]["Location"] != second[2]["Location"]
    payment_id = first[2]["Location"].rsplit("/", 1)[1]
    body = (await gateway.api(m, "GET", f"/payments/{payment_id}")).body
    assert body["amount"] == 1500 and body["subject"] == "Green tea"
    async with gateway.http.get(link["poster_url"]) as resp:
        image = Image.open(io.BytesIO(await resp.read()))
        assert resp.status == 200 and image.format == "PNG" and image.size == (600, 860)


async def test_open_amount_link_checks_bounds(gateway: Gateway) -> None:
    m = await gateway.merchant()
    link = (await gateway.api(m, "POST", "/links", json_body={
        "subject": "Donation", "min_amount": 100, "max_amount": 10000})).body
    status, text, _ = await get(gateway, f"/l/{link['slug']}")
    assert status == 200 and 'name="amount"' in text and "¥1.00 – ¥100.00" in text
    for bad in ("0.99", "100.01", "abc", "1.001", "-5", "1e3"):
        async with gateway.http.post(f"{gateway.url}/l/{link['slug']}", data={"amount": bad},
                                     allow_redirects=False) as r:
            assert r.status == 422, bad
    async with gateway.http.post(f"{gateway.url}/l/{link['slug']}", data={"amount": "12.34"},
                                 allow_redirects=False) as r:
        assert r.status == 303
        payment_id = r.headers["Location"].rsplit("/", 1)[1]
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
    assert {"post", "get"} <= set(doc["paths"]["/links"]) and "get" in doc["paths"]["/links/{id}"]


@given(st.integers(min_value=0, max_value=10_000_000_000), st.sampled_from(["zh-CN", "en"]))
def test_amounts_format_exactly(minor: int, lang: str) -> None:
    text = format_amount(minor, "CNY", lang)
    assert parse_major(text.lstrip("CN¥").replace(",", "")) == minor


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_oauth_state_is_bound_to_its_payment(payment_id: str, other: str) -> None:
    signer = OAuthState(Secret("k"))
    state = signer.sign(payment_id, now=1000.0)
    assert signer.check(payment_id, state, now=1000.0)
    assert not signer.check(payment_id, state, now=1000.0 + 601)
    assert signer.check(other, state, now=1000.0) == (other == payment_id)


async def test_links_list_pages_with_a_cursor(gateway: Gateway) -> None:
    m = await gateway.merchant()
    ids = [(await gateway.api(m, "POST", "/links", json_body={"subject": f"l{i}", "amount": 100 + i})).body["id"]
           for i in range(3)]
    first = (await gateway.api(m, "GET", "/links?limit=2")).body
    assert first["has_more"] and len(first["data"]) == 2
    rest = (await gateway.api(m, "GET", f"/links?limit=2&cursor={first['next_cursor']}")).body
    assert not rest["has_more"] and rest["next_cursor"] is None
    assert [x["id"] for x in first["data"] + rest["data"]] == list(reversed(ids))
