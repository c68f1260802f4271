"""The refunds API: partial and repeated refunds, every refusal as problem+json, the OpenAPI entries."""
from __future__ import annotations

import pytest

from gateway.store.tables import events, ledger_entries
from tests.factories import Gateway, unique
from tests.refunds.helpers import assert_books_balance, paid_payment, refund


async def test_partial_then_full_refund(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p = await paid_payment(gateway, m, 1000)
    first = await refund(gateway, m, p["id"], 300, reason="size too small")
    assert first.status == 201, first.text
    r = first.body
    assert r["object"] == "refund" and r["payment_id"] == p["id"] and r["amount"] == 300
    assert r["status"] == "succeeded"  # Alipay refunds synchronously
    assert r["reason"] == "size too small" and r["created_at"] and r["succeeded_at"]
    after = (await gateway.api(m, "GET", f"/payments/{p['id']}")).body
    assert after["status"] == "partially_refunded"
    assert (after["refunded_amount"], after["refundable_amount"]) == (300, 700)

    second = await refund(gateway, m, p["id"], 700)
    assert second.status == 201 and second.body["status"] == "succeeded"
    done = (await gateway.api(m, "GET", f"/payments/{p['id']}")).body
    assert done["status"] == "refunded" and done["refunded_amount"] == 1000 and done["refundable_amount"] == 0

    got = await gateway.api(m, "GET", f"/refunds/{r['id']}")
    assert got.status == 200 and got.body == (await gateway.api(m, "GET", f"/refunds/{r['id']}")).body
    listed = await gateway.api(m, "GET", f"/payments/{p['id']}/refunds")
    assert listed.status == 200 and [x["id"] for x in listed.body["data"]] == [r["id"], second.body["id"]]
    assert await gateway.count(ledger_entries, ledger_entries.c.payment_id == p["id"]) == 3
    assert await gateway.count(events, events.c.type == "refund.succeeded", events.c.merchant_id == m.id) == 2
    assert await gateway.count(events, events.c.type == "payment.refunded", events.c.object_id == p["id"]) == 1
    await assert_books_balance(gateway)


async def test_over_refund_states_the_refundable_amount(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p = await paid_payment(gateway, m, 500)
    assert (await refund(gateway, m, p["id"], 200)).status == 201
    over = await refund(gateway, m, p["id"], 301)
    assert over.status == 422 and over.headers["Content-Type"].startswith("application/problem+json")
    assert over.body["code"] == "refund_exceeds_refundable" and over.body["refundable_amount"] == 300
    assert "300" in over.body["detail"] and over.body["errors"][0]["field"] == "amount"
    assert (await refund(gateway, m, p["id"], 300)).status == 201
    after_full = await refund(gateway, m, p["id"], 1)
    assert after_full.status == 409 and after_full.body["code"] == "invalid_state"
    await assert_books_balance(gateway)


async def test_unpaid_and_closed_payments_do_not_refund(gateway: Gateway) -> None:
    m = await gateway.merchant()
    pending = await gateway.create_payment(m, amount=100)
    answer = await refund(gateway, m, pending["id"], 100)
    assert answer.status == 409 and answer.body["code"] == "invalid_state" and "pending" in answer.body["detail"]
    closed = await gateway.create_payment(m, amount=100)
    assert (await gateway.api(m, "POST", f"/payments/{closed['id']}/close")).status == 200
    answer = await refund(gateway, m, closed["id"], 1)
    assert answer.status == 409 and "closed" in answer.body["detail"]
    assert await gateway.count(ledger_entries, ledger_entries.c.merchant_id == m.id) == 0


async def test_duplicate_out_refund_no_is_named(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p = await paid_payment(gateway, m, 1000)
    first = await refund(gateway, m, p["id"], 100, out_refund_no="R-1")
    dup = await refund(gateway, m, p["id"], 100, out_refund_no="R-1")
    assert dup.status == 409 and dup.body["code"] == "duplicate_out_refund_no"
    assert "R-1" in dup.body["detail"] and dup.body["refund_id"] == first.body["id"]
    # the refused duplicate reserved nothing
    assert (await gateway.api(m, "GET", f"/payments/{p['id']}")).body["refundable_amount"] == 900
    # numbers are per merchant: another merchant may use R-1
    other = await gateway.merchant()
    q = await paid_payment(gateway, other, 100)
    assert (await refund(gateway, other, q["id"], 100, out_refund_no="R-1")).status == 201


async def test_other_merchants_payments_and_refunds_are_not_found(gateway: Gateway) -> None:
    m, other = await gateway.merchant(), await gateway.merchant()
    p = await paid_payment(gateway, m, 1000)
    r = (await refund(gateway, m, p["id"], 100)).body
    assert (await refund(gateway, other, p["id"], 100)).status == 404
    assert (await gateway.api(other, "GET", f"/refunds/{r['id']}")).status == 404
    assert (await gateway.api(other, "GET", f"/payments/{p['id']}/refunds")).status == 404
    assert (await gateway.api(m, "GET", "/refunds/re_nosuchrefund")).status == 404
    assert (await refund(gateway, m, "pay_nosuchpayment", 1)).status == 404
    assert (await gateway.api(None, "GET", f"/refunds/{r['id']}")).status == 401
    assert (await gateway.api(m, "GET", f"/payments/{p['id']}")).body["refundable_amount"] == 900


@pytest.mark.parametrize("body, field", [
    ({"amount": 0}, "amount"), ({"amount": -5}, "amount"), ({"amount": 1.5}, "amount"),
    ({"amount": 100.0}, "amount"), ({"amount": "100"}, "amount"), ({"amount": True}, "amount"),
    ({"amount": 10_000_000_001}, "amount"), ({}, "amount"), ({"amount": 1, "out_refund_no": ""}, "out_refund_no"),
    ({"amount": 1, "out_refund_no": "x" * 65}, "out_refund_no"),
    ({"amount": 1, "out_refund_no": "has space"}, "out_refund_no"),
    ({"amount": 1, "reason": "r" * 257}, "reason"), ({"amount": 1, "currency": "USD"}, "currency"),
])
async def test_bad_input_is_422(sqlite_gateway: Gateway, body: dict, field: str) -> None:
    gw = sqlite_gateway
    m = await gw.merchant()
    p = await gw.create_payment(m, amount=100)
    payload = {"out_refund_no": unique("rf"), **body}
    answer = await gw.api(m, "POST", f"/payments/{p['id']}/refunds", json_body=payload)
    assert answer.status == 422, answer.text
    assert answer.body["code"] == "validation_error" and any(e["field"] == field for e in answer.body["errors"])


async def test_bad_json_and_content_type(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    m = await gw.merchant()
    p = await gw.create_payment(m, amount=100)
    path = f"/payments/{p['id']}/refunds"
    bad = await gw.api(m, "POST", path, data="{nope", headers={"Content-Type": "application/json"})
    assert bad.status == 400 and bad.body["code"] == "invalid_json"
    assert (await gw.api(m, "POST", path, json_body=[1])).status == 422
    assert (await gw.api(m, "POST", path, data="amount=1", headers={"Content-Type": "text/plain"})).status == 415


async def test_idempotency_key_replays_the_refund(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    m = await gw.merchant()
    p = await paid_payment(gw, m, 1000)
    body = {"amount": 400, "out_refund_no": unique("rf")}
    headers = {"Idempotency-Key": unique("idem")}
    path = f"/payments/{p['id']}/refunds"
    a = await gw.api(m, "POST", path, json_body=body, headers=headers)
    b = await gw.api(m, "POST", path, json_body=body, headers=headers)
    assert a.status == b.status == 201 and a.body == b.body
    assert (await gw.api(m, "GET", f"/payments/{p['id']}")).body["refundable_amount"] == 600
    changed = await gw.api(m, "POST", path, json_body={**body, "amount": 1}, headers=headers)
    assert changed.status == 422 and changed.body["code"] == "idempotency_key_reused"


async def test_openapi_documents_refunds(sqlite_gateway: Gateway) -> None:
    doc = (await sqlite_gateway.api(None, "GET", "/openapi.json")).body
    create = doc["paths"]["/payments/{id}/refunds"]["post"]
    assert create["operationId"] == "createRefund" and "201" in create["responses"]
    assert {"409", "422", "404"} <= set(create["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    assert doc["paths"]["/payments/{id}/refunds"]["get"]["operationId"] == "listPaymentRefunds"
    assert doc["paths"]["/refunds/{id}"]["get"]["operationId"] == "getRefund"
    schemas = doc["components"]["schemas"]
    assert schemas["RefundCreate"]["properties"]["amount"]["type"] == "integer"
    assert set(schemas["Refund"]["properties"]["status"]["enum"]) == {"pending", "succeeded", "failed"}
