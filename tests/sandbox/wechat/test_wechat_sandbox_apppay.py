"""APP pay against the WeChat sandbox: the prepay at ``/v3/pay/transactions/app`` under the mobile app's
appid, PayReq's signed parameters (agreeing with wechatpayv3's ``sign``), the page standing in for the
WeChat app checking them, paying, and the notify naming the mobile app's appid accepted by our channel."""
from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode

from wechatpayv3.core import Core
from wechatpayv3.type import RequestType

from gateway.channels.base import RawCallback
from gateway.channels.wechat import WechatChannel, apppay
from gateway.crypto import rsa
from gateway.domain.outcomes import Outcome
from tests.sandbox.wechat.conftest import Sandbox
from tests.support.receiver import Receiver


def _page(sandbox: Sandbox, params: dict[str, str]) -> str:
    return f"{sandbox.base_url}/app/pay?{urlencode(params)}"


async def test_app_pay_end_to_end(channel: WechatChannel, sandbox: Sandbox, receiver: Receiver, keys: dict[str, Any],
                                  make_request: Any) -> None:
    assert keys["app_appid"] != keys["appid"]  # the mobile app is not the official account
    created = await channel.create(make_request("wechat_app", trade_no="APP0000001", amount=880))
    assert created.outcome is Outcome.SUCCESS and created.action is not None, created
    params = dict(created.action.params)
    assert (params["appid"], params["partnerid"], params["package"]) == (keys["app_appid"], keys["mchid"], "Sign=WXPay")
    assert params["prepayid"].startswith("wx") and params["timestamp"].isdigit()
    # the exact message: appid, timestamp, noncestr, the BARE prepay_id, each line ending in \n
    message = f"{params['appid']}\n{params['timestamp']}\n{params['noncestr']}\n{params['prepayid']}\n".encode()
    assert rsa.verify(rsa.load_public_key(keys["merchant_certificate"]), message, params["sign"])
    assert (await channel.query("APP0000001")).outcome is Outcome.WAITING

    # the WeChat app refuses tampered parameters (errCode -1) …
    for bent in ({"sign": params["sign"][:-4] + "AAA="}, {"package": "prepay_id=" + params["prepayid"]},
                 {"appid": keys["appid"]}, {"partnerid": "1900000000"}):
        async with sandbox.http.get(_page(sandbox, {**params, **bent})) as resp:
            assert resp.status == 400 and 'data-code="-1"' in await resp.text(), bent
    # … Cancel leaves the order open (errCode -2), Pay pays it
    assert (await sandbox.page(_page(sandbox, params), "cancel")).status == 200
    assert (await channel.query("APP0000001")).outcome is Outcome.WAITING
    assert (await sandbox.page(_page(sandbox, params), "pay")).status == 200
    state = await channel.query("APP0000001")
    assert state.outcome is Outcome.SUCCESS and state.amount is not None and state.amount.minor == 880
    raw = await receiver.next()
    note = await channel.parse_callback(RawCallback(raw.body, raw.headers, "application/json"))
    assert (note.trade_no, note.outcome) == ("APP0000001", Outcome.SUCCESS)
    assert note.identities == {"mchid": keys["mchid"], "appid": keys["appid"]}  # matches the channel's identities
    assert dict(channel.identities) == note.identities


async def test_app_prepay_needs_the_mobile_apps_appid(root_sandbox: Sandbox, keys: dict[str, Any],
                                                      receiver: Receiver) -> None:
    sdk = await asyncio.to_thread(Core, keys["mchid"], keys["merchant_serial"], keys["merchant_private_key"],
                                  keys["apiv3_key"], public_key=keys["public_key"], public_key_id=keys["public_key_id"])
    sdk._gate_way = root_sandbox.base_url
    order = {"mchid": keys["mchid"], "description": "app", "out_trade_no": "APPSDK0001", "notify_url": receiver.url,
             "amount": {"total": 1, "currency": "CNY"}}
    status, text = await asyncio.to_thread(sdk.request, "/v3/pay/transactions/app", RequestType.POST,
                                           {**order, "appid": keys["appid"]})
    assert status == 400 and json.loads(text)["code"] == "APPID_MCHID_NOT_MATCH"
    status, text = await asyncio.to_thread(sdk.request, "/v3/pay/transactions/app", RequestType.POST,
                                           {**order, "appid": keys["app_appid"]})
    assert status == 200, text
    prepay_id = json.loads(text)["prepay_id"]
    # PayReq signed by the independent implementation: the same bytes as ours, and the sandbox's app takes it
    timestamp, nonce = "1700000000", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"
    theirs = sdk.sign([keys["app_appid"], timestamp, nonce, prepay_id])
    ours = apppay.app_params(rsa.load_private_key(keys["merchant_private_key"]), appid=keys["app_appid"],
                             mchid=keys["mchid"], prepay_id=prepay_id, timestamp=timestamp, nonce=nonce)
    assert ours["sign"] == theirs
    async with root_sandbox.http.get(_page(root_sandbox, ours)) as resp:
        assert resp.status == 200 and 'name="action"' in await resp.text()
