"""APP pay against the Alipay sandbox: the order string our channel signs (checked with python-alipay-sdk),
the page standing in for the Alipay app taking it, paying, the notify -- and the SDK's own order string."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest

from gateway.channels.alipay import apppay
from gateway.domain.outcomes import Outcome
from gateway.domain.pay import ActionKind
from tests.sandbox.alipay.alipay_env import Env

alipay_sdk = pytest.importorskip("alipay")


def _sdk(keys: dict[str, Any], verify_with: str) -> Any:
    return alipay_sdk.AliPay(appid=keys["app_id"], app_notify_url=None, app_private_key_string=keys["app_private_key"],
                             alipay_public_key_string=keys[verify_with], sign_type="RSA2")


async def test_app_pay_end_to_end(env: Env) -> None:
    created = await env.channel.create(env.request("app-1", method="alipay_app", fen=1288, subject="茶 & 点心"))
    assert created.outcome is Outcome.SUCCESS and created.action is not None
    assert created.action.kind is ActionKind.APP
    order = created.action.params[apppay.ORDER_STRING]
    assert " " not in order and "茶" not in order  # every value URL-encoded
    fields = dict(parse_qsl(order, keep_blank_values=True))
    assert list(fields) == sorted(fields)  # sorted by key, sign among them
    assert fields["method"] == "alipay.trade.app.pay" and fields["notify_url"].endswith("/notify")
    biz = json.loads(fields["biz_content"])
    assert (biz["out_trade_no"], biz["total_amount"], biz["product_code"]) == ("app-1", "12.88", "QUICK_MSECURITY_PAY")
    signature = fields.pop("sign")
    sdk = _sdk(env.keys, verify_with="app_public_key")  # what Alipay checks: the app's signature
    assert sdk._verify("&".join(f"{k}={v}" for k, v in sdk._ordered_data(fields)), signature)
    # nothing exists at Alipay until the app submits the string
    assert (await env.channel.query("app-1")).error_code == "ACQ.TRADE_NOT_EXIST"

    page = f"{env.sandbox_url}/app/pay?{order}"
    async with env.http.get(page) as resp:
        assert resp.status == 200 and 'data-status="WAIT_BUYER_PAY"' in await resp.text()
    assert (await env.channel.query("app-1")).outcome is Outcome.WAITING
    assert (await env.pay_page(page, "pay")).status == 200
    note = await env.note()
    assert (note.trade_no, note.outcome, note.amount and note.amount.minor) == ("app-1", Outcome.SUCCESS, 1288)
    async with env.http.get(page) as resp:  # the app shows how it ended; no second payment
        text = await resp.text()
        assert 'data-status="TRADE_SUCCESS"' in text and 'name="action"' not in text


async def test_a_tampered_order_string_is_refused(env: Env) -> None:
    created = await env.channel.create(env.request("app-2", method="alipay_app", fen=500))
    assert created.action is not None
    order = created.action.params[apppay.ORDER_STRING]
    cheaper = order.replace(quote('"total_amount":"5.00"', safe=""), quote('"total_amount":"0.01"', safe=""))
    assert cheaper != order
    async with env.http.get(f"{env.sandbox_url}/app/pay?{cheaper}") as resp:
        assert resp.status == 400 and "isv.invalid-signature" in await resp.text()
    assert (await env.channel.query("app-2")).error_code == "ACQ.TRADE_NOT_EXIST"


async def test_the_sdks_order_string_is_accepted(env: Env) -> None:
    sdk = _sdk(env.keys, verify_with="alipay_public_key")
    order = sdk.api_alipay_trade_app_pay(subject="SDK", out_trade_no="app-sdk", total_amount="3.21",
                                         notify_url=f"{env.receiver_url}/notify")
    page = f"{env.sandbox_url}/app/pay?{order}"
    async with env.http.get(page) as resp:
        assert resp.status == 200, await resp.text()
    assert (await env.pay_page(page, "pay")).status == 200
    state = await env.channel.query("app-sdk")
    assert state.outcome is Outcome.SUCCESS and state.amount is not None and state.amount.minor == 321
