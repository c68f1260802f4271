"""A payment from balance authorized now and captured later (``capture: false``): the amount is held
in the wallet, capture turns the hold into the payment's debit through the settlement, close and
expiry give it back -- and the books balance throughout."""
from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from gateway.services import wallets as wallet_service
from gateway.store.base import utcnow
from gateway.store.tables import events, wallet_holds
from tests.contract.steps import refund
from tests.factories import Answer, Gateway, Merchant, unique
from tests.wallets.conftest import adjust, books_balance, wallet


async def authorize(gw: Gateway, m: Merchant, customer: str, amount: int, **extra: Any) -> Answer:
    return await gw.api(m, "POST", "/payments", json_body={
        "amount": amount, "subject": "Room deposit", "out_trade_no": unique("auth"), "channel": "balance",
        "customer_id": customer, "capture": False, **extra})


async def test_authorize_then_capture_pays_and_refunds_go_back(gateway: Gateway, shop: Merchant) -> None:
    customer = unique("c")
    await adjust(gateway, shop, customer, cash=1000, bonus=100)
    made = await authorize(gateway, shop, customer, 600)
    assert made.status == 201, made.text
    assert (made.body["status"], made.body["capture_method"], made.body["next_action"]) == ("pending", "manual", None)
    w = await wallet(gateway, shop, customer)
    assert (w["cash"], w["bonus"], w["held"], w["available"]) == (500, 0, 600, 500)  # bonus first, then cash

    captured = await gateway.api(shop, "POST", f"/payments/{made.body['id']}/capture")
    assert captured.status == 200 and captured.body["status"] == "paid", captured.text
    assert captured.body["refundable_amount"] == 600 and captured.body["paid_at"]
    w = await wallet(gateway, shop, customer)
    assert (w["cash"], w["bonus"], w["held"]) == (500, 0, 0)
    again = await gateway.api(shop, "POST", f"/payments/{made.body['id']}/capture")
    assert again.status == 200 and again.body["status"] == "paid"  # the same answer, nothing moves twice
    assert await gateway.count(events, events.c.type == "payment.succeeded", events.c.merchant_id == shop.id) == 1

    await refund(gateway, shop, made.body["id"], 550)  # cash first (500 taken), then bonus
    w = await wallet(gateway, shop, customer)
    assert (w["cash"], w["bonus"]) == (1000, 50)
    await books_balance(gateway)


async def test_close_releases_and_capture_after_it_is_refused(gateway: Gateway, shop: Merchant) -> None:
    customer = unique("c")
    await adjust(gateway, shop, customer, cash=300)
    made = await authorize(gateway, shop, customer, 300)
    assert (await wallet(gateway, shop, customer))["available"] == 0
    closed = await gateway.api(shop, "POST", f"/payments/{made.body['id']}/close")
    assert closed.status == 200 and closed.body["status"] == "closed", closed.text
    w = await wallet(gateway, shop, customer)
    assert (w["cash"], w["held"]) == (300, 0)
    late = await gateway.api(shop, "POST", f"/payments/{made.body['id']}/capture")
    assert late.status == 409 and late.body["code"] == "invalid_state", late.text
    assert (await wallet(gateway, shop, customer))["cash"] == 300
    await books_balance(gateway)


async def test_an_expired_hold_cannot_be_captured(gateway: Gateway, shop: Merchant) -> None:
    customer = unique("c")
    await adjust(gateway, shop, customer, cash=400)
    made = await authorize(gateway, shop, customer, 250)
    async with gateway.svc.db.begin() as conn:  # the reservation's time is up
        await conn.execute(sa.update(wallet_holds).where(wallet_holds.c.reason == f"payment {made.body['id']}")
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert await wallet_service.release_expired(gateway.svc.db) >= 1
    assert (await wallet(gateway, shop, customer))["available"] == 400
    refused = await gateway.api(shop, "POST", f"/payments/{made.body['id']}/capture")
    assert refused.status == 409 and "ended" in refused.body["detail"], refused.text
    got = await gateway.api(shop, "GET", f"/payments/{made.body['id']}")
    assert got.body["status"] == "pending" and (await wallet(gateway, shop, customer))["cash"] == 400
    await books_balance(gateway)


async def test_refusals_change_nothing(gateway: Gateway, shop: Merchant) -> None:
    customer = unique("c")
    await adjust(gateway, shop, customer, cash=100)
    short = await authorize(gateway, shop, customer, 101)
    assert short.status == 402 and short.body["code"] == "insufficient_balance", short.text
    qr = await gateway.api(shop, "POST", "/payments", json_body={
        "amount": 100, "subject": "s", "out_trade_no": unique("q"), "channel": "alipay_qr", "capture": False})
    assert qr.status == 422 and "capture" in qr.text
    points = await authorize(gateway, shop, customer, 10, currency="PTS", channel="points")
    assert points.status == 422
    w = await wallet(gateway, shop, customer)
    assert (w["cash"], w["held"]) == (100, 0)
    paid = await gateway.api(shop, "POST", "/payments", json_body={
        "amount": 50, "subject": "s", "out_trade_no": unique("b"), "channel": "balance", "customer_id": customer})
    automatic = await gateway.api(shop, "POST", f"/payments/{paid.body['id']}/capture")
    assert automatic.status == 409 and automatic.body["code"] == "invalid_state"
    await books_balance(gateway)


async def test_a_frozen_wallet_is_captured_once_unfrozen_and_the_wallet_api_cannot_take_the_hold(
        gateway: Gateway, shop: Merchant) -> None:
    customer = unique("c")
    await adjust(gateway, shop, customer, cash=500)
    made = await authorize(gateway, shop, customer, 200)
    async with gateway.svc.db.read() as conn:
        hold_id = (await conn.execute(sa.select(wallet_holds.c.id).where(
            wallet_holds.c.reason == f"payment {made.body['id']}"))).scalar_one()
    sideways = await gateway.api(shop, "POST", f"/customers/{customer}/wallet/holds/{hold_id}/capture")
    assert sideways.status == 404, sideways.text  # a payment's hold moves only with its payment
    await gateway.api(shop, "POST", f"/customers/{customer}/wallet/freeze")
    frozen = await gateway.api(shop, "POST", f"/payments/{made.body['id']}/capture")
    assert frozen.status == 409 and frozen.body["code"] == "wallet_frozen", frozen.text
    await gateway.api(shop, "POST", f"/customers/{customer}/wallet/unfreeze")
    both = await asyncio.gather(*(gateway.api(shop, "POST", f"/payments/{made.body['id']}/capture") for _ in range(5)))
    assert all(a.status == 200 and a.body["status"] == "paid" for a in both), [a.text for a in both]
    w = await wallet(gateway, shop, customer)
    assert (w["cash"], w["held"]) == (300, 0)
    await books_balance(gateway)
