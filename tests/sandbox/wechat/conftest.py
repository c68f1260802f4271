"""The WeChat sandbox as a real server, a callback receiver, and the real channel talking to both."""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.channels.base import CreateRequest, RawCallback
from gateway.channels.wechat import WechatChannel
from gateway.domain.money import Money
from gateway.sandbox.wechat import create_app, merchant_credentials
from tests.support import forge
from tests.support.net import free_port
from tests.support.receiver import Receiver
from tests.support.receiver import receiver as support_receiver

MOUNT = "/sandbox/wechat"


@pytest.fixture
def keys(wechat_keys: dict[str, Any]) -> dict[str, Any]:
    return wechat_keys


@dataclass
class Sandbox:
    server: TestServer
    base_url: str
    http: aiohttp.ClientSession

    async def control(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        method = "POST" if payload is not None or not path.startswith(("trades/", "stats")) else "GET"
        async with self.http.request(method, f"{self.base_url}/_control/{path}", json=payload) as resp:
            return await resp.json()

    async def page(self, url: str, action: str, *, allow_redirects: bool = False) -> aiohttp.ClientResponse:
        resp = await self.http.post(url, data={"action": action}, allow_redirects=allow_redirects)
        await resp.read()
        return resp


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def start_sandbox(aiohttp_server: Any, keys: dict[str, Any], http: aiohttp.ClientSession,
                        mount: str = MOUNT) -> Sandbox:
    port = free_port()
    public = f"http://127.0.0.1:{port}{mount}"
    sandbox_app = create_app(keys, public_url=public, time_scale=0.01)
    if mount:
        root = web.Application()
        root.add_subapp(mount, sandbox_app)
    else:
        root = sandbox_app
    server = await aiohttp_server(root, host="127.0.0.1", port=port)
    return Sandbox(server, public, http)


@pytest.fixture
async def sandbox(aiohttp_server: Any, keys: dict[str, Any], http: aiohttp.ClientSession) -> Sandbox:
    return await start_sandbox(aiohttp_server, keys, http)


@pytest.fixture
async def root_sandbox(aiohttp_server: Any, keys: dict[str, Any], http: aiohttp.ClientSession) -> Sandbox:
    """Mounted at "/": third-party SDKs sign paths as if the host were WeChat's."""
    return await start_sandbox(aiohttp_server, keys, http, mount="")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """The merchant's notify endpoint: ``receiver.url``; ``await receiver.next()`` is the next callback."""
    async with support_receiver(default_status=204) as rx:
        rx.url = rx.endpoint("notify/wechat")
        yield rx


@pytest.fixture
def credentials(keys: dict[str, Any]) -> dict[str, Any]:
    return merchant_credentials(keys)


@pytest.fixture
def channel(credentials: dict[str, Any], http: aiohttp.ClientSession, sandbox: Sandbox) -> WechatChannel:
    return WechatChannel(credentials, http, sandbox.base_url, timeout=1.0)


@pytest.fixture
def make_request(receiver: Receiver) -> Any:
    """``make_request(method, trade_no=…, amount=…, expires_in=…, **CreateRequest fields)``."""
    return lambda *args, **kwargs: create_request(receiver, *args, **kwargs)


def create_request(receiver: Receiver, method: str = "wechat_native", *, trade_no: str = "T20240101000001",
                   amount: int = 1234, expires_in: float = 900, **extra: Any) -> CreateRequest:
    defaults: dict[str, Any] = {"wechat_h5": {"client_ip": "203.0.113.7"},
                                "wechat_jsapi": {"payer_id": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}.get(method, {})
    return CreateRequest(trade_no=trade_no, pay_method=method, amount=Money(amount),
                         expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
                         notify_url=receiver.url, **{"subject": "测试商品 <b>&", **defaults, **extra})


PAID = {"mchid": "1", "appid": "wx", "out_trade_no": "T1", "transaction_id": "4200", "trade_state": "SUCCESS",
        "success_time": "2024-01-01T00:00:00+08:00", "amount": {"total": 1, "currency": "CNY"}}


@pytest.fixture
def craft(keys: dict[str, Any]) -> Any:
    """``craft(resource=…, timestamp=…, serial=…, tamper=…)``: a callback signed with the sandbox's
    public-key-mode key, bent in one way."""
    return lambda **kwargs: signed_callback(keys, **kwargs)


def signed_callback(keys: dict[str, Any], *, resource: dict[str, Any] | None = None, timestamp: int | None = None,
                    serial: str | None = None, tamper: bool = False) -> RawCallback:
    body, headers = forge.wechat_notify(keys, resource or PAID, timestamp=timestamp, serial=serial,
                                        tamper_ciphertext=tamper, event_id="EV-1")
    return RawCallback(body, headers, "application/json")
