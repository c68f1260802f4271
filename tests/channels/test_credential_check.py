"""Trying an account's credentials against the channel (``Channel.check``), on the real sandboxes: good
credentials pass; a wrong private key is refused by the channel; a wrong channel key / root certificate
makes its answer unverifiable; an endpoint that does not answer is unreachable."""
from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.channels.base import (
    ANSWER_UNVERIFIABLE,
    REFUSED,
    SIGNATURE_REJECTED,
    UNREACHABLE,
    CredentialCheck,
)
from gateway.services.merchants import check_credentials
from tests.factories import Gateway, shared_sandbox_keys

DEAD = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused


def _keys() -> dict[str, Any]:
    return dict(json.loads(shared_sandbox_keys()))


def _good(gw: Gateway, channel: str) -> dict[str, Any]:
    from gateway.cli import sandbox_accounts

    return dict(sandbox_accounts(gw.svc.settings)[channel])


def _wrong_private_key(channel: str, creds: dict[str, Any]) -> dict[str, Any]:
    keys = _keys()
    other = keys["wechat"]["merchant_private_key"] if channel != "wechat" else keys["alipay"]["app_private_key"]
    field = {"alipay": "app_private_key", "wechat": "merchant_private_key", "unionpay": "sign_private_key"}[channel]
    return creds | {field: other}


def _wrong_channel_key(channel: str, creds: dict[str, Any]) -> dict[str, Any]:
    keys = _keys()
    if channel == "alipay":
        return creds | {"alipay_public_key": keys["wechat"]["public_key"]}
    if channel == "wechat":  # the sandbox signs in public-key mode; same key id, another key
        return creds | {"public_key": keys["alipay"]["alipay_public_key"]}
    return creds | {"root_certificate": keys["wechat"]["platform_certificate"]}


async def _check(gw: Gateway, channel: str, creds: dict[str, Any]) -> CredentialCheck:
    return await check_credentials(gw.svc.settings, gw.svc.registry, channel, creds, gw.http)


CHANNELS = ["alipay", "wechat", "unionpay"]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_good_credentials_pass(sqlite_gateway: Gateway, channel: str) -> None:
    result = await _check(sqlite_gateway, channel, _good(sqlite_gateway, channel))
    assert result.ok and result.problem is None, result


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_wrong_private_key_is_refused_by_the_channel(sqlite_gateway: Gateway, channel: str) -> None:
    result = await _check(sqlite_gateway, channel, _wrong_private_key(channel, _good(sqlite_gateway, channel)))
    assert not result.ok and result.problem == SIGNATURE_REJECTED, result
    assert result.detail


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_wrong_channel_key_makes_the_answer_unverifiable(sqlite_gateway: Gateway, channel: str) -> None:
    result = await _check(sqlite_gateway, channel, _wrong_channel_key(channel, _good(sqlite_gateway, channel)))
    assert not result.ok and result.problem == ANSWER_UNVERIFIABLE, result


@pytest.mark.parametrize("channel", CHANNELS)
async def test_an_endpoint_that_does_not_answer_is_unreachable(sqlite_gateway: Gateway, channel: str) -> None:
    gw = sqlite_gateway
    channel_api = gw.svc.registry.channel(channel).open(_good(gw, channel), gw.http, DEAD)
    result = await channel_api.check()
    assert not result.ok and result.problem == UNREACHABLE, result


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_5xx_is_unreachable(sqlite_gateway: Gateway, channel: str) -> None:
    await sqlite_gateway.fault(channel, {"api": {"mode": "http500"}})
    result = await _check(sqlite_gateway, channel, _good(sqlite_gateway, channel))
    assert not result.ok and result.problem == UNREACHABLE, result


async def test_alipay_wrong_app_id_is_refused(sqlite_gateway: Gateway) -> None:
    creds = _good(sqlite_gateway, "alipay") | {"app_id": "2021000000000000"}
    result = await _check(sqlite_gateway, "alipay", creds)
    assert not result.ok and result.problem == SIGNATURE_REJECTED and "invalid-app-id" in (result.detail or "")


async def test_the_in_process_channel_always_passes(sqlite_gateway: Gateway) -> None:
    assert (await _check(sqlite_gateway, "prepaid", {})).ok


BUSINESS = {"alipay": {"sub_code": "isv.insufficient-isv-permissions", "code": "40006"},
            "wechat": {"status": 403, "code": "NO_AUTH", "message": "商户无权限"},
            "unionpay": {"code": "30"}}


@pytest.mark.parametrize("channel", CHANNELS)
async def test_another_business_refusal_is_refused_with_the_channels_code(sqlite_gateway: Gateway,
                                                                          channel: str) -> None:
    await sqlite_gateway.fault(channel, {"api": {"mode": "business", **BUSINESS[channel]}})
    result = await _check(sqlite_gateway, channel, _good(sqlite_gateway, channel))
    assert not result.ok and result.problem == REFUSED, result
    code = BUSINESS[channel].get("sub_code") or BUSINESS[channel]["code"]
    assert code in (result.detail or ""), result


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_wrongly_signed_answer_is_unverifiable(sqlite_gateway: Gateway, channel: str) -> None:
    await sqlite_gateway.fault(channel, {"api": {"mode": "bad_signature"}})
    result = await _check(sqlite_gateway, channel, _good(sqlite_gateway, channel))
    assert not result.ok and result.problem == ANSWER_UNVERIFIABLE, result


@pytest.mark.parametrize(("sub_code", "problem"), [("isv.invalid-app-id", SIGNATURE_REJECTED),
                                                   ("ACQ.TRADE_NOT_EXIST", ANSWER_UNVERIFIABLE)])
async def test_alipay_unsigned_answers(sqlite_gateway: Gateway, sub_code: str, problem: str) -> None:
    """Alipay leaves some refusals of the request itself unsigned (an unknown app id): reported for what
    they say, marked unsigned; an unsigned answer is never taken as a pass."""
    from aiohttp import web

    from tests.support.net import free_port

    async def gateway_do(request: web.Request) -> web.Response:
        inner = {"code": "40002", "msg": "Invalid Arguments", "sub_code": sub_code, "sub_msg": "x"}
        return web.json_response({"alipay_trade_query_response": inner})

    app = web.Application()
    app.router.add_post("/gateway.do", gateway_do)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        gw = sqlite_gateway
        channel_api = gw.svc.registry.channel("alipay").open(_good(gw, "alipay"), gw.http,
                                                             f"http://127.0.0.1:{port}/gateway.do")
        result = await channel_api.check()
    finally:
        await runner.cleanup()
    assert not result.ok and result.problem == problem, result
    if problem == SIGNATURE_REJECTED:
        assert "unsigned" in (result.detail or "")


async def test_a_page_that_is_not_the_channel_is_unreachable(sqlite_gateway: Gateway) -> None:
    """A wrong host answering its own 404 page is not the channel refusing anything."""
    gw = sqlite_gateway
    channel_api = gw.svc.registry.channel("wechat").open(_good(gw, "wechat"), gw.http, f"{gw.url}/nowhere")
    result = await channel_api.check()
    assert not result.ok and result.problem == UNREACHABLE, result
