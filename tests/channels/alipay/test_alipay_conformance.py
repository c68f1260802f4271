"""Conformance against an independent implementation: python-alipay-sdk (import ``alipay``).

(a) requests signed by our client carry the very signature that implementation computes and verify
with its routine; (b) the sandbox's responses, notifies and return redirects verify with it; (c) its
own signed requests -- through its own blocking HTTP client -- are accepted by the sandbox.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
import pytest
from aiohttp import web

from gateway.channels.alipay import AlipayChannel, AlipayFactory
from gateway.channels.alipay import transformers as tx
from gateway.channels.base import CreateRequest
from gateway.domain.money import Money
from gateway.sandbox.alipay import create_app, merchant_credentials
from tests.support.net import free_port

alipay_sdk = pytest.importorskip("alipay")

FIXED = datetime(2024, 5, 1, 4, 0, 0, tzinfo=UTC)


def _sdk(keys: dict[str, Any], *, verify_with: str = "alipay_public_key", gateway: str | None = None) -> Any:
    client = alipay_sdk.AliPay(appid=keys["app_id"], app_notify_url=None,
                               app_private_key_string=keys["app_private_key"],
                               alipay_public_key_string=keys[verify_with], sign_type="RSA2")
    if gateway:
        client._gateway = gateway
    return client


def _channel(keys: dict[str, Any], http: Any, base_url: str, clock: Any = None) -> AlipayChannel:
    channel = AlipayFactory(timeout=3).open(merchant_credentials(keys), http, base_url)
    if clock:
        channel._clock = clock
    return channel


def test_a_our_request_signature_is_the_independent_one(alipay_keys: dict[str, Any]) -> None:
    channel = _channel(alipay_keys, None, "https://openapi.example/gateway.do", lambda: FIXED)
    req = CreateRequest(trade_no="订单-1", pay_method="alipay_page", amount=Money(1), subject="测试 & {x}",
                        expires_at=FIXED + timedelta(minutes=5), notify_url="https://m/notify?a=1&b=2",
                        return_url="https://m/return")
    url = channel.page_url(tx.PAGE_PAY, tx.create_biz(req), notify_url=req.notify_url, return_url=req.return_url)
    params = dict(parse_qsl(url.split("?", 1)[1], keep_blank_values=True))
    ours = params.pop("sign")
    sdk = _sdk(alipay_keys, verify_with="app_public_key")  # verifying a request needs the app's public key
    theirs = dict(parse_qsl(sdk.sign_data(dict(params))))["sign"]
    assert ours == theirs  # PKCS#1 v1.5 is deterministic: same content, same bytes
    content = "&".join(f"{k}={v}" for k, v in sdk._ordered_data(dict(params)))
    assert sdk._verify(content, ours)
    assert not sdk._verify(content + "x", ours)


@pytest.fixture
async def served(aiohttp_server: Any, alipay_keys: dict[str, Any]) -> AsyncIterator[tuple[str, str, list[bytes]]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # python-alipay-sdk stamps requests with the local clock, not Beijing time: no skew check here.
    await aiohttp_server(create_app(alipay_keys, public_url=url, time_scale=0.001, timestamp_tolerance=None),
                         port=port)
    bodies: list[bytes] = []

    async def notify(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        return web.Response(text="success")

    receiver = web.Application()
    receiver.router.add_post("/notify", notify)
    server = await aiohttp_server(receiver)
    yield url, str(server.make_url("/notify")), bodies


async def test_b_sandbox_answers_notifies_and_returns_verify_independently(
        served: tuple[str, str, list[bytes]], alipay_keys: dict[str, Any]) -> None:
    url, receiver_url, bodies = served
    sdk = _sdk(alipay_keys)
    async with aiohttp.ClientSession() as http:
        channel = _channel(alipay_keys, http, f"{url}/gateway.do")
        for method, biz in ((tx.QUERY, {"out_trade_no": "nope"}), (tx.CLOSE, {"out_trade_no": "nope"})):
            answer = await channel.call(method, biz)
            assert answer.response is not None and answer.response["sub_code"] == "ACQ.TRADE_NOT_EXIST"
        # raw answers through the SDK's own locate-and-verify routine
        for method, biz in ((tx.PRECREATE, {"out_trade_no": "S1", "total_amount": "0.10", "subject": "中文 {x}"}),
                            (tx.QUERY, {"out_trade_no": "S1"})):
            params = channel._signed(method, biz, notify_url=None)
            async with http.get(f"{url}/gateway.do?{urlencode(params)}") as resp:
                raw = await resp.text()
            verified = sdk._verify_and_return_sync_response(raw, method.replace(".", "_") + "_response")
            assert verified["code"] in ("10000", "40004")
        req = CreateRequest(trade_no="S2", pay_method="alipay_wap", amount=Money(500), subject="茶",
                            expires_at=datetime.now(UTC) + timedelta(minutes=5), notify_url=receiver_url,
                            return_url="http://127.0.0.1:9/return")
        pay_url = (await channel.create(req)).action.url
        async with http.post(pay_url, data={"action": "pay"}, allow_redirects=False) as resp:
            location = resp.headers["Location"]
        returned = dict(parse_qsl(location.split("?", 1)[1]))
        returned_sign = returned.pop("sign")
        assert sdk.verify(returned, returned_sign)
        for _ in range(100):
            if bodies:
                break
            await asyncio.sleep(0.05)
        notified = dict(parse_qsl(bodies[0].decode()))
        signature = notified.pop("sign")
        assert notified["trade_status"] == "TRADE_SUCCESS"
        assert sdk.verify(notified, signature)


async def test_c_independent_client_is_accepted(served: tuple[str, str, list[bytes]],
                                               alipay_keys: dict[str, Any]) -> None:
    url, _, _ = served
    sdk = _sdk(alipay_keys, gateway=f"{url}/gateway.do")
    created = await asyncio.to_thread(sdk.api_alipay_trade_precreate, subject="测试", out_trade_no="I1",
                                      total_amount="1.23")
    assert created["code"] == "10000" and created["qr_code"].startswith(f"{url}/qr/")
    query = await asyncio.to_thread(sdk.api_alipay_trade_query, out_trade_no="I1")
    assert query["sub_code"] == "ACQ.TRADE_NOT_EXIST"  # accepted (signature fine), QR not scanned yet
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/_control/pay/I1") as resp:
            assert resp.status == 200
        page = sdk.client_api("alipay.trade.page.pay", {"out_trade_no": "I2", "total_amount": "2.00",
                                                         "subject": "页面", "product_code": "FAST_INSTANT_TRADE_PAY"},
                              return_url="http://127.0.0.1:9/return")
        async with http.get(f"{url}/gateway.do?{page}") as resp:
            html = await resp.text()
        assert 'data-status="WAIT_BUYER_PAY"' in html
    paid = await asyncio.to_thread(sdk.api_alipay_trade_query, out_trade_no="I1")
    assert (paid["code"], paid["trade_status"], paid["total_amount"]) == ("10000", "TRADE_SUCCESS", "1.23")
    refund = await asyncio.to_thread(sdk.api_alipay_trade_refund, refund_amount="0.23", out_trade_no="I1",
                                     out_request_no="I1-r")
    # accepted, money not moved yet (the sandbox's default refund timing): the refund query confirms it
    assert (refund["code"], refund["fund_change"], refund["refund_fee"]) == ("10000", "N", "0.00")
    for _ in range(100):
        refund_query = await asyncio.to_thread(sdk.api_alipay_trade_fastpay_refund_query, "I1-r", out_trade_no="I1")
        if refund_query.get("refund_status"):
            break
        await asyncio.sleep(0.02)
    assert (refund_query["refund_status"], refund_query["refund_amount"]) == ("REFUND_SUCCESS", "0.23")
