"""The sandbox helpers pay or cancel a payment as a shopper would, on the sandbox's own page; the gateway
learns the outcome from the channel's signed callback (its notify log shows it), and the payment then
says how it was paid -- found again by the channel's numbers."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import sqlalchemy as sa
from aiohttp import web

from gateway.app import create_app
from gateway.config import Settings
from gateway.keys import SERVICES
from gateway.services.merchants import create_merchant
from gateway.store.tables import notify_log
from tests.factories import Gateway, _secret
from tests.support.net import free_port
from tests.support.receiver import Receiver


async def _callbacks(gw: Gateway, trade_no: str) -> list[str]:
    async with gw.svc.db.read() as conn:
        return list((await conn.execute(sa.select(notify_log.c.result).where(
            notify_log.c.trade_no == trade_no))).scalars())


async def test_pay_a_payment_the_shopper_chooses_for_and_find_it_by_channel_numbers(
        gateway: Gateway, hooks: Receiver) -> None:
    m = await gateway.merchant(webhook_url=hooks.endpoint("hooks"))
    p = await gateway.create_payment(m)
    assert p["pay_method"] is None and p["channel_order_no"] is None and p["channel_trade_no"] is None
    paid = await gateway.api(m, "POST", f"/sandbox/payments/{p['id']}/pay")
    assert paid.status == 200, paid.text
    body = paid.body
    assert body["status"] == "paid" and body["paid_at"]
    # The desktop checkout's first QR method; ``channel`` is its deprecated alias, no longer null.
    assert body["pay_method"] == body["channel"] == "wechat_native"
    assert body["channel_order_no"].startswith("att_") and body["channel_trade_no"]
    assert "applied" in await _callbacks(gateway, body["channel_order_no"])  # learnt from the callback

    for query in (f"channel_trade_no={body['channel_trade_no']}", f"channel_order_no={body['channel_order_no']}"):
        found = await gateway.api(m, "GET", f"/payments?{query}")
        assert [x["id"] for x in found.body["data"]] == [p["id"]], query
    other = await gateway.merchant()  # another merchant's numbers find nothing
    assert (await gateway.api(other, "GET", f"/payments?channel_trade_no={body['channel_trade_no']}")).body["data"] == []
    assert (await gateway.api(m, "GET", "/payments?channel_order_no=att_nope")).body["data"] == []

    again = await gateway.api(m, "POST", f"/sandbox/payments/{p['id']}/pay")
    assert again.status == 409 and again.body["code"] == "invalid_state"
    events = await gateway.api(m, "GET", f"/events?object_id={p['id']}&type=payment.succeeded")
    data = events.body["data"][0]["data"]
    assert {k: data[k] for k in ("pay_method", "channel_trade_no", "channel_order_no", "paid_at")} == \
        {k: body[k] for k in ("pay_method", "channel_trade_no", "channel_order_no", "paid_at")}


async def test_pay_with_a_chosen_method_and_a_fixed_one(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)
    paid = await gateway.api(m, "POST", f"/sandbox/payments/{p['id']}/pay", json_body={"pay_method": "alipay_qr"})
    assert paid.status == 200, paid.text
    assert paid.body["status"] == "paid" and paid.body["pay_method"] == "alipay_qr"
    assert paid.body["channel_trade_no"]

    fixed = await gateway.create_payment(m, pay_method="unionpay_qr")
    wrong = await gateway.api(m, "POST", f"/sandbox/payments/{fixed['id']}/pay", json_body={"pay_method": "alipay_qr"})
    assert wrong.status == 422 and wrong.body["errors"][0]["field"] == "pay_method"
    paid = await gateway.api(m, "POST", f"/sandbox/payments/{fixed['id']}/pay")
    assert paid.status == 200 and paid.body["status"] == "paid" and paid.body["pay_method"] == "unionpay_qr"
    missing = await gateway.api(m, "POST", "/sandbox/payments/pay_nope/pay")
    assert missing.status == 404


async def test_fail_cancels_at_the_channel_then_closes(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)
    failed = await gateway.api(m, "POST", f"/sandbox/payments/{p['id']}/fail", json_body={"pay_method": "alipay_qr"})
    assert failed.status == 200, failed.text
    assert failed.body["status"] == "closed" and failed.body["close_reason"] == "cancelled"
    attempts = await gateway.attempts(p["id"])
    assert [a["status"] for a in attempts] == ["closed"]
    # Cancel leaves the trade open at Alipay (as the app does); the close then closes it there -- and
    # Alipay sends no TRADE_CLOSED notify for a QR trade.
    async with gateway.http.get(f"{gateway.url}/sandbox/alipay/_control/trades/{attempts[0]['id']}") as resp:
        assert (await resp.json())["trade_status"] == "TRADE_CLOSED"
    closed = await gateway.api(m, "GET", f"/events?object_id={p['id']}&type=payment.closed")
    assert closed.body["data"][0]["data"]["close_reason"] == "cancelled"


async def test_the_helpers_are_404_without_the_sandbox(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings.from_env({}, host="127.0.0.1", port=port, data_dir=str(tmp_path), sandbox=False,
                                 secret_key=_secret("one-deployment-one-master-key"))
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        created = await create_merchant(app[SERVICES].db, settings, name="Live")
        async with aiohttp.ClientSession() as http:
            for verb in ("pay", "fail"):
                async with http.post(f"{settings.public_url}/api/v1/sandbox/payments/pay_x/{verb}",
                                     headers={"Authorization": f"Bearer {created['api_key']}"}) as r:
                    assert r.status == 404 and json.loads(await r.text())["code"] == "not_found"
    finally:
        await runner.cleanup()
        await asyncio.sleep(0)
