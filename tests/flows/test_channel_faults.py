"""A channel that refuses or does not answer at create: a clear 5xx naming the payment, which stays pending;
a refusal fails the attempt, silence leaves it pending for the sync to resolve -- never a failed payment."""
from __future__ import annotations

import sqlalchemy as sa

from gateway.store.tables import attempts
from tests.factories import Gateway, unique


async def _attempt_status(gw: Gateway, payment_id: str) -> list[str]:
    async with gw.svc.db.read() as conn:
        return list((await conn.execute(sa.select(attempts.c.status).where(attempts.c.payment_id == payment_id)))
                    .scalars())


async def _create(gw: Gateway, m, channel: str) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    answer = await gw.api(m, "POST", "/payments", json_body={"amount": 100, "subject": "s", "channel": channel,
                                                             "out_trade_no": unique()})
    return answer.status, answer.body


async def test_business_refusal_is_502_and_fails_only_the_attempt(gateway: Gateway) -> None:
    m = await gateway.merchant()
    await gateway.fault("alipay", {"api": {"method": "alipay.trade.precreate", "mode": "business",
                                           "sub_code": "ACQ.ACCESS_FORBIDDEN", "count": 1}})
    status, body = await _create(gateway, m, "alipay_qr")
    assert status == 502 and body["code"] == "channel_declined" and body["payment_id"].startswith("pay_")
    assert (await gateway.api(m, "GET", f"/payments/{body['payment_id']}")).body["status"] == "pending"
    assert await _attempt_status(gateway, body["payment_id"]) == ["failed"]


async def test_5xx_is_unknown_and_leaves_the_attempt_pending(gateway: Gateway) -> None:
    m = await gateway.merchant()
    await gateway.fault("wechat", {"api": {"path_contains": "/v3/pay/transactions/native", "mode": "http500",
                                           "count": 1}})
    status, body = await _create(gateway, m, "wechat_native")
    assert status == 503 and body["code"] == "channel_unavailable"
    assert await _attempt_status(gateway, body["payment_id"]) == ["pending"]


async def test_timeout_is_unknown_and_leaves_the_attempt_pending(gateway: Gateway) -> None:
    m = await gateway.merchant()
    await gateway.fault("alipay", {"api": {"method": "alipay.trade.precreate", "mode": "timeout", "seconds": 4,
                                           "count": 1}})
    status, body = await _create(gateway, m, "alipay_qr")
    assert status == 503 and body["code"] == "channel_unavailable"
    assert await _attempt_status(gateway, body["payment_id"]) == ["pending"]
