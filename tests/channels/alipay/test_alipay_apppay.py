"""The APP pay order string, byte for byte against python-alipay-sdk's ``sign_data`` (the same pairs,
URL-encoded the same way, the same signature; the SDK only appends ``sign`` last instead of in order)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote_plus

import pytest

from gateway.channels.alipay import AlipayFactory, apppay
from gateway.channels.base import CreateRequest
from gateway.domain.money import Money
from gateway.domain.pay import ActionKind
from gateway.sandbox.alipay import merchant_credentials

alipay_sdk = pytest.importorskip("alipay")
FIXED = datetime(2024, 5, 1, 4, 0, 0, tzinfo=UTC)


async def test_order_string_is_the_sdks(alipay_keys: dict[str, Any]) -> None:
    channel = AlipayFactory().open(merchant_credentials(alipay_keys), None, "https://openapi.example/gateway.do")  # type: ignore[arg-type]
    channel._clock = lambda: FIXED
    req = CreateRequest(trade_no="订单-1", pay_method="alipay_app", amount=Money(1001), subject="茶 & 点心 = 好",
                        expires_at=FIXED + timedelta(minutes=5), notify_url="https://m.example/notify?a=1&b=2")
    created = await channel.create(req)
    assert created.action is not None and created.action.kind is ActionKind.APP
    ours = created.action.params[apppay.ORDER_STRING]
    fields = dict(parse_qsl(ours, keep_blank_values=True))
    signature = fields.pop("sign")
    sdk = alipay_sdk.AliPay(appid=alipay_keys["app_id"], app_notify_url=None,
                            app_private_key_string=alipay_keys["app_private_key"],
                            alipay_public_key_string=alipay_keys["alipay_public_key"], sign_type="RSA2")
    theirs = sdk.sign_data(dict(fields))
    assert theirs.endswith("&sign=" + quote_plus(signature))  # same content signed, same bytes
    assert sorted(ours.split("&")) == sorted(theirs.split("&"))
    assert " " not in ours and "&b=2" not in ours and fields["timestamp"] == "2024-05-01 12:00:00"


def test_values_are_encoded_as_javas_urlencoder_does() -> None:
    assert apppay.order_string({"b": "x y~*", "a": "中", "c": ""}) == "a=%E4%B8%AD&b=x+y%7E*"
