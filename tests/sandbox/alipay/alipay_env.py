"""Helpers for the Alipay sandbox tests: the Alipay sandbox as a real server, the real AlipayChannel talking to it over HTTP, and a small
merchant app receiving notifies (checked with AlipayChannel.parse_callback) and return redirects."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from gateway.channels.alipay import AlipayChannel, AlipayFactory
from gateway.channels.base import CreateRequest, Notification, RawCallback, VerificationError
from gateway.domain.money import Money
from gateway.sandbox.alipay import merchant_credentials
from tests.support.receiver import Hit, Receiver

TIME_SCALE = 0.001  # notify retries after 0.24 s, 0.6 s, 0.6 s, 3.6 s, ...


@dataclass
class Merchant:
    notes: asyncio.Queue[Notification] = field(default_factory=asyncio.Queue)
    bodies: list[bytes] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    returns: list[dict[str, str]] = field(default_factory=list)
    fail_next: int = 0  # answer "fail" to this many notifies first


@dataclass
class Env:
    sandbox_url: str
    receiver_url: str
    keys: dict[str, Any]
    http: aiohttp.ClientSession
    channel: AlipayChannel
    merchant: Merchant

    def open(self, **changes: Any) -> AlipayChannel:
        credentials = {**merchant_credentials(self.keys), **changes}
        return AlipayFactory(timeout=1.0).open(credentials, self.http, f"{self.sandbox_url}/gateway.do")

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(method, f"{self.sandbox_url}/_control/{path}", json=body) as resp:
            return await resp.json()

    def request(self, no: str, method: str = "alipay_qr", fen: int = 1000, **kw: Any) -> CreateRequest:
        return CreateRequest(trade_no=no, pay_method=method, amount=Money(fen), subject=kw.pop("subject", "茶 Tea"),
                             expires_at=kw.pop("expires_at", datetime.now(UTC) + timedelta(minutes=30)),
                             notify_url=f"{self.receiver_url}/notify", return_url=f"{self.receiver_url}/return", **kw)

    async def note(self, within: float = 5.0) -> Notification:
        return await asyncio.wait_for(self.merchant.notes.get(), within)

    async def pay_page(self, url: str, action: str = "pay") -> aiohttp.ClientResponse:
        async with self.http.post(url, data={"action": action}, allow_redirects=False) as resp:
            await resp.read()
            return resp


def serve_merchant(rec: Receiver, merchant: Merchant, channel_box: list[AlipayChannel]) -> None:
    """Make ``rec`` the merchant: ``/notify`` checks each notify with ``AlipayChannel.parse_callback`` and
    answers as a merchant would; ``/return`` checks the return redirect's signature."""
    async def notify(hit: Hit) -> web.StreamResponse:
        merchant.bodies.append(hit.body)
        channel = channel_box[0]
        raw = RawCallback(body=hit.body, headers=hit.headers, content_type=hit.content_type)
        try:
            note = await channel.parse_callback(raw)
        except VerificationError as exc:
            merchant.rejected.append(exc.code)
            status, ctype, answer = channel.acknowledge(False)
            return web.Response(status=status, body=answer, content_type=ctype)
        if merchant.fail_next > 0:
            merchant.fail_next -= 1
            status, ctype, answer = channel.acknowledge(False)
        else:
            await merchant.notes.put(note)
            status, ctype, answer = channel.acknowledge(True)
        return web.Response(status=status, body=answer, content_type=ctype)

    async def back(hit: Hit) -> web.StreamResponse:
        channel_box[0].verify_params(dict(hit.query))
        merchant.returns.append(dict(hit.query))
        return web.Response(text="back at the shop")

    rec.handlers["/notify"] = notify
    rec.handlers["/return"] = back
