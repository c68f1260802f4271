"""Independent SDKs from PyPI -- ``wechatpayv3`` (WeChat Pay APIv3) and ``python-alipay-sdk`` -- pointed at
the sandboxes where the gateway mounts them (``/sandbox/wechat``, ``/sandbox/alipay/gateway.do``): their
own signing, transport and answer verification, unchanged. wechatpayv3 signs the API path relative to its
base URL, so this holds only because the sandbox accepts signatures over the path relative to its mount."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from wechatpayv3.core import Core
from wechatpayv3.type import RequestType

from gateway import keys
from gateway.channels.base import TradeRef
from gateway.domain.outcomes import Outcome
from tests.factories import Gateway, unique

alipay_sdk = pytest.importorskip("alipay")


def wechat_sdk(gw: Gateway) -> tuple[Core, dict[str, Any]]:
    k = gw.app[keys.SANDBOX_KEYS]["wechat"]
    sdk = Core(k["mchid"], k["merchant_serial"], k["merchant_private_key"], k["apiv3_key"],
               public_key=k["public_key"], public_key_id=k["public_key_id"])
    sdk._gate_way = f"{gw.url}/sandbox/wechat"  # the SDK's base URL; it signs the path after it
    return sdk, k


async def test_wechatpayv3_creates_queries_and_closes(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    sdk, k = await asyncio.to_thread(wechat_sdk, gw)
    no = unique("SDK")[:32]
    order = {"appid": k["appid"], "mchid": k["mchid"], "description": "独立SDK", "out_trade_no": no,
             "notify_url": f"{gw.url}/notify/wechat", "amount": {"total": 123, "currency": "CNY"}}
    status, text = await asyncio.to_thread(sdk.request, "/v3/pay/transactions/native", RequestType.POST, order)
    assert status == 200, text  # accepted (not SIGN_ERROR), and its signed answer verified by the SDK
    assert json.loads(text)["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    status, text = await asyncio.to_thread(sdk.request,
                                           f"/v3/pay/transactions/out-trade-no/{no}?mchid={k['mchid']}")
    assert status == 200 and json.loads(text)["trade_state"] == "NOTPAY", text
    async with gw.http.post(f"{gw.url}/sandbox/wechat/_control/pay/{no}", json={}) as resp:
        assert resp.status == 200
    status, text = await asyncio.to_thread(sdk.request,
                                           f"/v3/pay/transactions/out-trade-no/{no}?mchid={k['mchid']}")
    paid = json.loads(text)
    assert (status, paid["trade_state"], paid["amount"]["total"]) == (200, "SUCCESS", 123)
    # and by WeChat's own number
    status, text = await asyncio.to_thread(
        sdk.request, f"/v3/pay/transactions/id/{paid['transaction_id']}?mchid={k['mchid']}")
    assert status == 200 and json.loads(text)["out_trade_no"] == no
    status, text = await asyncio.to_thread(sdk.request, f"/v3/pay/transactions/out-trade-no/{no}/close",
                                           RequestType.POST, {"mchid": k["mchid"]})
    assert (status, json.loads(text)["code"]) == (400, "ORDER_PAID")


class _ChinaClock(datetime):
    """python-alipay-sdk stamps requests with the host's local clock: a merchant server on China time."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return datetime.now(timezone(timedelta(hours=8))).replace(tzinfo=None)


async def test_python_alipay_sdk_creates_and_queries(sqlite_gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    gw = sqlite_gateway
    monkeypatch.setattr(alipay_sdk, "datetime", _ChinaClock)
    k = gw.app[keys.SANDBOX_KEYS]["alipay"]
    sdk = alipay_sdk.AliPay(appid=k["app_id"], app_notify_url=None, app_private_key_string=k["app_private_key"],
                            alipay_public_key_string=k["alipay_public_key"], sign_type="RSA2")
    sdk._gateway = f"{gw.url}/sandbox/alipay/gateway.do"
    no = unique("SDK")
    created = await asyncio.to_thread(sdk.api_alipay_trade_precreate, subject="独立SDK", out_trade_no=no,
                                      total_amount="1.23")
    assert created["code"] == "10000" and created["qr_code"].startswith(f"{gw.url}/sandbox/alipay/qr/"), created
    unscanned = await asyncio.to_thread(sdk.api_alipay_trade_query, out_trade_no=no)
    assert unscanned["sub_code"] == "ACQ.TRADE_NOT_EXIST"  # accepted; a QR nobody scanned has no trade yet
    async with gw.http.post(f"{gw.url}/sandbox/alipay/_control/pay/{no}") as resp:
        assert resp.status == 200
    paid = await asyncio.to_thread(sdk.api_alipay_trade_query, out_trade_no=no)
    assert (paid["code"], paid["trade_status"], paid["total_amount"]) == ("10000", "TRADE_SUCCESS", "1.23")
    by_trade_no = await asyncio.to_thread(sdk.api_alipay_trade_query, trade_no=paid["trade_no"])
    assert by_trade_no["out_trade_no"] == no
    # the gateway's own client agrees, asked by Alipay's number alone
    channel = gw.svc.registry.channel("alipay").open(
        {**_sandbox_credentials(gw, "alipay")}, gw.http, f"{gw.url}/sandbox/alipay/gateway.do")
    state = await channel.query(TradeRef("", channel_trade_no=paid["trade_no"]))
    assert state.outcome is Outcome.SUCCESS and state.amount is not None and state.amount.minor == 123


def _sandbox_credentials(gw: Gateway, name: str) -> dict[str, Any]:
    from gateway.cli import sandbox_accounts

    return dict(sandbox_accounts(gw.svc.settings)[name])
