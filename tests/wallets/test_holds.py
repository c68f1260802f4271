"""Two-phase: a hold moves value into ``held`` (bonus first); a capture makes it the merchant's, a release
gives it back to its parts, an expiry releases it by itself (the background loop) -- each once."""
from __future__ import annotations

import sqlalchemy as sa

from gateway.store.base import utcnow
from gateway.store.tables import wallet_holds
from tests.factories import Gateway, Merchant, unique
from tests.support.waiting import eventually
from tests.wallets.conftest import adjust, books_balance, wallet


async def _hold(gw: Gateway, m: Merchant, customer: str, amount: int) -> dict:  # type: ignore[type-arg]
    answer = await gw.api(m, "POST", f"/customers/{customer}/wallet/holds", json_body={"amount": amount,
                                                                                       "reason": "room deposit"})
    assert answer.status == 201, answer.text
    return dict(answer.body)


async def test_hold_capture_release_and_expiry(gateway: Gateway, shop: Merchant) -> None:
    customer = unique("c")
    await adjust(gateway, shop, customer, cash=500, bonus=100)
    h = await _hold(gateway, shop, customer, 300)
    assert (h["status"], h["cash"], h["bonus"]) == ("held", 200, 100)
    w = await wallet(gateway, shop, customer)
    assert (w["cash"], w["bonus"], w["held"], w["available"]) == (300, 0, 300, 300)
    over = await gateway.api(shop, "POST", f"/customers/{customer}/wallet/holds", json_body={"amount": 301})
    assert over.status == 402 and over.body["code"] == "insufficient_balance"

    released = await gateway.api(shop, "POST", f"/customers/{customer}/wallet/holds/{h['id']}/release")
    assert released.status == 200 and released.body["status"] == "released"
    again = await gateway.api(shop, "POST", f"/customers/{customer}/wallet/holds/{h['id']}/capture")
    assert again.status == 409 and again.body["code"] == "invalid_state"
    w = await wallet(gateway, shop, customer)
    assert (w["cash"], w["bonus"], w["held"]) == (500, 100, 0)

    h2 = await _hold(gateway, shop, customer, 250)
    captured = await gateway.api(shop, "POST", f"/customers/{customer}/wallet/holds/{h2['id']}/capture")
    assert captured.status == 200 and captured.body["status"] == "captured"
    w = await wallet(gateway, shop, customer)
    assert (w["cash"], w["bonus"], w["held"]) == (350, 0, 0)

    h3 = await _hold(gateway, shop, customer, 50)
    async with gateway.svc.db.begin() as conn:  # its time is up
        await conn.execute(sa.update(wallet_holds).where(wallet_holds.c.id == h3["id"]).values(expires_at=utcnow()))
    late = await gateway.api(shop, "POST", f"/customers/{customer}/wallet/holds/{h3['id']}/capture")
    assert late.status == 409
    done = await eventually(lambda: wallet(gateway, shop, customer), lambda x: x["held"] == 0, seconds=10)
    assert (done["cash"], done["held"]) == (350, 0)
    kinds = await gateway.api(shop, "GET", f"/customers/{customer}/wallet/statements")
    assert [x["kind"] for x in kinds.body["data"]][:2] == ["release", "hold"]
    await books_balance(gateway)
