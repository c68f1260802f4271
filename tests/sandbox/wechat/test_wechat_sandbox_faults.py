"""Injected faults, refused Authorization, and every way a callback must fail verification."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from gateway.channels.base import RawCallback, RefundRequest, VerificationError
from gateway.channels.wechat import WechatChannel, signing
from gateway.crypto import rsa
from gateway.domain.money import Money
from gateway.domain.outcomes import Outcome

QUERY = "/v3/pay/transactions/out-trade-no"


@pytest.mark.parametrize(("fault", "expected"), [
    ({"mode": "timeout", "seconds": 3}, Outcome.UNKNOWN),
    ({"mode": "http500"}, Outcome.UNKNOWN),
    ({"mode": "not_json"}, Outcome.UNKNOWN),
    ({"mode": "bad_signature"}, Outcome.UNKNOWN),
    ({"mode": "business", "status": 403, "code": "NO_AUTH"}, Outcome.CHANNEL_ERROR),
])
async def test_api_faults_on_query(sandbox: Any, channel: WechatChannel, make_request: Any,
                                   fault: dict[str, Any], expected: Outcome) -> None:
    req = make_request()
    await channel.create(req)
    await sandbox.control("faults", {"api": {"operation": QUERY, "count": 1, **fault}})
    assert (await channel.query(req.trade_no)).outcome is expected
    assert (await channel.query(req.trade_no)).outcome is Outcome.WAITING  # count consumed


async def test_create_answer_lost_after_processing(sandbox: Any, channel: WechatChannel, make_request: Any) -> None:
    req = make_request()
    await sandbox.control("faults", {"api": {"operation": "/native", "mode": "http500", "after": True,
                                             "count": 1}})
    assert (await channel.create(req)).outcome is Outcome.UNKNOWN
    assert (await channel.query(req.trade_no)).outcome is Outcome.WAITING  # it was created after all


async def test_refund_business_errors(sandbox: Any, channel: WechatChannel, make_request: Any) -> None:
    req = make_request(amount=500)
    await channel.create(req)
    await sandbox.control(f"pay/{req.trade_no}", {})
    await sandbox.control("faults", {"api": [
        {"operation": "/refund/", "mode": "business", "status": 403, "code": "NOT_ENOUGH", "count": 1},
        {"operation": "/refund/", "mode": "business", "status": 500, "code": "SYSTEM_ERROR", "count": 1}]})
    refund = RefundRequest("RF1", req.trade_no, Money(100), Money(500))
    first = await channel.refund(refund)
    assert (first.outcome, first.error_code) == (Outcome.CHANNEL_ERROR, "NOT_ENOUGH")
    assert (await channel.refund(refund)).outcome is Outcome.UNKNOWN
    assert (await channel.refund(refund)).outcome is Outcome.WAITING


async def test_callback_faults(sandbox: Any, receiver: Any, channel: WechatChannel, make_request: Any) -> None:
    async def paid(no: str) -> None:
        await channel.create(make_request(trade_no=no))
        await sandbox.control(f"pay/{no}", {})

    await sandbox.control("faults", {"callbacks": {"mode": "drop", "count": 1}})
    await paid("DROP000001")  # first attempt lost; the 15 s retry (× 0.01) delivers it
    assert (await channel.parse_callback(await receiver.next())).trade_no == "DROP000001"

    await sandbox.control("faults", {"callbacks": {"mode": "duplicate", "count": 1}})
    await paid("DUP0000001")
    for _ in range(2):
        assert (await channel.parse_callback(await receiver.next())).trade_no == "DUP0000001"

    await sandbox.control("faults", {"callbacks": {"mode": "reorder", "seconds": 3, "count": 1}})
    await paid("FIRST00001")
    await paid("SECOND0001")
    got = [(await channel.parse_callback(await receiver.next())).trade_no for _ in range(2)]
    assert got == ["SECOND0001", "FIRST00001"]

    await sandbox.control("faults", {"callbacks": {"mode": "delay", "seconds": 0.5, "count": 1}})
    started = time.monotonic()
    await paid("DELAY00001")
    await receiver.next()
    assert time.monotonic() - started >= 0.5


async def test_callbacks_retried_until_acknowledged(
        sandbox: Any, receiver: Any, channel: WechatChannel, make_request: Any) -> None:
    receiver.default_status = 500
    await channel.create(make_request(trade_no="RETRY00001"))
    await sandbox.control("pay/RETRY00001", {})
    await receiver.next()
    await receiver.next()  # retried after 15 s × 0.01
    receiver.default_status = 200
    await receiver.next()
    await asyncio.sleep(0.5)
    assert receiver.unread() == 0


async def test_reset_cancels_pending_retries(
        sandbox: Any, receiver: Any, channel: WechatChannel, make_request: Any) -> None:
    receiver.default_status = 500
    await channel.create(make_request(trade_no="RESET00001"))
    await sandbox.control("pay/RESET00001", {})
    await receiver.next()
    assert (await sandbox.control("reset", {})) == {"ok": True}
    await asyncio.sleep(0.5)  # the 15 s retry × 0.01 would have come by now
    assert receiver.unread() == 0


@pytest.mark.parametrize("break_it", ["wrong_key", "stale", "unknown_mchid", "wrong_serial", "garbled"])
async def test_bad_authorization_is_401_sign_error(sandbox: Any, keys: dict[str, Any], break_it: str) -> None:
    path = "/sandbox/wechat/v3/pay/transactions/out-trade-no/T20240101000001?mchid=" + keys["mchid"]
    key = rsa.load_private_key(keys["merchant_private_key"])
    timestamp, mchid, serial = str(int(time.time())), keys["mchid"], keys["merchant_serial"]
    if break_it == "wrong_key":
        key = rsa.load_private_key(keys["platform_private_key"])
    elif break_it == "stale":
        timestamp = str(int(time.time()) - 301)
    elif break_it == "unknown_mchid":
        mchid = "1999999999"
    elif break_it == "wrong_serial":
        serial = "ABCDEF"
    header = signing.authorization(key, mchid=mchid, serial_no=serial, method="GET", path_qs=path, body=b"",
                                   timestamp=timestamp, nonce=signing.new_nonce())
    if break_it == "garbled":
        header = header.replace('mchid="', 'mch_id="')
    async with sandbox.http.get(str(sandbox.server.make_url(path)), headers={"Authorization": header}) as resp:
        assert resp.status == 401
        assert (await resp.json())["code"] == "SIGN_ERROR"


# --- callbacks that must not verify -----------------------------------------------------------------

async def test_genuine_crafted_callback_verifies(channel: WechatChannel, craft: Any) -> None:
    note = await channel.parse_callback(craft())
    assert (note.trade_no, note.amount) == ("T1", Money(1))


@pytest.mark.parametrize(("variant", "code"), [
    ({"timestamp": int(time.time()) - 3600}, "stale_timestamp"),
    ({"tamper": True}, "decrypt_failed"),
    ({"serial": "PUB_KEY_ID_0000000000"}, "unknown_serial"),
])
async def test_bad_callbacks(channel: WechatChannel, craft: Any, variant: dict[str, Any],
                             code: str) -> None:
    with pytest.raises(VerificationError) as err:
        await channel.parse_callback(craft(**variant))
    assert err.value.code == code


async def test_tampered_body_and_probe(sandbox: Any, receiver: Any, channel: WechatChannel, craft: Any) -> None:
    good = craft()
    with pytest.raises(VerificationError) as err:
        await channel.parse_callback(RawCallback(good.body.replace(b"EV-1", b"EV-2"), good.headers, "application/json"))
    assert err.value.code == "bad_signature"
    assert (await sandbox.control("probe", {"notify_url": receiver.url}))["status"] == 204
    with pytest.raises(VerificationError) as err:
        await channel.parse_callback(await receiver.next())
    assert err.value.code == "signature_probe"
    assert channel.acknowledge(False) == (500, "application/json", '{"code":"FAIL","message":"失败"}'.encode())
