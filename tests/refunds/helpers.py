"""Refund test helpers: a paid payment through the sandboxes, waiting on states, the checker."""
from __future__ import annotations

from typing import Any

from gateway.store.ledger_check import check_database
from tests.factories import Gateway, Merchant, unique
from tests.support.paying import phone_page, press
from tests.support.waiting import eventually

CHANNELS = {"alipay": "alipay_qr", "wechat": "wechat_native"}


async def paid_payment(gw: Gateway, m: Merchant, amount: int = 1000, method: str = "alipay_qr") -> dict[str, Any]:
    """A payment the shopper paid on the sandbox's page, once the gateway has it as ``paid``."""
    p = await gw.create_payment(m, amount=amount, channel=method)
    status, _ = await press(gw.http, phone_page(f"{gw.url}/sandbox", method, p))
    assert status in (200, 302, 303)
    body = await eventually(lambda: gw.api(m, "GET", f"/payments/{p['id']}"),
                            lambda a: a.body["status"] == "paid")
    assert body.body["status"] == "paid", body.body
    return body.body


async def refund(gw: Gateway, m: Merchant, payment_id: str, amount: int, **extra: Any) -> Any:
    body = {"amount": amount, "out_refund_no": extra.pop("out_refund_no", unique("rf")), **extra}
    return await gw.api(m, "POST", f"/payments/{payment_id}/refunds", json_body=body)


async def refund_status(gw: Gateway, m: Merchant, refund_id: str, status: str, seconds: float = 10) -> dict:
    answer = await eventually(lambda: gw.api(m, "GET", f"/refunds/{refund_id}"),
                              lambda a: a.body["status"] == status, seconds=seconds)
    return answer.body


async def assert_books_balance(gw: Gateway) -> None:
    report = await check_database(gw.svc.db)
    assert report.ok, report.as_json()["violations"]
