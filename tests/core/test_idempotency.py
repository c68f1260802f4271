"""Idempotency-Key with Stripe's semantics."""
from __future__ import annotations

import asyncio
import json

from gateway.store import idempotency
from gateway.store.tables import payments
from tests.factories import Gateway, unique


async def test_same_key_same_body_replays_the_first_answer(gateway: Gateway) -> None:
    m = await gateway.merchant()
    body = {"amount": 500, "subject": "s", "out_trade_no": unique()}
    key = {"Idempotency-Key": unique("key")}
    first = await gateway.api(m, "POST", "/payments", json_body=body, headers=key)
    # the same document with other whitespace and key order is the same request
    reordered = json.dumps({"out_trade_no": body["out_trade_no"], "subject": "s", "amount": 500}, indent=2)
    second = await gateway.api(m, "POST", "/payments", data=reordered,
                               headers={**key, "Content-Type": "application/json"})
    assert first.status == second.status == 201
    assert second.text == first.text and second.headers.get("Idempotent-Replayed") == "true"
    assert await gateway.count(payments, payments.c.merchant_id == m.id) == 1


async def test_replays_errors_that_executed(gateway: Gateway) -> None:
    m = await gateway.merchant()
    no = unique()
    await gateway.create_payment(m, out_trade_no=no)
    key = {"Idempotency-Key": unique("key")}
    body = {"amount": 1, "subject": "s", "out_trade_no": no}
    a = await gateway.api(m, "POST", "/payments", json_body=body, headers=key)
    b = await gateway.api(m, "POST", "/payments", json_body=body, headers=key)
    assert a.status == b.status == 409 and a.text == b.text and b.headers.get("Idempotent-Replayed") == "true"


async def test_same_key_different_body_is_an_error(gateway: Gateway) -> None:
    m = await gateway.merchant()
    key = {"Idempotency-Key": unique("key")}
    await gateway.api(m, "POST", "/payments", json_body={"amount": 1, "subject": "s", "out_trade_no": unique()},
                      headers=key)
    other = await gateway.api(m, "POST", "/payments", json_body={"amount": 2, "subject": "s", "out_trade_no": unique()},
                              headers=key)
    assert other.status == 422 and other.body["code"] == "idempotency_key_reused"
    assert await gateway.count(payments, payments.c.merchant_id == m.id) == 1


async def test_keys_are_per_merchant(gateway: Gateway) -> None:
    a, b = await gateway.merchant(), await gateway.merchant()
    key = {"Idempotency-Key": "shared-key"}
    ra = await gateway.api(a, "POST", "/payments", json_body={"amount": 1, "subject": "s", "out_trade_no": "n1"}, headers=key)
    rb = await gateway.api(b, "POST", "/payments", json_body={"amount": 1, "subject": "s", "out_trade_no": "n1"}, headers=key)
    assert ra.status == rb.status == 201 and ra.body["id"] != rb.body["id"]


async def test_key_in_flight_is_409(gateway: Gateway) -> None:
    m = await gateway.merchant()
    key = unique("key")
    body = {"amount": 1, "subject": "s", "out_trade_no": unique()}
    async with gateway.svc.db.begin() as conn:  # another process holds the key right now
        from tests.core.helpers import fingerprint_for

        claim = await idempotency.claim(conn, m.id, key, fingerprint_for("/api/v1/payments", body))
        assert claim.state == "claimed"
    answer = await gateway.api(m, "POST", "/payments", json_body=body, headers={"Idempotency-Key": key})
    assert answer.status == 409 and answer.body["code"] == "idempotency_key_in_use"
    assert await gateway.count(payments, payments.c.merchant_id == m.id) == 0


async def test_concurrent_requests_with_one_key_execute_once(gateway: Gateway) -> None:
    m = await gateway.merchant()
    key = {"Idempotency-Key": unique("key")}
    body = {"amount": 1, "subject": "s", "out_trade_no": unique()}
    answers = await asyncio.gather(*(gateway.api(m, "POST", "/payments", json_body=body, headers=key)
                                     for _ in range(6)))
    assert {a.status for a in answers} <= {201, 409}
    created = {a.body["id"] for a in answers if a.status == 201}
    assert len(created) == 1
    assert await gateway.count(payments, payments.c.merchant_id == m.id) == 1


async def test_keys_claimed_and_answered_together_each_keep_their_own_answer(gateway: Gateway) -> None:
    """Concurrent requests' keys are claimed, and their answers kept, in shared transactions (group
    commits): new keys, a replay and a reused key in one burst each get their own outcome."""
    m = await gateway.merchant()
    earlier_key = {"Idempotency-Key": unique("key")}
    earlier_body = {"amount": 7, "subject": "s", "out_trade_no": unique()}
    earlier = await gateway.api(m, "POST", "/payments", json_body=earlier_body, headers=earlier_key)
    fresh = [({"Idempotency-Key": unique("key")}, {"amount": 100 + i, "subject": "s", "out_trade_no": unique()})
             for i in range(24)]
    burst = [*fresh, (earlier_key, earlier_body), (earlier_key, {**earlier_body, "amount": 8})]
    answers = await asyncio.gather(*(gateway.api(m, "POST", "/payments", json_body=body, headers=key)
                                     for key, body in burst))
    *created, replayed, reused = answers
    assert [(a.status, a.body["amount"]) for a in created] == [(201, 100 + i) for i in range(24)]
    assert (replayed.status, replayed.body["id"]) == (201, earlier.body["id"])
    assert (reused.status, reused.body["code"]) == (422, "idempotency_key_reused")
    again = await asyncio.gather(*(gateway.api(m, "POST", "/payments", json_body=body, headers=key)
                                   for key, body in fresh))
    assert [a.body["id"] for a in again] == [a.body["id"] for a in created]  # every answer was kept
    assert await gateway.count(payments, payments.c.merchant_id == m.id) == 25


async def test_validation_failure_does_not_burn_the_key(gateway: Gateway) -> None:
    m = await gateway.merchant()
    key = {"Idempotency-Key": unique("key")}
    bad = await gateway.api(m, "POST", "/payments", json_body={"amount": 0, "subject": "s", "out_trade_no": "x"},
                            headers=key)
    assert bad.status == 422
    good = await gateway.api(m, "POST", "/payments", json_body={"amount": 1, "subject": "s", "out_trade_no": "x"},
                             headers=key)
    assert good.status == 201


async def test_expired_lock_of_a_dead_process_is_taken_over(gateway: Gateway) -> None:
    import sqlalchemy as sa

    from gateway.store.base import utcnow
    from gateway.store.tables import idempotency_keys as t

    m = await gateway.merchant()
    key = unique("key")
    body = {"amount": 1, "subject": "s", "out_trade_no": unique()}
    from tests.core.helpers import fingerprint_for

    async with gateway.svc.db.begin() as conn:
        await idempotency.claim(conn, m.id, key, fingerprint_for("/api/v1/payments", body))
        await conn.execute(sa.update(t).where(t.c.key == key).values(locked_until=utcnow()))
    answer = await gateway.api(m, "POST", "/payments", json_body=body, headers={"Idempotency-Key": key})
    assert answer.status == 201
