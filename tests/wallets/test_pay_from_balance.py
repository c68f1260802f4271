"""Paying from balance through the stored-value channel: instant success or a clear 402, refunds back to
the parts the payment took, statements, freezing -- and the books balance throughout."""
from __future__ import annotations

from gateway.store.tables import events
from tests.contract.steps import refund
from tests.factories import Gateway, Merchant, unique
from tests.wallets.conftest import adjust, books_balance, wallet


async def pay(gw: Gateway, m: Merchant, customer: str, amount: int):  # type: ignore[no-untyped-def]
    return await gw.api(m, "POST", "/payments", json_body={
        "amount": amount, "subject": "Tea", "out_trade_no": unique("bal"), "channel": "balance",
        "customer_id": customer})


async def test_pay_from_balance_bonus_first_and_refunds_go_back_cash_first(gateway: Gateway, shop: Merchant) -> None:
    customer = unique("c")
    declined = await pay(gateway, shop, customer, 500)
    assert declined.status == 402 and declined.body["code"] == "insufficient_balance", declined.text

    await adjust(gateway, shop, customer, cash=1000, bonus=200)
    answer = await pay(gateway, shop, customer, 500)
    assert answer.status == 201, answer.text
    payment = answer.body
    assert payment["status"] == "paid" and payment["channel"] == "balance" and payment["refundable_amount"] == 500
    w = await wallet(gateway, shop, customer)
    assert (w["cash"], w["bonus"], w["available"]) == (700, 0, 700)  # bonus first: 200 bonus + 300 cash

    await refund(gateway, shop, payment["id"], 300)  # cash first: the 300 cash it took
    w = await wallet(gateway, shop, customer)
    assert (w["cash"], w["bonus"]) == (1000, 0)
    await refund(gateway, shop, payment["id"], 200)  # then the bonus
    w = await wallet(gateway, shop, customer)
    assert (w["cash"], w["bonus"]) == (1000, 200)
    got = await gateway.api(shop, "GET", f"/payments/{payment['id']}")
    assert got.body["status"] == "refunded"

    lines = await gateway.api(shop, "GET", f"/customers/{customer}/wallet/statements?limit=2")
    assert lines.status == 200 and lines.body["has_more"] is True
    assert [x["kind"] for x in lines.body["data"]] == ["refund", "refund"]
    assert lines.body["data"][0]["ending_balance"] == {"cash": 1000, "bonus": 200, "held": 0, "points": 0}
    rest = await gateway.api(shop, "GET", f"/customers/{customer}/wallet/statements?limit=2"
                                          f"&cursor={lines.body['next_cursor']}")
    assert [x["kind"] for x in rest.body["data"]] == ["pay", "adjustment"] and not rest.body["has_more"]
    assert (rest.body["data"][0]["cash"], rest.body["data"][0]["bonus"]) == (-300, -200)
    assert await gateway.count(events, events.c.type == "wallet.debited", events.c.merchant_id == shop.id) == 1
    assert await gateway.count(events, events.c.type == "wallet.credited", events.c.merchant_id == shop.id) == 3
    await books_balance(gateway)


async def test_frozen_wallet_refuses_debits_and_takes_credits(gateway: Gateway, shop: Merchant) -> None:
    customer = unique("c")
    await adjust(gateway, shop, customer, cash=800)
    frozen = await gateway.api(shop, "POST", f"/customers/{customer}/wallet/freeze")
    assert frozen.status == 200 and frozen.body["status"] == "frozen"
    declined = await pay(gateway, shop, customer, 100)
    assert declined.status == 409 and declined.body["code"] == "wallet_frozen", declined.text
    await adjust(gateway, shop, customer, cash=5)  # a credit still applies
    over = await gateway.api(shop, "POST", f"/customers/{customer}/wallet/adjustments",
                             json_body={"cash": -1, "reason": "fee"})
    assert over.status == 409 and over.body["code"] == "wallet_frozen"
    await gateway.api(shop, "POST", f"/customers/{customer}/wallet/unfreeze")
    assert (await pay(gateway, shop, customer, 805)).body["status"] == "paid"
    assert (await wallet(gateway, shop, customer))["cash"] == 0
    await books_balance(gateway)


async def test_adjustments_need_a_reason_and_never_overdraw(gateway: Gateway, shop: Merchant) -> None:
    customer = unique("c")
    no_reason = await gateway.api(shop, "POST", f"/customers/{customer}/wallet/adjustments", json_body={"cash": 5})
    assert no_reason.status == 422 and no_reason.body["errors"][0]["field"] == "reason"
    await adjust(gateway, shop, customer, cash=100, points=50)
    over = await gateway.api(shop, "POST", f"/customers/{customer}/wallet/adjustments",
                             json_body={"cash": -50, "points": -51, "reason": "too much"})
    assert over.status == 402 and over.body["code"] == "insufficient_balance"
    w = await wallet(gateway, shop, customer)
    assert (w["cash"], w["points"]) == (100, 50)  # refused whole
    await books_balance(gateway)


async def test_stored_value_is_per_merchant_and_in_the_openapi(gateway: Gateway, shop: Merchant) -> None:
    other = await gateway.merchant()
    customer = unique("c")
    await adjust(gateway, shop, customer, cash=300)
    assert (await wallet(gateway, other, customer))["cash"] == 0
    not_enabled = await pay(gateway, other, customer, 100)
    assert not_enabled.status == 422 and not_enabled.body["code"] == "pay_method_unavailable"
    doc = (await gateway.api(None, "GET", "/openapi.json")).body
    for path in ("/customers/{customer_id}/wallet", "/customers/{customer_id}/recharges",
                 "/customers/{customer_id}/wallet/adjustments", "/customers/{customer_id}/wallet/statements",
                 "/recharge_packages"):
        assert path in doc["paths"], path
    assert "balance" in doc["components"]["schemas"]["PaymentCreate"]["properties"]["channel"]["anyOf"][0]["enum"]


async def test_points_pay_in_points_only_and_refund_back(gateway: Gateway, shop: Merchant) -> None:
    customer = unique("c")
    await adjust(gateway, shop, customer, cash=1000, points=100)
    body = {"subject": "Mug", "channel": "points", "customer_id": customer}
    in_money = await gateway.api(shop, "POST", "/payments", json_body={**body, "amount": 60,
                                                                      "out_trade_no": unique("pt")})
    assert in_money.status == 422 and in_money.body["code"] == "validation_error"
    elsewhere = await gateway.api(shop, "POST", "/payments", json_body={
        "amount": 60, "currency": "PTS", "subject": "Mug", "out_trade_no": unique("pt"), "channel": "alipay_qr"})
    assert elsewhere.status == 422
    too_many = await gateway.api(shop, "POST", "/payments", json_body={**body, "amount": 101, "currency": "PTS",
                                                                      "out_trade_no": unique("pt")})
    assert too_many.status == 402 and too_many.body["code"] == "insufficient_balance"
    paid = await gateway.api(shop, "POST", "/payments", json_body={**body, "amount": 60, "currency": "PTS",
                                                                  "out_trade_no": unique("pt")})
    assert paid.status == 201 and paid.body["status"] == "paid" and paid.body["currency"] == "PTS", paid.text
    w = await wallet(gateway, shop, customer)
    assert (w["cash"], w["points"]) == (1000, 40)  # money untouched
    await refund(gateway, shop, paid.body["id"], 25)
    assert (await wallet(gateway, shop, customer))["points"] == 65
    await books_balance(gateway)
