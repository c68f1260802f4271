"""An independent implementation (PyPI ``wechatpayv3``, synchronous, run in a thread) against our sandbox:
its signed requests are accepted, our signed answers (200 and 204), certificate list and callbacks verify
and decrypt with its routines."""
from __future__ import annotations

import asyncio
import json
from typing import Any

from wechatpayv3.core import Core
from wechatpayv3.type import RequestType

from gateway.channels.wechat import WechatChannel


def core(sandbox: Any, keys: dict[str, Any], *, public_key: bool) -> Core:
    extra = {"public_key": keys["public_key"], "public_key_id": keys["public_key_id"]} if public_key else {}

    class SandboxCore(Core):
        def _init_certificates(self) -> None:
            # certificate mode fetches /v3/certificates inside the constructor: point it at the sandbox first
            self._gate_way = sandbox.base_url
            super()._init_certificates()

    sdk = SandboxCore(keys["mchid"], keys["merchant_serial"], keys["merchant_private_key"], keys["apiv3_key"],
                      **extra)
    sdk._gate_way = sandbox.base_url
    return sdk


def order(keys: dict[str, Any], no: str, notify_url: str) -> dict[str, Any]:
    return {"appid": keys["appid"], "mchid": keys["mchid"], "description": "conformance", "out_trade_no": no,
            "notify_url": notify_url, "amount": {"total": 1, "currency": "CNY"}}


async def test_public_key_mode(root_sandbox: Any, receiver: Any, keys: dict[str, Any]) -> None:
    sdk = await asyncio.to_thread(core, root_sandbox, keys, public_key=True)
    status, text = await asyncio.to_thread(sdk.request, "/v3/pay/transactions/native", RequestType.POST,
                                           order(keys, "CONF000001", receiver.url))
    assert status == 200 and json.loads(text)["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    status, text = await asyncio.to_thread(
        sdk.request, f"/v3/pay/transactions/out-trade-no/CONF000001?mchid={keys['mchid']}")
    assert status == 200 and json.loads(text)["trade_state"] == "NOTPAY"

    await root_sandbox.control("pay/CONF000001", {})
    raw = await receiver.next()
    decoded = sdk.callback(raw.headers, raw.body)
    assert decoded["event_type"] == "TRANSACTION.SUCCESS"
    assert decoded["resource"]["out_trade_no"] == "CONF000001" and decoded["resource"]["amount"]["total"] == 1

    status, _ = await asyncio.to_thread(sdk.request, "/v3/pay/transactions/out-trade-no/CONF000002/close",
                                        RequestType.POST, {"mchid": keys["mchid"]})
    assert status == 404  # unknown trade, but the signed request itself was accepted


async def test_certificate_mode(root_sandbox: Any, keys: dict[str, Any], receiver: Any,
                                credentials: dict[str, Any]) -> None:
    await root_sandbox.control("mode", {"mode": "certificate"})
    sdk = await asyncio.to_thread(core, root_sandbox, keys, public_key=False)  # decrypts /v3/certificates
    assert [format(c.serial_number, "X") for c in sdk._certificates] == [keys["platform_serial"]]
    await asyncio.to_thread(sdk.request, "/v3/pay/transactions/native", RequestType.POST,
                            order(keys, "CONF000003", receiver.url))
    # a 204 with its empty body, signed: verified by the SDK (it raises otherwise)
    status, _ = await asyncio.to_thread(sdk.request, "/v3/pay/transactions/out-trade-no/CONF000003/close",
                                        RequestType.POST, {"mchid": keys["mchid"]})
    assert status == 204
    # and our channel reads what the SDK created
    channel = WechatChannel(credentials, root_sandbox.http, root_sandbox.base_url)
    assert (await channel.query("CONF000003")).error_code == "CLOSED"
