"""The merchant payments API against a real gateway server, on every configured backend."""
from __future__ import annotations

import asyncio

from gateway.store.tables import payments
from tests.factories import Gateway, unique


async def test_create_get_and_list(gateway: Gateway) -> None:
    m = await gateway.merchant()
    created = await gateway.create_payment(m, amount=1234, subject="Tea", metadata={"cart": "42"})
    for name in ("id", "status", "amount", "currency", "refunded_amount", "out_trade_no", "checkout_url",
                 "created_at", "expires_at"):
        assert name in created
    assert created["status"] == "pending" and created["amount"] == 1234 and created["refunded_amount"] == 0
    assert created["checkout_url"] == f"{gateway.url}/pay/{created['id']}"
    assert created["metadata"] == {"cart": "42"}

    got = await gateway.api(m, "GET", f"/payments/{created['id']}")
    assert got.status == 200 and got.body == created  # the create answer is exactly what was stored

    listed = await gateway.api(m, "GET", f"/payments?out_trade_no={created['out_trade_no']}")
    assert [p["id"] for p in listed.body["data"]] == [created["id"]]


async def test_list_paginates_with_cursor_and_filters(gateway: Gateway) -> None:
    m = await gateway.merchant()
    ids = [(await gateway.create_payment(m))["id"] for _ in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        path = "/payments?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await gateway.api(m, "GET", path)
        assert page.status == 200
        seen += [p["id"] for p in page.body["data"]]
        if not page.body["has_more"]:
            break
        cursor = page.body["next_cursor"]
    assert seen == list(reversed(ids))  # newest first, each exactly once
    assert (await gateway.api(m, "GET", "/payments?status=paid")).body["data"] == []
    first = (await gateway.api(m, "GET", f"/payments/{ids[0]}")).body
    newer = await gateway.api(m, "GET", f"/payments?created_gte={first['created_at']}&limit=100")
    assert set(ids) <= {p["id"] for p in newer.body["data"]}
    bad = await gateway.api(m, "GET", "/payments?status=bogus")
    assert bad.status == 422 and bad.body["code"] == "validation_error"


async def test_duplicate_out_trade_no_names_the_existing_payment(gateway: Gateway) -> None:
    m = await gateway.merchant()
    first = await gateway.create_payment(m, out_trade_no="dup-1")
    again = await gateway.api(m, "POST", "/payments", json_body={"amount": 5, "subject": "x", "out_trade_no": "dup-1"})
    assert again.status == 409
    assert again.body["code"] == "duplicate_out_trade_no" and again.body["payment_id"] == first["id"]
    other = await gateway.merchant()  # unique per merchant only
    assert (await gateway.create_payment(other, out_trade_no="dup-1"))["id"] != first["id"]


async def test_concurrent_creates_with_one_out_trade_no_make_one_payment(gateway: Gateway) -> None:
    m = await gateway.merchant()
    no = unique("race")
    answers = await asyncio.gather(*(gateway.api(m, "POST", "/payments", json_body={
        "amount": 100, "subject": "s", "out_trade_no": no}) for _ in range(8)))
    statuses = sorted(a.status for a in answers)
    assert statuses == [201] + [409] * 7
    assert await gateway.count(payments, payments.c.out_trade_no == no) == 1


async def test_another_merchants_payment_is_not_found(gateway: Gateway) -> None:
    owner, stranger = await gateway.merchant(), await gateway.merchant()
    p = await gateway.create_payment(owner)
    for method, suffix in (("GET", ""), ("POST", "/close")):
        answer = await gateway.api(stranger, method, f"/payments/{p['id']}{suffix}")
        missing = await gateway.api(stranger, method, f"/payments/pay_doesnotexist{suffix}")
        assert answer.status == missing.status == 404
        assert answer.body["code"] == missing.body["code"] == "not_found"
    assert (await gateway.api(owner, "GET", f"/payments/{p['id']}")).body["status"] == "pending"


async def test_close_pending_payment(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)
    closed = await gateway.api(m, "POST", f"/payments/{p['id']}/close")
    assert closed.status == 200 and closed.body["status"] == "closed" and closed.body["closed_at"]
    again = await gateway.api(m, "POST", f"/payments/{p['id']}/close")
    assert again.status == 409 and again.body["code"] == "invalid_state"
