"""Fixtures: the Alipay sandbox as a real server (mounted like the gateway mounts it), the real
AlipayChannel talking to it over HTTP, and a merchant app receiving its notifies."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.sandbox import kit
from gateway.sandbox.alipay import create_app
from tests.sandbox.alipay.alipay_env import TIME_SCALE, Env, Merchant, serve_merchant
from tests.support.net import free_port
from tests.support.receiver import receiver


@pytest.fixture
async def env(aiohttp_server: Any, alipay_keys: dict[str, Any]) -> AsyncIterator[Env]:
    port = free_port()
    sandbox_url = f"http://127.0.0.1:{port}/sandbox/alipay"
    root = web.Application()
    app = create_app(alipay_keys, public_url=sandbox_url, time_scale=TIME_SCALE)
    app[kit.REFUND_TIMING].immediate = True  # refunds final in their answer; the delayed path is tested on its own
    root.add_subapp("/sandbox/alipay", app)
    await aiohttp_server(root, port=port)
    merchant, box = Merchant(), []
    async with receiver() as rec, aiohttp.ClientSession() as http:
        serve_merchant(rec, merchant, box)
        env = Env(sandbox_url, rec.url, alipay_keys, http, None, merchant)  # type: ignore[arg-type]
        env.channel = env.open()
        box.append(env.channel)
        yield env
