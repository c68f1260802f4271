"""Bad input gets a clear 4xx problem+json and changes nothing -- never a 500."""
from __future__ import annotations

import json

import pytest

from gateway.store.tables import idempotency_keys, payments
from tests.factories import Gateway, unique

GOOD = {"amount": 100, "currency": "CNY", "subject": "s"}

BAD_BODIES = [
    ("float amount", {**GOOD, "amount": 1.5}, 422, "amount"),
    ("integral float amount", {**GOOD, "amount": 100.0}, 422, "amount"),
    ("string amount", {**GOOD, "amount": "100"}, 422, "amount"),
    ("bool amount", {**GOOD, "amount": True}, 422, "amount"),
    ("zero amount", {**GOOD, "amount": 0}, 422, "amount"),
    ("negative amount", {**GOOD, "amount": -1}, 422, "amount"),
    ("huge amount", {**GOOD, "amount": 10**19}, 422, "amount"),
    ("above ceiling", {**GOOD, "amount": 10_000_000_001}, 422, "amount"),
    ("missing amount", {"currency": "CNY", "subject": "s"}, 422, "amount"),
    ("unknown currency", {**GOOD, "currency": "XYZ"}, 422, "currency"),
    ("unsupported currency", {**GOOD, "currency": "USD"}, 422, "currency"),
    ("lowercase currency", {**GOOD, "currency": "cny"}, 422, "currency"),
    ("unknown pay method", {**GOOD, "channel": "paypal"}, 422, "channel"),
    ("empty subject", {**GOOD, "subject": ""}, 422, "subject"),
    ("unknown field", {**GOOD, "amout": 5}, 422, "amout"),
    ("bad return_url", {**GOOD, "return_url": "javascript:alert(1)"}, 422, "return_url"),
    ("short expiry", {**GOOD, "expires_in": 5}, 422, "expires_in"),
    ("metadata not strings", {**GOOD, "metadata": {"a": 1}}, 422, "metadata.a"),
    ("bad out_trade_no", {**GOOD, "out_trade_no": "has space"}, 422, "out_trade_no"),
]


@pytest.mark.parametrize("case,body,status,field", BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
async def test_invalid_body_is_a_clear_4xx_that_changes_nothing(gateway: Gateway, case: str, body: dict,
                                                                  status: int, field: str) -> None:
    m = await gateway.merchant()
    body = dict(body)
    if "out_trade_no" not in body:
        body["out_trade_no"] = unique()
    answer = await gateway.api(m, "POST", "/payments", json_body=body, headers={"Idempotency-Key": unique("k")})
    assert answer.status == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert answer.body["code"] == "validation_error" and answer.body["status"] == status
    assert field in [e["field"] for e in answer.body["errors"]]
    assert await gateway.count(payments, payments.c.merchant_id == m.id) == 0
    assert await gateway.count(idempotency_keys, idempotency_keys.c.merchant_id == m.id) == 0


@pytest.mark.parametrize("raw,code", [(b"{not json", "invalid_json"), (b"[1,2]", "validation_error"),
                                      (b"\xff\xfe", "invalid_json"), (b'"str"', "validation_error")])
async def test_malformed_json(gateway: Gateway, raw: bytes, code: str) -> None:
    m = await gateway.merchant()
    answer = await gateway.api(m, "POST", "/payments", data=raw, headers={"Content-Type": "application/json"})
    assert answer.status in (400, 422) and answer.body["code"] == code
    assert await gateway.count(payments, payments.c.merchant_id == m.id) == 0


async def test_oversize_body_is_413(gateway: Gateway) -> None:
    m = await gateway.merchant()
    body = json.dumps({**GOOD, "out_trade_no": "big", "description": "x" * 200_000})
    answer = await gateway.api(m, "POST", "/payments", data=body, headers={"Content-Type": "application/json"})
    assert answer.status == 413 and answer.body["code"] == "payload_too_large"
    assert await gateway.count(payments, payments.c.merchant_id == m.id) == 0


async def test_wrong_content_type_is_415(gateway: Gateway) -> None:
    m = await gateway.merchant()
    answer = await gateway.api(m, "POST", "/payments", data="amount=1", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status == 415 and answer.body["code"] == "unsupported_media_type"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer sk_test_wrong"}, {"Authorization": "Basic abc"},
                                     {"Authorization": "Bearer "}])
async def test_missing_or_wrong_key_is_401(gateway: Gateway, headers: dict[str, str]) -> None:
    answer = await gateway.api(None, "POST", "/payments", json_body={**GOOD, "out_trade_no": "x"}, headers=headers)
    assert answer.status == 401 and answer.body["code"] == "unauthorized"
    assert (await gateway.api(None, "GET", "/payments", headers=headers)).status == 401


async def test_pay_method_not_enabled(gateway: Gateway) -> None:
    m = await gateway.merchant(sandbox_accounts=False)
    answer = await gateway.api(m, "POST", "/payments", json_body={**GOOD, "out_trade_no": "x", "channel": "alipay_qr"})
    assert answer.status == 422 and answer.body["code"] == "pay_method_unavailable"
    assert await gateway.count(payments, payments.c.merchant_id == m.id) == 0


async def test_unknown_routes_and_methods_are_problems(gateway: Gateway) -> None:
    m = await gateway.merchant()
    assert (await gateway.api(m, "GET", "/nothing-here")).body["code"] == "not_found"
    answer = await gateway.api(m, "DELETE", "/payments")
    assert answer.status == 405 and answer.body["code"] == "method_not_allowed"
    bad_limit = await gateway.api(m, "GET", "/payments?limit=1000")
    assert bad_limit.status == 422
    assert (await gateway.api(m, "GET", "/payments?cursor=%%%")).status == 422
    assert (await gateway.api(m, "GET", "/payments?created_gte=yesterday")).status == 422


async def test_rate_limit_per_merchant(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from tests.conftest import REDIS_URL
    from tests.factories import start_gateway

    async with start_gateway(tmp_path, rate_limit=5, redis_url=REDIS_URL) as gw:
        noisy, quiet = await gw.merchant(), await gw.merchant()
        answers = await asyncio.gather(*(gw.api(noisy, "GET", "/payments") for _ in range(30)))
        limited = [a for a in answers if a.status == 429]
        assert limited and all(a.body["code"] == "rate_limited" and a.headers["Retry-After"] == "1" for a in limited)
        assert (await gw.api(quiet, "GET", "/payments")).status == 200
