"""The callback pipeline: genuine callbacks apply once; forged, tampered, stale or mismatched ones get the
channel's failure answer, change nothing, and are logged."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.crypto import rsa
from gateway.store.tables import attempts, events, ledger_entries, notify_log
from tests.factories import Gateway, Merchant
from tests.refunds.helpers import paid_payment
from tests.support import forge

FAIL_WECHAT = {"code": "FAIL", "message": "失败"}


def sandbox_keys(gw: Gateway) -> dict[str, Any]:
    from gateway import keys

    return gw.app[keys.SANDBOX_KEYS]


async def pending_attempt(gw: Gateway, m: Merchant, method: str, amount: int = 1999) -> tuple[dict, str]:
    p = await gw.create_payment(m, amount=amount, channel=method)
    async with gw.svc.db.read() as conn:
        trade_no = (await conn.execute(sa.select(attempts.c.id).where(attempts.c.payment_id == p["id"]))).scalar_one()
    return p, trade_no


async def post(gw: Gateway, channel: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    hdrs = headers or {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    async with gw.http.post(f"{gw.url}/notify/{channel}", data=body, headers=hdrs) as resp:
        return resp.status, await resp.read()


async def log_rows(gw: Gateway, trade_no: str | None = None) -> list[dict]:
    async with gw.svc.db.read() as conn:
        stmt = sa.select(notify_log).order_by(notify_log.c.id)
        return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def assert_untouched(gw: Gateway, m: Merchant, payment: dict) -> None:
    now = (await gw.api(m, "GET", f"/payments/{payment['id']}")).body
    assert now["status"] == "pending"
    assert await gw.count(ledger_entries, ledger_entries.c.payment_id == payment["id"]) == 0
    assert await gw.count(events, events.c.object_id == payment["id"]) == 0


async def test_alipay_genuine_notify_applies_once(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p, trade_no = await pending_attempt(gateway, m, "alipay_qr")
    body = forge.alipay_notify(sandbox_keys(gateway)["alipay"], trade_no, "19.99")
    for _ in range(3):  # Alipay retries until it reads "success": duplicates have no second effect
        assert await post(gateway, "alipay", body) == (200, b"success")
    assert (await gateway.api(m, "GET", f"/payments/{p['id']}")).body["status"] == "paid"
    assert await gateway.count(ledger_entries, ledger_entries.c.payment_id == p["id"]) == 1
    assert await gateway.count(events, events.c.object_id == p["id"]) == 1
    results = [r["result"] for r in await log_rows(gateway) if r["trade_no"] == trade_no]
    assert results == ["applied", "duplicate", "duplicate"]


def _other_key() -> str:
    return rsa.private_pem(rsa.generate_private_key())


ALIPAY_BAD = {
    "signed by another key": lambda k, t: forge.alipay_notify(k, t, "19.99", sign_key=_other_key()),
    "amount tampered after signing": lambda k, t: forge.alipay_notify(k, t, "19.99").replace(
        b"total_amount=19.99", b"total_amount=0.01"),
    "signature removed": lambda k, t: b"&".join(
        p for p in forge.alipay_notify(k, t, "19.99").split(b"&") if not p.startswith(b"sign=")),
    "genuine signature, wrong amount": lambda k, t: forge.alipay_notify(k, t, "0.01"),
    "genuine signature, other seller": lambda k, t: forge.alipay_notify(k, t, "19.99", seller_id="2088000000000000"),
    "genuine signature, other app": lambda k, t: forge.alipay_notify(k, t, "19.99", app_id="2021999999999999"),
    "genuine signature, unknown trade": lambda k, t: forge.alipay_notify(k, "att_notours", "19.99"),
    "not a form": lambda k, t: b"\xff\xfe{garbage",
}


EXPECTED_CODE = {
    "signed by another key": "bad_signature", "amount tampered after signing": "bad_signature",
    "signature removed": "missing_signature", "genuine signature, wrong amount": "amount_mismatch",
    "genuine signature, other seller": "identity_mismatch", "genuine signature, other app": "unknown_account",
    "genuine signature, unknown trade": "unknown_trade", "not a form": "malformed",
    "stale timestamp": "stale_timestamp", "future timestamp": "stale_timestamp", "signature probe": "signature_probe",
    "bad signature": "bad_signature", "unknown serial": "unknown_serial", "tampered ciphertext": "decrypt_failed",
    "encrypted under another key": "decrypt_failed", "other mchid": "identity_mismatch",
    "other appid": "identity_mismatch", "wrong amount": "amount_mismatch", "wrong currency": "amount_mismatch",
    "unknown trade": "unknown_trade",
}


@pytest.mark.parametrize("case", sorted(ALIPAY_BAD))
async def test_alipay_bad_notify_is_refused_and_changes_nothing(gateway: Gateway, case: str) -> None:
    m = await gateway.merchant()
    p, trade_no = await pending_attempt(gateway, m, "alipay_qr")
    before = len(await log_rows(gateway))
    status, body = await post(gateway, "alipay", ALIPAY_BAD[case](sandbox_keys(gateway)["alipay"], trade_no))
    assert (status, body) == (200, b"fail")  # anything but "success" makes Alipay retry later
    await assert_untouched(gateway, m, p)
    rows = (await log_rows(gateway))[before:]
    assert [r["result"] for r in rows] == ["rejected"]
    assert rows[0]["error"].split(":")[0] == EXPECTED_CODE[case]


async def test_wechat_genuine_notify_applies_once(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p, trade_no = await pending_attempt(gateway, m, "wechat_native")
    k = sandbox_keys(gateway)["wechat"]
    body, headers = forge.wechat_notify(k, forge.wechat_resource(k, trade_no, 1999))
    for _ in range(2):
        status, _ = await post(gateway, "wechat", body, headers)
        assert status in (200, 204)
    assert (await gateway.api(m, "GET", f"/payments/{p['id']}")).body["status"] == "paid"
    assert await gateway.count(ledger_entries, ledger_entries.c.payment_id == p["id"]) == 1


WECHAT_BAD = {
    "stale timestamp": lambda k, t: forge.wechat_notify(k, forge.wechat_resource(k, t, 1999),
                                                        timestamp=int(time.time()) - 301),
    "future timestamp": lambda k, t: forge.wechat_notify(k, forge.wechat_resource(k, t, 1999),
                                                         timestamp=int(time.time()) + 400),
    "signature probe": lambda k, t: forge.wechat_notify(k, forge.wechat_resource(k, t, 1999),
                                                        signature="WECHATPAY/SIGNTEST/" + "A" * 344),
    "bad signature": lambda k, t: forge.wechat_notify(k, forge.wechat_resource(k, t, 1999), signature="A" * 344),
    "unknown serial": lambda k, t: forge.wechat_notify(k, forge.wechat_resource(k, t, 1999),
                                                       serial="PUB_KEY_ID_0000000000000000000000000000"),
    "tampered ciphertext": lambda k, t: forge.wechat_notify(k, forge.wechat_resource(k, t, 1999),
                                                            tamper_ciphertext=True),
    "encrypted under another key": lambda k, t: forge.wechat_notify(k, forge.wechat_resource(k, t, 1999),
                                                                    apiv3_key="x" * 32),
    "other mchid": lambda k, t: forge.wechat_notify(k, forge.wechat_resource(k, t, 1999, mchid="1999999999")),
    "other appid": lambda k, t: forge.wechat_notify(k, forge.wechat_resource(k, t, 1999, appid="wx00000000000000")),
    "wrong amount": lambda k, t: forge.wechat_notify(k, forge.wechat_resource(k, t, 1)),
    "wrong currency": lambda k, t: forge.wechat_notify(k, forge.wechat_resource(
        k, t, 1999, amount={"total": 1999, "payer_total": 1999, "currency": "USD", "payer_currency": "USD"})),
    "unknown trade": lambda k, t: forge.wechat_notify(k, forge.wechat_resource(k, "att_notours00", 1999)),
}


@pytest.mark.parametrize("case", sorted(WECHAT_BAD))
async def test_wechat_bad_notify_is_refused_and_changes_nothing(gateway: Gateway, case: str) -> None:
    m = await gateway.merchant()
    p, trade_no = await pending_attempt(gateway, m, "wechat_native")
    before = len(await log_rows(gateway))
    body, headers = WECHAT_BAD[case](sandbox_keys(gateway)["wechat"], trade_no)
    status, answer = await post(gateway, "wechat", body, headers)
    assert status >= 400 and json.loads(answer) == FAIL_WECHAT
    await assert_untouched(gateway, m, p)
    rows = (await log_rows(gateway))[before:]
    assert [r["result"] for r in rows] == ["rejected"]
    assert rows[0]["error"].split(":")[0] == EXPECTED_CODE[case]
    assert "authorization" not in json.loads(rows[0]["headers"])


async def test_unknown_channel_is_404(gateway: Gateway) -> None:
    status, _ = await post(gateway, "paypal", b"x=1")
    assert status == 404


async def test_genuine_unsupported_events_are_acknowledged_and_ignored(gateway: Gateway) -> None:
    """A verified callback for an event we do not act on gets the channel's success answer (no retries for
    a day), is logged as ``ignored`` -- not beside forgeries -- and changes nothing."""
    m = await gateway.merchant()
    p, trade_no = await pending_attempt(gateway, m, "wechat_native")
    k = sandbox_keys(gateway)["wechat"]
    before = len(await log_rows(gateway))
    body, headers = forge.wechat_notify(k, forge.wechat_resource(k, trade_no, 1999), event_type="MARKETING.X")
    status, answer = await post(gateway, "wechat", body, headers)
    assert status in (200, 204) and b"FAIL" not in answer
    await assert_untouched(gateway, m, p)
    rows = (await log_rows(gateway))[before:]
    assert [(r["result"], r["error"]) for r in rows] == [("ignored", None)]
    assert "wechatpay-serial" in {h.lower() for h in json.loads(rows[0]["headers"])}

    p, trade_no = await pending_attempt(gateway, m, "alipay_qr")
    body = forge.alipay_notify(sandbox_keys(gateway)["alipay"], trade_no, "19.99", trade_status="TRADE_PENDING")
    assert await post(gateway, "alipay", body) == (200, b"success")
    await assert_untouched(gateway, m, p)
    assert [r["result"] for r in (await log_rows(gateway)) if r["trade_no"] == trade_no] == ["ignored"]


@pytest.mark.parametrize("where", ["nowhere", "webhook_url", "notify_url"])
async def test_the_paid_event_goes_where_the_merchant_listens(gateway: Gateway, where: str) -> None:
    """``payment.succeeded`` is written with the payment (read once, with its merchant's webhook URL):
    waiting to be delivered when there is somewhere to deliver it, kept undelivered when there is not."""
    m = await gateway.merchant(webhook_url="http://127.0.0.1:9/hook" if where == "webhook_url" else None)
    if where == "notify_url":
        p = await gateway.create_payment(m, notify_url="http://127.0.0.1:9/notify")
    else:
        p = await paid_payment(gateway, m)
    if where == "notify_url":
        await gateway.api(m, "POST", f"/payments/{p['id']}/close")
    async with gateway.svc.db.read() as conn:
        rows = (await conn.execute(sa.select(events.c.type, events.c.delivery_status, events.c.payload)
                                   .where(events.c.object_id == p["id"]))).all()
    kinds = {r.type: r.delivery_status for r in rows}
    expected = "payment.closed" if where == "notify_url" else "payment.succeeded"
    assert set(kinds) == {expected}, kinds
    assert (kinds[expected] == "none") == (where == "nowhere"), kinds
    data = json.loads(rows[0].payload)["data"]
    assert data["id"] == p["id"] and data["status"] == ("closed" if where == "notify_url" else "paid")
