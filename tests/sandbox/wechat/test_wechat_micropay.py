"""The WeChat sandbox's APIv2 barcode desk over HTTP: signatures checked both ways, the password wait,
and the reverse that answers only over mutual TLS with the merchant's client certificate."""
from __future__ import annotations

import ssl
from typing import Any

import aiohttp
import pytest

from gateway.channels.base import TradeRef
from gateway.channels.wechat import WechatChannel, micropay, v2
from gateway.domain.outcomes import Outcome
from gateway.sandbox.wechat.v2_keys import v2_keys
from tests.sandbox.wechat.conftest import Sandbox
from tests.support.waiting import eventually

CODE = "134444444444444441"


def _signed(keys: dict[str, Any], key: str | None = None, **fields: str) -> bytes:
    params = {"appid": keys["appid"], "mch_id": keys["mchid"], "nonce_str": v2.nonce(), "sign_type": v2.HMAC_SHA256,
              **fields}
    params["sign"] = v2.sign(params, key or keys["apiv2_key"])
    return v2.to_xml(params)


async def _post(sandbox: Sandbox, path: str, body: bytes, **kwargs: Any) -> tuple[int, dict[str, str], str]:
    async with sandbox.http.post(f"{sandbox.base_url}{path}", data=body, allow_redirects=False, **kwargs) as resp:
        raw = await resp.read()
        return resp.status, (v2.from_xml(raw) if resp.status == 200 else {}), resp.headers.get("Location", "")


async def test_paid_at_once(channel: WechatChannel, make_request: Any, sandbox: Sandbox) -> None:
    result = await channel.create(make_request("wechat_barcode", trade_no="MP1", payer_id=CODE))
    assert result.outcome is Outcome.SUCCESS and result.state is not None
    assert result.state.outcome is Outcome.SUCCESS and result.state.amount is not None
    assert result.state.amount.minor == 1234 and result.state.channel_trade_no
    # The order lives with the v3 ones: queried by v3, refundable like any.
    assert (await channel.query("MP1")).outcome is Outcome.SUCCESS


async def test_password_wait_then_paid(channel: WechatChannel, make_request: Any, sandbox: Sandbox) -> None:
    result = await channel.create(make_request("wechat_barcode", trade_no="MP2", payer_id=CODE[:-1] + "0"))
    assert result.state is not None and result.state.outcome is Outcome.WAITING
    ref = TradeRef("MP2", pay_method=micropay.METHOD)
    state = await eventually(lambda: channel.query(ref), lambda s: s.outcome is Outcome.SUCCESS, seconds=5)
    assert state.outcome is Outcome.SUCCESS


async def test_declined_and_malformed(channel: WechatChannel, make_request: Any, sandbox: Sandbox) -> None:
    declined = await channel.create(make_request("wechat_barcode", trade_no="MP3", payer_id=CODE[:-1] + "9"))
    assert (declined.outcome, declined.error_code) == (Outcome.CHANNEL_ERROR, "NOTENOUGH")
    bad = await channel.create(make_request("wechat_barcode", trade_no="MP4", payer_id="2844444444444444"))
    assert (bad.outcome, bad.error_code) == (Outcome.CHANNEL_ERROR, "AUTH_CODE_INVALID")


async def test_request_signatures_are_checked(sandbox: Sandbox, keys: dict[str, Any]) -> None:
    fields = {"body": "x", "out_trade_no": "MP5", "total_fee": "1", "spbill_create_ip": "127.0.0.1", "auth_code": CODE}
    status, answer, _ = await _post(sandbox, "/pay/micropay", _signed(keys, key="0" * 32, **fields))
    assert status == 200 and answer == {"return_code": "FAIL", "return_msg": "签名错误"}
    status, answer, _ = await _post(sandbox, "/pay/micropay", _signed(keys, **fields))
    assert answer["result_code"] == "SUCCESS" and v2.verify(answer, keys["apiv2_key"], v2.HMAC_SHA256)


async def test_reverse_needs_the_client_certificate(channel: WechatChannel, make_request: Any, sandbox: Sandbox,
                                                    keys: dict[str, Any]) -> None:
    await channel.create(make_request("wechat_barcode", trade_no="MP6", payer_id=CODE[:-1] + "8"))
    body = _signed(keys, out_trade_no="MP6")
    status, _, location = await _post(sandbox, "/secapi/pay/reverse", body)
    assert status == 307 and location.startswith("https://")  # the plain path offers no certificate
    trusting = ssl.create_default_context(cadata=keys["apiv2_ca_certificate"])
    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):  # no client certificate
        async with sandbox.http.post(location, data=body, ssl=trusting) as resp:
            await resp.read()
    # The same mchid's certificate, issued by another CA: refused as well.
    stranger = micropay.client_ssl({**_client(v2_keys(keys["mchid"])), "apiv2_ca": keys["apiv2_ca_certificate"]})
    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
        async with sandbox.http.post(location, data=body, ssl=stranger) as resp:
            await resp.read()
    assert (await channel.query(TradeRef("MP6", pay_method=micropay.METHOD))).outcome is Outcome.WAITING
    closed = await channel.close(TradeRef("MP6", pay_method=micropay.METHOD))
    assert closed.outcome is Outcome.SUCCESS, closed
    state = await channel.query(TradeRef("MP6", pay_method=micropay.METHOD))
    assert (state.outcome, state.error_code) == (Outcome.FAIL, "trade_state:REVOKED")


async def test_a_paid_order_is_not_reversed(channel: WechatChannel, make_request: Any, sandbox: Sandbox) -> None:
    await channel.create(make_request("wechat_barcode", trade_no="MP7", payer_id=CODE))
    closed = await channel.close(TradeRef("MP7", pay_method=micropay.METHOD))
    assert (closed.outcome, closed.error_code) == (Outcome.FAIL, "ORDERPAID")  # settle it as paid
    assert (await channel.query("MP7")).outcome is Outcome.SUCCESS


def _client(keys: dict[str, Any]) -> dict[str, str]:
    return {"apiv2_client_cert": keys["apiv2_client_certificate"], "apiv2_client_key": keys["apiv2_client_key"],
            "apiv2_ca": keys["apiv2_ca_certificate"]}
