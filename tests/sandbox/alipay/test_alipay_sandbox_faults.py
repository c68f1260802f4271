"""Fault injection, gateway-level refusals, key rotation and callback verification failures."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

import pytest

from gateway.channels.alipay import signing
from gateway.channels.alipay import transformers as tx
from gateway.channels.base import RawCallback, RefundRequest, VerificationError
from gateway.crypto import rsa
from gateway.domain.money import Money
from gateway.domain.outcomes import Outcome
from gateway.sandbox.alipay import generate_keys
from tests.sandbox.alipay.alipay_env import Env


async def _paid(env: Env, no: str, fen: int = 1000) -> None:
    await env.channel.create(env.request(no, fen=fen))
    await env.control("POST", f"pay/{no}")
    await env.note()


async def test_api_timeout_is_unknown_but_applied(env: Env) -> None:
    await _paid(env, "T1")
    await env.control("POST", "faults", {"api": {"operation": tx.REFUND, "mode": "timeout", "seconds": 1.5}})
    refund = RefundRequest("T1-r", "T1", Money(100), Money(1000))
    result = await env.channel.refund(refund)
    assert (result.outcome, result.error_code) == (Outcome.UNKNOWN, "TIMEOUT")
    assert (await env.channel.query_refund(refund)).outcome is Outcome.SUCCESS  # it went through after all


@pytest.mark.parametrize(("fault", "code"), [
    ({"mode": "http500"}, "HTTP_500"),
    ({"mode": "business", "sub_code": "ACQ.SYSTEM_ERROR"}, "ACQ.SYSTEM_ERROR"),
    ({"mode": "business", "sub_code": "isp.unknow-error"}, "isp.unknow-error"),
    ({"mode": "bad_signature"}, "SIGNATURE_INVALID"),
    ({"mode": "not_json", "status": 502}, "HTTP_502"),  # the kit's vocabulary: WeChat's modes work here too
])
async def test_api_faults_are_unknown(env: Env, fault: dict, code: str) -> None:
    await env.channel.create(env.request("F1"))
    await env.control("POST", "faults", {"api": {"operation": tx.QUERY, **fault}})
    state = await env.channel.query("F1")
    assert (state.outcome, state.error_code) == (Outcome.UNKNOWN, code)
    assert (await env.channel.query("F1")).outcome is Outcome.WAITING  # count=1: next call is normal


async def test_business_fault_on_refund_and_create(env: Env) -> None:
    await _paid(env, "F2")
    await env.control("POST", "faults", {"api": [{"operation": tx.REFUND, "mode": "business"},
                                                 {"operation": tx.PRECREATE, "mode": "http500"}]})
    assert (await env.channel.refund(RefundRequest("x", "F2", Money(1), Money(1000)))).outcome is Outcome.UNKNOWN
    assert (await env.channel.create(env.request("F3"))).outcome is Outcome.UNKNOWN
    assert (await env.control("GET", "trades/F3"))["error"]  # http500: not applied


async def test_http500_after_is_applied_and_a_timeout_can_be_not_applied(env: Env) -> None:
    await _paid(env, "T2")
    await env.control("POST", "faults", {"api": [
        {"operation": tx.REFUND, "mode": "http500", "after": True},
        {"operation": tx.REFUND, "mode": "timeout", "seconds": 0.2, "after": False}]})
    first = RefundRequest("T2-r1", "T2", Money(100), Money(1000))
    assert (await env.channel.refund(first)).outcome is Outcome.UNKNOWN
    assert (await env.channel.query_refund(first)).outcome is Outcome.SUCCESS  # applied, the answer was lost
    second = RefundRequest("T2-r2", "T2", Money(100), Money(1000))
    assert (await env.channel.refund(second)).outcome is Outcome.UNKNOWN
    assert (await env.control("GET", "trades/T2"))["refunded_fen"] == 100  # the timed-out one never happened


async def test_callback_drop_is_retried(env: Env) -> None:
    await env.control("POST", "faults", {"callbacks": {"mode": "drop"}})
    await env.channel.create(env.request("D1"))
    await env.control("POST", "pay/D1")
    assert (await env.note()).trade_no == "D1"  # arrives with the first retry (4 min × time_scale)
    [delivery] = (await env.control("GET", "trades/D1"))["notifies"]
    assert delivery["attempts"] == 2 and delivery["acked"] and delivery["answers"][0] == "dropped"


async def test_retried_until_success(env: Env) -> None:
    env.merchant.fail_next = 2
    await env.channel.create(env.request("D2"))
    await env.control("POST", "pay/D2")
    assert (await env.note()).trade_no == "D2"
    [delivery] = (await env.control("GET", "trades/D2"))["notifies"]
    assert delivery["attempts"] == 3 and delivery["answers"][0].endswith("b'fail'")


async def test_callback_duplicate(env: Env) -> None:
    await env.control("POST", "faults", {"callbacks": {"mode": "duplicate"}})
    await env.channel.create(env.request("D3"))
    await env.control("POST", "pay/D3")
    first, second = await env.note(), await env.note()
    assert first.event_id == second.event_id and first.trade_no == second.trade_no == "D3"


async def test_callback_delay(env: Env) -> None:
    await env.control("POST", "faults", {"callbacks": {"mode": "delay", "seconds": 0.8}})
    await env.channel.create(env.request("D4"))
    started = asyncio.get_running_loop().time()
    await env.control("POST", "pay/D4")
    await env.note()
    assert asyncio.get_running_loop().time() - started >= 0.8


async def test_callback_reorder(env: Env) -> None:
    for no in ("O1", "O2"):
        await env.channel.create(env.request(no))
    await env.control("POST", "faults", {"callbacks": {"mode": "reorder", "seconds": 3}})
    await env.control("POST", "pay/O1")
    await env.control("POST", "pay/O2")
    assert [(await env.note()).trade_no, (await env.note()).trade_no] == ["O2", "O1"]


async def test_wrong_app_key_is_refused_with_40002(env: Env) -> None:
    stranger = env.open(app_private_key=generate_keys()["app_private_key"])
    state = await stranger.query("nothing")
    assert (state.outcome, state.error_code) == (Outcome.CHANNEL_ERROR, "isv.invalid-signature")
    other_app = env.open(app_id="2021000000000009")
    # unsigned, as Alipay sends it: a decline with its code, not "unknown"
    refused = await other_app.query("nothing")
    assert (refused.outcome, refused.error_code) == (Outcome.CHANNEL_ERROR, "isv.invalid-app-id")
    raw = await other_app._send(tx.QUERY, {"out_trade_no": "nothing"})
    assert isinstance(raw, bytes) and '"sign"' not in raw.decode()


async def test_stale_timestamp_is_refused(env: Env) -> None:
    env.channel._clock = lambda: datetime.now(UTC) - timedelta(minutes=20)
    assert (await env.channel.query("nothing")).error_code == "isv.invalid-timestamp"


async def test_missing_parameters_40001(env: Env) -> None:
    params = dict(parse_qsl(env.channel.page_url(tx.QUERY, {"out_trade_no": "x"}, notify_url=None,
                                                 return_url=None).split("?", 1)[1]))
    del params["sign"]
    async with env.http.get(f"{env.sandbox_url}/gateway.do?{urlencode(params)}") as resp:
        body = await resp.text()
    located = signing.locate_response(body, tx.QUERY)
    answer = tx.loads(located.content)
    assert (answer["code"], answer["sub_code"]) == ("40001", "isv.missing-signature")
    assert signing.verify_any([rsa.load_public_key(env.keys["alipay_public_key"])], located.content, located.sign)


async def test_key_rotation_unknown_until_gateway_has_new_key(env: Env) -> None:
    await env.channel.create(env.request("K1"))
    rotated = await env.control("POST", "rotate-keys")
    state = await env.channel.query("K1")
    assert (state.outcome, state.error_code) == (Outcome.UNKNOWN, "SIGNATURE_INVALID")
    both = env.open(alipay_public_keys=[rotated["alipay_public_key_b64"]])  # old + new during the rotation
    assert (await both.query("K1")).outcome is Outcome.WAITING
    only_new = env.open(alipay_public_key=rotated["alipay_public_key"])
    assert (await only_new.query("K1")).outcome is Outcome.WAITING
    await env.control("POST", "reset")
    assert (await env.channel.query("K1")).error_code == "ACQ.TRADE_NOT_EXIST"  # back to the original key


async def _notify_body(env: Env) -> bytes:
    await _paid(env, "N1")
    return env.merchant.bodies[-1]


def _resign(env: Env, params: dict[str, str], content: str | None = None) -> bytes:
    key = rsa.load_private_key(env.keys["alipay_private_key"])
    params["sign"] = signing.sign(key, content if content is not None else signing.notify_sign_content(params))
    return urlencode(params).encode()


async def test_notify_negative_cases(env: Env) -> None:
    body = await _notify_body(env)
    params = dict(parse_qsl(body.decode()))

    async def reason(raw: bytes) -> str:
        with pytest.raises(VerificationError) as exc:
            await env.channel.parse_callback(RawCallback(raw, {}, "application/x-www-form-urlencoded"))
        return exc.value.code

    assert (await env.channel.parse_callback(RawCallback(body, {}, "x"))).trade_no == "N1"
    assert await reason(urlencode({**params, "total_amount": "0.01"}).encode()) == "bad_signature"  # tampered
    assert await reason(urlencode({k: v for k, v in params.items() if k != "sign"}).encode()) == "missing_signature"
    assert await reason(urlencode({**params, "sign": params["sign"][::-1]}).encode()) == "bad_signature"
    other = dict(params, total_amount="0.01")
    assert await reason(_resign(env, other, "total_amount=0.01")) == "bad_signature"  # signed other content
    assert await reason(urlencode({**params, "sign_type": "RSA"}).encode()) == "unsupported_sign_type"
    assert await reason(body + b"&sign=x") == "malformed"
    assert await reason(b"\xff\xfe") == "malformed"
    stranger = dict(params, app_id="2021000000000009")
    assert await reason(_resign(env, stranger)) == "wrong_account"
    # sign_type is not part of the notify's signed content (rsaCheckV1)
    no_type = {k: v for k, v in params.items() if k != "sign_type"}
    assert (await env.channel.parse_callback(RawCallback(urlencode(no_type).encode(), {}, "x"))).trade_no == "N1"
