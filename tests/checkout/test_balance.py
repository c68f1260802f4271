"""The customer's balance at the checkout: offered only with the merchant's signed customer_token, a
confirmation step, paid through the stored-value channel -- and a shopper cannot name another customer."""
from __future__ import annotations

import base64
import re
from urllib.parse import parse_qs, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from gateway.crypto.secrets import Secret
from gateway.services.customer_tokens import CustomerTokens
from tests.checkout.helpers import Shopper
from tests.factories import Gateway, Merchant, unique
from tests.wallets.conftest import adjust, books_balance, enable_stored_value, wallet


async def _token(gw: Gateway, m: Merchant, customer: str, payment_id: str) -> tuple[str, str]:
    answer = await gw.api(m, "POST", f"/customers/{customer}/checkout_tokens", json_body={"payment_id": payment_id})
    assert answer.status == 201, answer.text
    return answer.body["customer_token"], answer.body["checkout_url"]


async def test_balance_is_offered_with_a_token_confirmed_then_paid(gateway: Gateway) -> None:
    m = await gateway.merchant()
    await enable_stored_value(gateway, m)
    alice, bob = unique("alice"), unique("bob")
    await adjust(gateway, m, alice, cash=5000)
    await adjust(gateway, m, bob, cash=9000)
    p = await gateway.create_payment(m, amount=1999)
    token, url = await _token(gateway, m, alice, p["id"])
    assert parse_qs(urlsplit(url).query)["customer_token"] == [token]
    shopper = Shopper(gateway)
    _, text, _ = await shopper.get(f"/pay/{p['id']}")
    assert 'id="pay-balance"' not in text  # no token, no balance
    # another customer's name with alice's MAC, a token for another payment, garbage: no offer
    other = await gateway.create_payment(m)
    forged_name = token.replace(token.split(".")[0], _b64(bob))
    other_token, _ = await _token(gateway, m, alice, other["id"])
    for bad in (forged_name, other_token, "x.y", ""):
        _, text, _ = await shopper.get(f"/pay/{p['id']}?customer_token={bad}")
        assert 'id="pay-balance"' not in text, bad
        status, _, headers = await shopper.get(f"/pay/{p['id']}/balance?customer_token={bad}")
        assert status == 303 and headers["Location"] == f"/pay/{p['id']}"
    status, _, headers = await shopper.get(f"/pay/{p['id']}?lang=en&customer_token={token}")
    assert status == 303 and headers["Location"] == f"/pay/{p['id']}?customer_token={token}"  # the offer stays
    _, text, _ = await shopper.get(url)
    assert f"customer_token={token}" in text.split('class="lang"')[1].split(">")[0]
    confirm_url = re.search(r'id="pay-balance" href="([^"]+)"', text).group(1).replace("&amp;", "&")
    status, text, _ = await shopper.get(confirm_url)
    assert status == 200 and "¥19.99" in text and "¥50.00" in text and 'id="confirm"' in text
    assert (await wallet(gateway, m, alice))["cash"] == 5000  # showing the confirmation moved nothing
    status, _, _ = await shopper.post(f"/pay/{p['id']}/balance", {"customer_token": token}, csrf=False)
    assert status == 403
    status, _, _ = await shopper.post(f"/pay/{p['id']}/balance", {"customer_token": forged_name})
    assert status == 303 and (await wallet(gateway, m, bob))["cash"] == 9000
    status, _, headers = await shopper.post(f"/pay/{p['id']}/balance", {"customer_token": token})
    assert status == 303 and headers["Location"] == f"/pay/{p['id']}"
    got = (await gateway.api(m, "GET", f"/payments/{p['id']}")).body
    assert got["status"] == "paid" and [a["pay_method"] for a in await gateway.attempts(p["id"])] == ["balance"]
    assert (await wallet(gateway, m, alice))["cash"] == 5000 - 1999
    assert (await wallet(gateway, m, bob))["cash"] == 9000
    status, _, _ = await shopper.post(f"/pay/{p['id']}/balance", {"customer_token": token})  # a second press
    assert status == 303 and (await wallet(gateway, m, alice))["cash"] == 5000 - 1999
    assert (await gateway.api(m, "POST", f"/customers/{alice}/checkout_tokens",
                              json_body={"payment_id": p["id"]})).status == 409
    await books_balance(gateway)


async def test_short_balance_is_shown_and_declined_without_a_debit(gateway: Gateway) -> None:
    m = await gateway.merchant()
    await enable_stored_value(gateway, m)
    carol = unique("carol")
    await adjust(gateway, m, carol, cash=100)
    p = await gateway.create_payment(m, amount=1999)
    token, _ = await _token(gateway, m, carol, p["id"])
    shopper = Shopper(gateway)
    status, text, _ = await shopper.get(f"/pay/{p['id']}/balance?customer_token={token}")
    assert status == 200 and 'id="insufficient"' in text and 'id="confirm"' not in text
    status, text, _ = await shopper.post(f"/pay/{p['id']}/balance", {"customer_token": token})
    assert status == 402 and 'id="notice"' in text
    assert (await wallet(gateway, m, carol))["cash"] == 100
    assert (await gateway.api(m, "GET", f"/payments/{p['id']}")).body["status"] == "pending"
    other = await gateway.merchant()
    assert (await gateway.api(other, "POST", f"/customers/{carol}/checkout_tokens",
                              json_body={"payment_id": p["id"]})).status == 404
    without = await gateway.merchant()  # no stored value enabled: a valid token offers nothing
    q = await gateway.create_payment(without)
    token, _ = await _token(gateway, without, carol, q["id"])
    _, text, _ = await shopper.get(f"/pay/{q['id']}?customer_token={token}")
    assert 'id="pay-balance"' not in text


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


_ids = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=64)


@given(_ids, _ids, _ids, _ids)
def test_a_customer_token_names_one_customer_for_one_payment(merchant: str, payment: str, customer: str,
                                                             other: str) -> None:
    tokens = CustomerTokens(Secret("k"))
    token = tokens.sign(merchant, payment, customer)
    assert tokens.verify(merchant, payment, token) == customer
    assert tokens.verify(other, payment, token) == (customer if other == merchant else None)
    assert tokens.verify(merchant, other, token) == (customer if other == payment else None)
    forged = tokens.sign(merchant, payment, other).split(".")[0] + "." + token.split(".")[1]
    assert tokens.verify(merchant, payment, forged) == (customer if other == customer else None)
    assert CustomerTokens(Secret("other key")).verify(merchant, payment, token) is None
