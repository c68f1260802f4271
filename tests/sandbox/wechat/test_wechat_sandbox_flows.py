"""The real WechatChannel against the sandbox over HTTP: create, pay, notify, query, close, refund, bill."""
from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from gateway.channels.base import RefundRequest
from gateway.channels.wechat import WechatChannel, signing
from gateway.channels.wechat.transformers import CHINA
from gateway.crypto import rsa
from gateway.domain.money import Money
from gateway.domain.outcomes import Outcome
from gateway.domain.pay import PayAction
from gateway.sandbox.wechat import scan_page_url


def page_url(sandbox: Any, method: str, action: PayAction) -> str:
    if method == "wechat_native":
        assert action.qr and action.qr.startswith("weixin://wxpay/bizpayurl?pr=")
        return scan_page_url(sandbox.base_url, action.qr)
    if method == "wechat_h5":
        assert action.url is not None
        return action.url
    return f"{sandbox.base_url}/jsapi/{action.params['package'].removeprefix('prepay_id=')}"


async def test_each_method_created_paid_notified_and_queried(
        sandbox: Any, receiver: Any, channel: WechatChannel, make_request: Any, keys: dict[str, Any]) -> None:
    for i, method in enumerate(("wechat_native", "wechat_h5", "wechat_jsapi")):
        req = make_request(method, trade_no=f"T2024000000{i}", amount=100 + i)
        created = await channel.create(req)
        assert created.outcome is Outcome.SUCCESS, created
        assert (await channel.query(req.trade_no)).outcome is Outcome.WAITING
        url = page_url(sandbox, method, created.action)
        async with sandbox.http.get(url) as resp:
            html = await resp.text()
        assert resp.status == 200 and "1.0" in html and "&lt;b&gt;&amp;" in html and "<b>" not in html
        assert (await sandbox.page(url, "pay")).status == 200

        note = await channel.parse_callback(await receiver.next())
        assert (note.kind, note.outcome, note.trade_no) == ("payment", Outcome.SUCCESS, req.trade_no)
        assert note.amount == Money(100 + i)
        assert note.identities == {"mchid": keys["mchid"], "appid": keys["appid"]}
        state = await channel.query(req.trade_no)
        assert state.outcome is Outcome.SUCCESS and state.amount == Money(100 + i)
        assert state.channel_trade_no == note.channel_trade_no and isinstance(state.paid_at, datetime)


async def test_jsapi_pay_sign_verifies_with_the_merchant_certificate(
        channel: WechatChannel, make_request: Any, keys: dict[str, Any]) -> None:
    created = await channel.create(make_request("wechat_jsapi"))
    p = created.action.params
    prepay_id = p["package"].removeprefix("prepay_id=")
    assert p["package"] == f"prepay_id={prepay_id}" and p["signType"] == "RSA" and p["appId"] == keys["appid"]
    message = signing.jsapi_message(p["appId"], p["timeStamp"], p["nonceStr"], prepay_id)
    assert rsa.verify(rsa.load_public_key(keys["merchant_certificate"]), message, p["paySign"])


async def test_h5_page_redirects_after_paying(sandbox: Any, channel: WechatChannel, make_request: Any) -> None:
    created = await channel.create(make_request("wechat_h5"))
    url = created.action.url + "?redirect_url=https%3A%2F%2Fshop.example%2Fdone"
    resp = await sandbox.page(url, "pay")
    assert resp.status == 303 and resp.headers["Location"] == "https://shop.example/done"


async def test_cancel_leaves_the_order_open_without_notification(
        sandbox: Any, receiver: Any, channel: WechatChannel, make_request: Any) -> None:
    """A payer who gives up leaves the order NOTPAY, payable again; only a close or expiry ends it."""
    req = make_request()
    created = await channel.create(req)
    url = scan_page_url(sandbox.base_url, created.action.qr)
    assert (await sandbox.page(url, "cancel")).status == 200
    await asyncio.sleep(0.2)
    assert receiver.unread() == 0
    state = await channel.query(req.trade_no)
    assert (state.outcome, state.error_code) == (Outcome.WAITING, "NOTPAY")
    assert (await sandbox.page(url, "pay")).status == 200
    assert (await channel.query(req.trade_no)).outcome is Outcome.SUCCESS


async def test_close(sandbox: Any, channel: WechatChannel, make_request: Any) -> None:
    open_one, paid_one = make_request(trade_no="CLOSE00001"), make_request(trade_no="CLOSE00002")
    await channel.create(open_one)
    await channel.create(paid_one)
    await sandbox.control(f"pay/{paid_one.trade_no}", {})
    assert (await channel.close(open_one.trade_no)).outcome is Outcome.SUCCESS
    assert (await channel.close(open_one.trade_no)).outcome is Outcome.SUCCESS  # idempotent
    paid = await channel.close(paid_one.trade_no)
    assert (paid.outcome, paid.error_code) == (Outcome.FAIL, "ORDER_PAID")
    assert (await channel.close("NEVER00001")).outcome is Outcome.SUCCESS
    assert (await channel.query(open_one.trade_no)).outcome is Outcome.FAIL
    assert (await channel.query("NEVER00001")).error_code == "ORDER_NOT_EXIST"


