"""The WeChat sandbox as a real server, a callback receiver, and the real channel talking to both."""
from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port

from gateway.channels.base import CreateRequest, RawCallback
from gateway.channels.wechat import WechatChannel, signing
from gateway.crypto import aead, rsa
from gateway.domain.money import Money
from gateway.sandbox.wechat import create_app, generate_keys, merchant_credentials

MOUNT = "/sandbox/wechat"


@pytest.fixture(scope="session")
def session_keys() -> dict[str, Any]:
    return generate_keys()


@pytest.fixture
def keys(session_keys: dict[str, Any]) -> dict[str, Any]:
    return dict(session_keys)


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


@dataclass
class Receiver:
    url: str
    callbacks: asyncio.Queue[RawCallback] = field(default_factory=asyncio.Queue)
    status: int = 204

    async def next(self, within: float = 5.0) -> RawCallback:
        return await asyncio.wait_for(self.callbacks.get(), within)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def start_sandbox(aiohttp_server: Any, keys: dict[str, Any], http: aiohttp.ClientSession,
                        mount: str = MOUNT) -> Sandbox:
    port = unused_port()
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
async def receiver(aiohttp_server: Any) -> Receiver:
    box: dict[str, Receiver] = {}

    async def notify(request: web.Request) -> web.Response:
        body = await request.read()
        rx = box["rx"]
        await rx.callbacks.put(RawCallback(body, dict(request.headers), request.content_type, request.remote))
        return web.Response(status=rx.status)

    app = web.Application()
    app.router.add_post("/notify/wechat", notify)
    server = await aiohttp_server(app, host="127.0.0.1")
    box["rx"] = Receiver(str(server.make_url("/notify/wechat")))
    return box["rx"]


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
    resource = resource or PAID
    nonce = "abcdefghijkl"
    ciphertext = aead.encrypt(keys["apiv3_key"].encode(), nonce, "transaction", json.dumps(resource).encode())
    if tamper:  # flip a byte, then sign the result: the signature is fine, the AEAD tag is not
        raw = bytearray(base64.b64decode(ciphertext))
        raw[0] ^= 1
        ciphertext = base64.b64encode(bytes(raw)).decode()
    body = json.dumps({"id": "EV-1", "create_time": "2024-01-01T00:00:00+08:00", "resource_type": "encrypt-resource",
                       "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
                       "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                                    "ciphertext": ciphertext, "associated_data": "transaction",
                                    "nonce": nonce}}).encode()
    ts, wx_nonce = str(timestamp or int(time.time())), signing.new_nonce()
    key = rsa.load_private_key(keys["public_key_private"])
    headers = {"Wechatpay-Timestamp": ts, "Wechatpay-Nonce": wx_nonce,
               "Wechatpay-Signature": signing.sign_response(key, ts, wx_nonce, body),
               "Wechatpay-Serial": serial or keys["public_key_id"],
               "Wechatpay-Signature-Type": signing.SCHEME}
    return RawCallback(body, headers, "application/json")


PAID = {"mchid": "1", "appid": "wx", "out_trade_no": "T1", "transaction_id": "4200", "trade_state": "SUCCESS",
        "success_time": "2024-01-01T00:00:00+08:00", "amount": {"total": 1, "currency": "CNY"}}
