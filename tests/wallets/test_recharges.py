"""Recharges: an ordinary payment through a real channel, credited to the wallet once when paid -- under
duplicate and concurrent callbacks too -- and refundable only as far as it is unspent."""
from __future__ import annotations

import asyncio

from gateway.store.tables import wallet_movements
from tests.contract.drivers.alipay import AlipayDriver
from tests.contract.steps import post_callback, refund, trade_no
from tests.factories import Gateway, Merchant, unique
from tests.support.paying import pay_as_shopper
from tests.support.waiting import wait_status
from tests.wallets.conftest import books_balance, wallet

ALIPAY = AlipayDriver()


async def _package(gw: Gateway, m: Merchant, price: int = 10000, bonus: int = 2000, points: int = 500) -> str:
    answer = await gw.api(m, "POST", "/recharge_packages", json_body={"name": "100 + 20", "price": price,
                                                                     "bonus": bonus, "points": points})
    assert answer.status == 201, answer.text
    return str(answer.body["id"])


async def _recharge_paid(gw: Gateway, m: Merchant, customer: str, package_id: str, *, callbacks: int,
                        shopper: bool = True) -> dict:  # type: ignore[type-arg]
    answer = await gw.api(m, "POST", f"/customers/{customer}/recharges",
                          json_body={"package_id": package_id, "pay_method": "alipay_qr"})
    assert answer.status == 201, answer.text
    payment = answer.body
    assert payment["status"] == "pending" and payment["amount"] == 10000 and payment["next_action"]["type"] == "qr"
    if shopper:  # paid at the sandbox, which sends its own callback; then the duplicates
        await pay_as_shopper(gw, payment)
        assert (await wait_status(gw, m, payment["id"], "paid"))["status"] == "paid"
    trade = await trade_no(gw, payment["id"])
    body, headers = ALIPAY.payment_callback(gw, trade, payment["amount"])
    answers = await asyncio.gather(*(post_callback(gw, ALIPAY, body, headers) for _ in range(callbacks)))
    assert all(status == 200 for status, _ in answers), answers
    assert (await wait_status(gw, m, payment["id"], "paid"))["status"] == "paid"
    return dict(payment)


async def test_a_recharge_is_credited_once_under_duplicate_callbacks(gateway: Gateway, shop: Merchant) -> None:
    customer = unique("c")
    package_id = await _package(gateway, shop)
    listed = await gateway.api(shop, "GET", "/recharge_packages")
    assert [p["id"] for p in listed.body["data"]] == [package_id]
    payment = await _recharge_paid(gateway, shop, customer, package_id, callbacks=5)
    body, headers = ALIPAY.payment_callback(gateway, await trade_no(gateway, payment["id"]), payment["amount"])
    await post_callback(gateway, ALIPAY, body, headers)  # and once more, later
    w = await wallet(gateway, shop, customer)
    assert (w["cash"], w["bonus"], w["points"]) == (10000, 2000, 500)
    assert await gateway.count(wallet_movements, wallet_movements.c.payment_id == payment["id"]) == 1
    assert (await gateway.api(shop, "GET", f"/payments/{payment['id']}")).body["status"] == "paid"
    await books_balance(gateway)


async def test_a_recharge_refunds_only_what_is_unspent(gateway: Gateway, shop: Merchant) -> None:
    customer = unique("c")
    payment = await _recharge_paid(gateway, shop, customer, await _package(gateway, shop), callbacks=1)
    spent = await gateway.api(shop, "POST", "/payments", json_body={
        "amount": 9000, "subject": "Dinner", "out_trade_no": unique("bal"), "channel": "balance",
        "customer_id": customer})
    assert spent.body["status"] == "paid"  # 2000 bonus first, then 7000 cash: 3000 cash left
    too_much = await gateway.api(shop, "POST", f"/payments/{payment['id']}/refunds",
                                 json_body={"amount": 5000, "out_refund_no": unique("rf")})
    assert too_much.status == 402 and too_much.body["code"] == "insufficient_balance", too_much.text
    assert too_much.body["unspent_amount"] == 3000
    assert (await gateway.api(shop, "GET", f"/payments/{payment['id']}")).body["refundable_amount"] == 10000

    await refund(gateway, shop, payment["id"], 3000)  # the unspent cash goes back to the payer's Alipay
    w = await wallet(gateway, shop, customer)
    # cash 0; the bonus was spent; points taken back in proportion (30 % of 500)
    assert (w["cash"], w["bonus"], w["points"]) == (0, 0, 350)
    await books_balance(gateway)


async def test_a_failed_recharge_refund_gives_back_exactly_what_it_took(gateway: Gateway, shop: Merchant) -> None:
    customer = unique("c")
    # Paid by a callback only: the sandbox has no such trade, so its refund fails there.
    payment = await _recharge_paid(gateway, shop, customer, await _package(gateway, shop), callbacks=2,
                                   shopper=False)
    failed = await refund(gateway, shop, payment["id"], 5000, status="failed")
    assert failed["failure_code"]
    w = await wallet(gateway, shop, customer)
    assert (w["cash"], w["bonus"], w["points"]) == (10000, 2000, 500)
    kinds = await gateway.api(shop, "GET", f"/customers/{customer}/wallet/statements")
    assert [x["kind"] for x in kinds.body["data"]] == ["recharge_refund_back", "recharge_refund", "recharge"]
    assert (kinds.body["data"][1]["cash"], kinds.body["data"][1]["bonus"], kinds.body["data"][1]["points"]) \
        == (-5000, -1000, -250)
    await books_balance(gateway)