async def test_reorder_rules_and_validation(
        sandbox: Any, channel: WechatChannel, make_request: Any, credentials: dict[str, Any]) -> None:
    req = make_request(trade_no="REORDER0001")
    first, again = await channel.create(req), await channel.create(req)
    assert first.action == again.action
    changed = await channel.create(make_request(trade_no="REORDER0001", amount=999))
    assert (changed.outcome, changed.error_code) == (Outcome.CHANNEL_ERROR, "OUT_TRADE_NO_USED")
    await sandbox.control("pay/REORDER0001", {})
    assert (await channel.create(req)).error_code == "ORDER_PAID"
    bad = await channel.create(make_request(trade_no="bad no!"))
    assert (bad.outcome, bad.error_code) == (Outcome.CHANNEL_ERROR, "PARAM_ERROR")
    other_app = WechatChannel({**credentials, "appid": "wx0000000000000000"},
                              sandbox.http, sandbox.base_url)
    assert (await other_app.create(make_request(trade_no="APPID00001"))).error_code == "APPID_MCHID_NOT_MATCH"


async def test_expired_trade_is_closed_and_cannot_be_paid(
        sandbox: Any, channel: WechatChannel, make_request: Any) -> None:
    req = make_request(trade_no="EXPIRE0001", expires_in=1.2)
    created = await channel.create(req)
    await asyncio.sleep(1.5)
    assert (await channel.query(req.trade_no)).outcome is Outcome.FAIL
    assert (await sandbox.page(scan_page_url(sandbox.base_url, created.action.qr), "pay")).status == 409


async def test_refunds(sandbox: Any, receiver: Any, channel: WechatChannel, make_request: Any) -> None:
    req = make_request(trade_no="REFUND0001", amount=1000)
    await channel.create(req)
    await sandbox.control("pay/REFUND0001", {})
    await receiver.next()
    refund = RefundRequest("R1", req.trade_no, Money(300), Money(1000), reason="不想要了", notify_url=receiver.url)
    first = await channel.refund(refund)
    assert (first.outcome, first.amount) == (Outcome.WAITING, Money(300))
    note = await channel.parse_callback(await receiver.next())
    assert (note.kind, note.outcome, note.refund_no, note.refund_amount) == (
        "refund", Outcome.SUCCESS, "R1", Money(300))
    assert (await channel.query_refund(refund)).outcome is Outcome.SUCCESS
    assert (await channel.refund(refund)).outcome is Outcome.SUCCESS  # same refund_no: the same refund
    changed = await channel.refund(RefundRequest("R1", req.trade_no, Money(301), Money(1000)))
    assert (changed.outcome, changed.error_code) == (Outcome.CHANNEL_ERROR, "INVALID_REQUEST")
    over = await channel.refund(RefundRequest("R2", req.trade_no, Money(701), Money(1000)))
    assert (over.outcome, over.error_code) == (Outcome.CHANNEL_ERROR, "PARAM_ERROR")
    assert (await channel.query(req.trade_no)).outcome is Outcome.SUCCESS  # REFUND: it was paid
    missing = await channel.query_refund(RefundRequest("R9", req.trade_no, Money(1), Money(1000)))
    assert missing.error_code == "RESOURCE_NOT_EXISTS"

    await sandbox.control("faults", {"refunds": {"status": "ABNORMAL", "count": 1}})
    abnormal = RefundRequest("R3", req.trade_no, Money(100), Money(1000), notify_url=receiver.url)
    assert (await channel.refund(abnormal)).outcome is Outcome.WAITING
    note = await channel.parse_callback(await receiver.next())
    assert (note.kind, note.outcome) == ("refund", Outcome.FAIL)
    assert (await channel.query_refund(abnormal)).outcome is Outcome.FAIL


async def test_bill(sandbox: Any, receiver: Any, channel: WechatChannel, make_request: Any) -> None:
    req = make_request(trade_no="BILL000001", amount=1234, subject="a, b")
    await channel.create(req)
    await sandbox.control("pay/BILL000001", {})
    await channel.refund(RefundRequest("BR1", req.trade_no, Money(34), Money(1234)))
    lines = await channel.bill(datetime.now(CHINA).date())
    assert [(x.kind, x.trade_no, x.amount, x.refund_no) for x in lines] == [
        ("payment", "BILL000001", Money(1234), None), ("refund", "BILL000001", Money(34), "BR1")]
    assert await channel.bill(datetime(2020, 1, 1).date()) == []
