"""Certificate mode end to end: the real AlipayChannel, opened with certificate credentials, against the
sandbox over HTTP -- SNs checked on requests, answers signed under ``alipay_cert_sn``, Alipay's certificate
rotated and followed."""
from __future__ import annotations

import asyncio
import json
from typing import Any

from gateway.channels.alipay import certmode
from gateway.channels.base import SIGNATURE_REJECTED, CredentialCheck, RawCallback
from gateway.domain.outcomes import Outcome
from gateway.sandbox.alipay import certs, merchant_cert_credentials
from tests.sandbox.alipay.alipay_env import Env


def _cert_mode(env: Env, **changes: Any) -> Any:
    return env.open(**{**merchant_cert_credentials(env.keys), "alipay_public_key": None, **changes})


async def _raw_answer(env: Env, channel: Any, out_trade_no: str) -> str:
    sent = await channel._send("alipay.trade.query", {"out_trade_no": out_trade_no})
    assert isinstance(sent, bytes), sent
    return sent.decode()


async def test_requests_carry_the_sns_and_answers_name_the_certificate(env: Env) -> None:
    channel = _cert_mode(env)
    created = await channel.create(env.request("cm-1"))
    assert created.outcome is Outcome.SUCCESS, created
    text = await _raw_answer(env, channel, "cm-1")
    assert certmode.answer_cert_sn(text) == certmode.pem_cert_sn(env.keys["alipay_cert"])
    # Alipay's layout: the response object, then alipay_cert_sn, then sign
    assert list(json.loads(text)) == ["alipay_trade_query_response", "alipay_cert_sn", "sign"]
    assert (await channel.query("cm-1")).outcome is Outcome.WAITING
    assert (await channel.check()).ok
    # a public-key-mode request (no SNs) is answered without alipay_cert_sn
    assert certmode.answer_cert_sn(await _raw_answer(env, env.channel, "cm-1")) is None


async def test_a_wrong_app_certificate_or_root_is_refused(env: Env) -> None:
    other = certs.generate(env.keys["app_public_key"], env.keys["alipay_private_key"])
    wrong_app = await _cert_mode(env, app_cert=other["app_cert"]).check()
    assert wrong_app == CredentialCheck(False, SIGNATURE_REJECTED, wrong_app.detail)
    assert str(wrong_app.detail).startswith("isv.app-cert-not-exist")
    wrong_root = await _cert_mode(env, alipay_root_cert=other["alipay_root_cert"]).check()
    assert not wrong_root.ok and str(wrong_root.detail).startswith("isv.invalid-alipay-root-cert-sn")


async def test_an_app_in_certificate_mode_refuses_requests_without_the_sns(env: Env) -> None:
    assert (await env.channel.check()).ok
    assert await env.control("POST", "cert-mode", {"required": True}) == {"required": True}
    refused = await env.channel.check()  # public-key mode: no SNs
    assert refused.problem == SIGNATURE_REJECTED and str(refused.detail).startswith("isv.missing-app-cert-sn")
    assert (await _cert_mode(env).check()).ok
    await env.control("POST", "reset")
    assert (await env.channel.check()).ok


async def test_the_client_follows_a_rotated_alipay_certificate(env: Env) -> None:
    channel = _cert_mode(env)
    await channel.create(env.request("cm-rot"))
    old_sn = certmode.pem_cert_sn(env.keys["alipay_cert"])
    rotated = await env.control("POST", "rotate-keys")
    assert rotated["alipay_cert_sn"] != old_sn and certmode.pem_cert_sn(rotated["alipay_cert"]) == rotated["alipay_cert_sn"]
    # the next answer is signed with the new certificate: the client downloads it, checks it against the
    # root, and believes the answer
    assert (await channel.query("cm-rot")).outcome is Outcome.WAITING
    assert channel._certs.known == [old_sn, rotated["alipay_cert_sn"]]
    # a notify signed with the new key verifies with the learned certificate
    done = await env.control("POST", "pay/cm-rot")
    assert done["trade_status"] == "TRADE_SUCCESS", done
    for _ in range(100):
        if env.merchant.bodies:
            break
        await asyncio.sleep(0.05)
    note = await channel.parse_callback(RawCallback(env.merchant.bodies[0], {}, "application/x-www-form-urlencoded"))
    assert (note.trade_no, note.outcome) == ("cm-rot", Outcome.SUCCESS)


async def test_a_public_key_channel_does_not_follow_a_rotation(env: Env) -> None:
    await env.channel.create(env.request("pk-rot"))
    await env.control("POST", "rotate-keys")
    state = await env.channel.query("pk-rot")
    assert (state.outcome, state.error_code) == (Outcome.UNKNOWN, "SIGNATURE_INVALID")


async def test_an_unknown_certificate_that_cannot_be_fetched_is_not_believed(env: Env) -> None:
    channel = _cert_mode(env)
    await channel.create(env.request("cm-x"))
    await env.control("POST", "rotate-keys")
    channel._certs._roots = certmode.load_certs(
        certs.generate(env.keys["app_public_key"], env.keys["alipay_private_key"])["alipay_root_cert"])
    state = await channel.query("cm-x")
    assert (state.outcome, state.error_code) == (Outcome.UNKNOWN, "SIGNATURE_INVALID")
    assert len(channel._certs.known) == 1
    # and it is not fetched again at once (a forged SN must not make us hammer Alipay)
    async def no_download(sn: str) -> None:
        raise AssertionError("downloaded again")

    channel._download_cert = no_download
    assert (await channel.query("cm-x")).outcome is Outcome.UNKNOWN



async def test_cert_credentials_on_demand_follow_the_rotation(env: Env) -> None:
    before = await env.control("GET", "cert-credentials")
    assert before["alipay_cert_sn"] == certmode.pem_cert_sn(before["alipay_cert"])
    assert before["alipay_root_cert_sn"] == certmode.root_cert_sn(before["alipay_root_cert"])
    rotated = await env.control("POST", "rotate-keys")
    after = await env.control("GET", "cert-credentials")
    assert after["alipay_cert_sn"] == rotated["alipay_cert_sn"] != before["alipay_cert_sn"]
    # an app configured with the new certificate needs no download
    channel = env.open(**{**{k: after[k] for k in ("app_cert", "alipay_cert", "alipay_root_cert")},
                          "alipay_public_key": None})

    async def no_download(sn: str) -> None:
        raise AssertionError("downloaded")

    channel._download_cert = no_download
    assert (await channel.check()).ok
    # nor one that lists it among alipay_certs while still naming the old one first (a rotation announced)
    both = _cert_mode(env, alipay_certs=[after["alipay_cert"]])
    both._download_cert = no_download
    assert (await both.check()).ok and both._certs.known == [before["alipay_cert_sn"], after["alipay_cert_sn"]]
