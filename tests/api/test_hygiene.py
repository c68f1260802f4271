"""API hygiene: one meaning per JSON document, bounded nesting, every list query parameter validated
(never a 500), and no secret kept in clear by the idempotency store."""
from __future__ import annotations

import json
from urllib.parse import quote

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.store.tables import idempotency_keys, payments
from tests.factories import Gateway


async def _count(gw: Gateway, merchant_id: str) -> int:
    return await gw.count(payments, payments.c.merchant_id == merchant_id)


async def test_duplicate_keys_are_invalid_json_and_create_nothing(gateway: Gateway) -> None:
    m = await gateway.merchant()
    bodies = ['{"amount": 1, "subject": "x", "out_trade_no": "d1", "amount": 100000000}',
              '{"amount": 1, "subject": "x", "out_trade_no": "d2", "metadata": {"a": "1", "a": "2"}}',
              '{"amount": 1, "subject": "x", "out_trade_no": "d3", "subject": "y"}']
    for body in bodies:
        for headers in ({}, {"Idempotency-Key": "dup-" + body[-8:]}):
            answer = await gateway.api(m, "POST", "/payments", data=body,
                                       headers={"Content-Type": "application/json", **headers})
            assert answer.status == 400 and answer.body["code"] == "invalid_json", answer.text
            assert "twice" in answer.body["detail"]
    assert await _count(gateway, m.id) == 0


async def test_deep_nesting_is_refused_before_parsing(gateway: Gateway) -> None:
    m = await gateway.merchant()
    for depth in (17, 30_000):  # 30,000 overflowed the parser's recursion (a 500) within the 64 KB limit
        nested = "[" * depth + "]" * depth
        body = '{"amount": 1, "subject": "x", "out_trade_no": "n1", "metadata": ' + nested + "}"
        for headers in ({}, {"Idempotency-Key": f"deep-{depth}"}):
            answer = await gateway.api(m, "POST", "/payments", data=body,
                                       headers={"Content-Type": "application/json", **headers})
            assert answer.status == 400 and answer.body["code"] == "invalid_json", answer.text[:300]
    strings = '{"amount": 1, "subject": "' + "[" * 5000 + '", "out_trade_no": "n2"}'  # brackets in a string
    answer = await gateway.api(m, "POST", "/payments", data=strings, headers={"Content-Type": "application/json"})
    assert answer.status == 422 and answer.body["errors"][0]["field"] == "subject"  # too long, not too deep


async def test_odd_list_parameters_are_422(gateway: Gateway) -> None:
    m = await gateway.merchant()
    for query in ("limit=²", "limit=٣", "limit=0", "limit=101", "limit=1e3", "limit=" + "9" * 40,
                  "cursor=%FF", "cursor=abc", "cursor=" + "A" * 500, "cursor=MjAyNi0wMS0wMQ",  # no id part
                  "cursor=MDAwMS0wMS0wMXxwYXlfeA",  # year 1, naive
                  "created_gte=9999-12-31T23:59:59-14:00", "created_lt=0001-01-01T00:00:00%2B14:00",
                  "created_gte=2026-13-01", "created_gte=" + "1" * 100, "status=paid%00",
                  "channel_trade_no=" + "x" * 65, "channel_order_no=a%0Ab"):
        answer = await gateway.api(m, "GET", f"/payments?{query}")
        assert answer.status == 422 and answer.body["code"] == "validation_error", (query, answer.text)
    for query in ("date=２０２６-01-01", "date=2026-1-1", "limit=²"):
        answer = await gateway.api(m, "GET", f"/reconciliation/batches?{query}")
        assert answer.status == 422, (query, answer.text)


ODD = ["%FF", "%ED%A0%80", "%00", "²", "٣", "-1", "0", "9" * 30, "1e3", "2026-01-01T00:00:00Z",
       "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00%2B14:00", "0001-01-01", "paid", "Zm9v",
       "MDAwMS0wMS0wMXxwYXlfeA", "MjAyNi0wMS0wMVQwMDowMDowMCswMDowMHxwYXk", "%E2%80%AE", "a" * 300]


def _raw_value() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(ODD), st.text(max_size=60).map(lambda s: quote(s, safe="")),
                     st.integers(min_value=-10**20, max_value=10**20).map(str))


COMMON = ["limit", "cursor", "x"]
ENDPOINTS = {
    "/payments": [*COMMON, "status", "out_trade_no", "channel_trade_no", "channel_order_no", "created_gte", "created_lt"],
    "/events": [*COMMON, "type", "object_id"],
    "/links": COMMON,
    "/reconciliation/batches": [*COMMON, "date", "status"],
    "/payments/pay_x/refunds": COMMON,
    "/customers/c1/wallet/statements": COMMON,
    "/recharge_packages": COMMON,
}


async def test_no_query_string_makes_a_list_endpoint_fail(gateway: Gateway) -> None:
    """Hypothesis writes each list endpoint's query strings, odd values often (collected first: the
    gateway is a live server on this test's event loop)."""
    cases: list[str] = []
    for endpoint, names in ENDPOINTS.items():
        @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(path=st.just(endpoint), params=st.fixed_dictionaries({}, optional={n: _raw_value() for n in names}))
        def collect(path: str, params: dict[str, str]) -> None:
            cases.append(path + "?" + "&".join(f"{k}={v}" for k, v in params.items()))

        collect()
    m = await gateway.merchant()
    await gateway.create_payment(m)
    for path in cases:
        answer = await gateway.api(m, "GET", path)
        assert answer.status in (200, 404, 422), (path, answer.text[:300])
        assert answer.status != 404 or answer.body["code"] == "not_found"


async def test_a_rotated_secret_is_kept_sealed_and_replayed(gateway: Gateway) -> None:
    m = await gateway.merchant()
    first = await gateway.api(m, "POST", "/webhook-secret/rotate", headers={"Idempotency-Key": "rot-1"})
    assert first.status == 201 and first.body["webhook_secret"].startswith("whsec_")
    async with gateway.svc.db.read() as conn:
        kept = (await conn.execute(sa.select(idempotency_keys.c.response_body).where(
            idempotency_keys.c.merchant_id == m.id, idempotency_keys.c.key == "rot-1"))).scalar_one()
    secret = first.body["webhook_secret"]
    assert secret not in kept and secret.removeprefix("whsec_") not in kept and kept.startswith("sealed:")
    again = await gateway.api(m, "POST", "/webhook-secret/rotate", headers={"Idempotency-Key": "rot-1"})
    assert again.status == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.body == first.body  # the same secret: the one now signing
    assert json.loads(again.text)["webhook_secret"] == secret
