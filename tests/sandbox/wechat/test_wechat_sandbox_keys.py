"""WeChat's keys: certificate mode, rotation with a single-flight refresh, public-key mode and switches."""
from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest

from gateway.channels.base import VerificationError
from gateway.channels.wechat import WechatChannel
from gateway.domain.outcomes import Outcome


async def test_rotation_refreshes_once_under_concurrency(
        sandbox: Any, channel: WechatChannel, make_request: Any) -> None:
    await sandbox.control("mode", {"mode": "certificate"})
    req = make_request()
    assert (await channel.create(req)).outcome is Outcome.SUCCESS
    assert (await sandbox.control("stats"))["certificate_fetches"] == 0  # the configured cert was enough

    rotated = await sandbox.control("rotate-keys", {"what": "certificate"})
    states = await asyncio.gather(*(channel.query(req.trade_no) for _ in range(10)))
    assert [s.outcome for s in states] == [Outcome.WAITING] * 10
    assert (await sandbox.control("stats"))["certificate_fetches"] == 1
    assert channel.keys.fetches == 1
    assert channel.keys.cached(rotated["platform_serial"]) is not None


async def test_without_configured_certificates_the_first_answer_fetches_them(
        sandbox: Any, credentials: dict[str, Any], make_request: Any) -> None:
    await sandbox.control("mode", {"mode": "certificate"})
    bare = WechatChannel({**credentials, "platform_certificates": [], "public_key_id": None, "public_key": None},
                         sandbox.http, sandbox.base_url)
    assert (await bare.create(make_request())).outcome is Outcome.SUCCESS
    assert bare.keys.fetches == 1


async def test_forged_serials_cannot_stampede(channel: WechatChannel, craft: Any, sandbox: Any) -> None:
    async def forged() -> str:
        raw = craft(serial=secrets.token_hex(20).upper())
        with pytest.raises(VerificationError) as err:
            await channel.parse_callback(raw)
        return err.value.code

    assert await asyncio.gather(*(forged() for _ in range(20))) == ["unknown_serial"] * 20
    assert await forged() == "unknown_serial"  # later: inside the minimum interval, no new fetch
    assert channel.keys.fetches == 1
    assert (await sandbox.control("stats"))["certificate_fetches"] == 1


async def test_public_key_mode_and_switches(sandbox: Any, receiver: Any, channel: WechatChannel,
                                           make_request: Any, credentials: dict[str, Any]) -> None:
    req = make_request()
    for mode in ("public_key", "certificate", "public_key"):
        await sandbox.control("mode", {"mode": mode})
        assert (await channel.create(req)).outcome is Outcome.SUCCESS
        assert (await channel.query(req.trade_no)).outcome is Outcome.WAITING
    await sandbox.control(f"pay/{req.trade_no}", {})
    assert (await channel.parse_callback(await receiver.next())).outcome is Outcome.SUCCESS
    assert channel.keys.fetches == 0

    fresh = await sandbox.control("rotate-keys", {"what": "public_key"})
    state = await channel.query(req.trade_no)
    assert (state.outcome, state.error_code) == (Outcome.UNKNOWN, "bad_signature")
    assert channel.keys.fetches == 0  # a public key is never fetched
    updated = WechatChannel({**credentials, **fresh}, sandbox.http, sandbox.base_url)
    assert (await updated.query(req.trade_no)).outcome is Outcome.SUCCESS

