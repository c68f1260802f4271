"""Fixtures: the Alipay sandbox as a real server (mounted like the gateway mounts it), the real
AlipayChannel talking to it over HTTP, and a merchant app receiving its notifies."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import unused_port
from alipay_env import TIME_SCALE, Env, Merchant, merchant_app

from gateway.sandbox.alipay import create_app, generate_keys


@pytest.fixture(scope="session")
def alipay_keys() -> dict[str, Any]:
    return generate_keys()


@pytest.fixture
async def env(aiohttp_server: Any, alipay_keys: dict[str, Any]) -> AsyncIterator[Env]:
    port = unused_port()
    sandbox_url = f"http://127.0.0.1:{port}/sandbox/alipay"
    root = web.Application()
    root.add_subapp("/sandbox/alipay", create_app(alipay_keys, public_url=sandbox_url, time_scale=TIME_SCALE))
    await aiohttp_server(root, port=port)
    merchant, box = Merchant(), []
    receiver = await aiohttp_server(merchant_app(merchant, box))
    async with aiohttp.ClientSession() as http:
        env = Env(sandbox_url, str(receiver.make_url("")).rstrip("/"), alipay_keys, http, None, merchant)  # type: ignore[arg-type]
        env.channel = env.open()
        box.append(env.channel)
        yield env
