"""``notify_url``: a payment's events (and its refunds') go there *instead of* the merchant's
webhook_url, signed and retried exactly like webhooks; other payments' events still go to the
webhook_url."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from tests.factories import Gateway, Merchant
from tests.refunds.helpers import refund, refund_status
from tests.support.paying import phone_page, press
from tests.support.receiver import Receiver
from tests.support.waiting import eventually, wait_status


async def paid_with(gw: Gateway, m: Merchant, **fields: Any) -> dict[str, Any]:
    p = await gw.create_payment(m, pay_method="alipay_qr", **fields)
    status, _ = await press(gw.http, phone_page(f"{gw.url}/sandbox", "alipay_qr", p))
    assert status in (200, 302, 303)
    paid = await wait_status(gw, m, p["id"], "paid")
    assert paid["status"] == "paid", paid
    return paid


def _bodies(hooks: Receiver, name: str) -> list[dict[str, Any]]:
    return [json.loads(h.body) for h in hooks.hits if h.path == f"/{name}" and h.status < 300]


async def test_events_go_to_the_notify_url_instead_signed_and_retried(fast_gateway: Gateway,
                                                                      hooks: Receiver) -> None:
    gw = fast_gateway
    m = await gw.merchant(webhook_url=hooks.endpoint("hooks"))
    hooks.status["/jeepay"] = 500  # down at first: retried on the webhook backoff, with the same id
    p = await paid_with(gw, m, notify_url=hooks.endpoint("jeepay"))
    assert await eventually(lambda: asyncio.sleep(0, len(hooks.ids("jeepay", ok_only=False)) >= 2))
    hooks.status["/jeepay"] = 200
    assert await eventually(lambda: asyncio.sleep(0, hooks.ids("jeepay")))

    tries = [h for h in hooks.hits if h.path == "/jeepay"]
    assert len({h.id for h in tries}) == 1 and [h.status for h in tries][-1] == 200
    for hit in tries:  # every attempt verifies under the merchant's webhook secret (reference library)
        event = Webhook(m.webhook_secret).verify(hit.body, hit.headers)
        assert event["type"] == "payment.succeeded" and event["data"]["id"] == p["id"]
        assert event["data"]["pay_method"] == "alipay_qr" and event["data"]["channel_trade_no"]
    got = (await eventually(lambda: gw.api(m, "GET", f"/events/{tries[0].id}"),
                            lambda a: a.body["delivery_status"] == "delivered")).body
    assert got["delivery_status"] == "delivered"  # recorded once the 2xx came back
    assert {d["url"] for d in got["deliveries"]} == {hooks.endpoint("jeepay")}

    # The payment's refund events follow it to the notify_url.
    r = await refund(gw, m, p["id"], 300)
    assert r.status == 201, r.text
    await refund_status(gw, m, r.body["id"], "succeeded")
    assert await eventually(lambda: asyncio.sleep(0, {"refund.succeeded", "payment.partially_refunded"}
                                                  <= {b["type"] for b in _bodies(hooks, "jeepay")}))

    # A payment without one: its events go to the webhook_url, as before.
    other = await gw.create_payment(m)
    assert (await gw.api(m, "POST", f"/payments/{other['id']}/close")).status == 200
    assert await eventually(lambda: asyncio.sleep(0, _bodies(hooks, "hooks")))
    assert {b["data"]["id"] for b in _bodies(hooks, "hooks")} == {other["id"]}  # never p's
    assert p["id"] not in {b["data"].get("id") for b in _bodies(hooks, "hooks")}


async def test_a_notify_url_is_enough_without_a_webhook_url(fast_gateway: Gateway, hooks: Receiver) -> None:
    gw = fast_gateway
    m = await gw.merchant()  # no webhook_url
    p = await gw.create_payment(m, notify_url=hooks.endpoint("n"))
    closed = await gw.api(m, "POST", f"/payments/{p['id']}/close")
    assert closed.status == 200 and closed.body["close_reason"] == "merchant"
    assert await eventually(lambda: asyncio.sleep(0, _bodies(hooks, "n")))
    event = _bodies(hooks, "n")[0]
    assert event["type"] == "payment.closed" and event["data"]["close_reason"] == "merchant"
    resent = await gw.api(m, "POST", f"/events/{event['id']}/resend")  # somewhere to resend to: allowed
    assert resent.status == 202, resent.text


@pytest.mark.parametrize("url", ["ftp://shop.example/n", "https://user:pw@shop.example/n",
                                 "https://shop.example/a b", "https://shop.example/\u0000", "https://[::1/n",
                                 "https:shop.example/n", "//shop.example/n"])
async def test_notify_url_must_be_an_http_url(gateway: Gateway, url: str) -> None:
    m = await gateway.merchant()
    answer = await gateway.api(m, "POST", "/payments", json_body={
        "amount": 100, "subject": "x", "out_trade_no": "n-1", "notify_url": url})
    assert answer.status == 422, answer.text
    assert answer.body["errors"][0]["field"] == "notify_url"
