"""Behind a trusted reverse proxy the client address comes from X-Forwarded-For; from anyone else the
header is ignored."""
from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.web.middlewares import forwarded_for_middleware


async def _client(trusted: list[str]) -> TestClient:
    async def remote(request: web.Request) -> web.Response:
        return web.Response(text=request.remote or "")

    app = web.Application(middlewares=[forwarded_for_middleware(trusted)])
    app.router.add_get("/", remote)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


async def test_trusted_proxy_passes_the_client_address() -> None:
    client = await _client(["127.0.0.1/32"])
    try:
        r = await client.get("/", headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.9"})
        assert await r.text() == "203.0.113.9"  # the right-most hop not ours; the client wrote the rest
        r = await client.get("/", headers={"X-Forwarded-For": "not-an-ip"})
        assert await r.text() == "127.0.0.1"
    finally:
        await client.close()


async def test_untrusted_peer_cannot_spoof() -> None:
    client = await _client(["10.0.0.0/8"])
    try:
        r = await client.get("/", headers={"X-Forwarded-For": "203.0.113.9"})
        assert await r.text() == "127.0.0.1"
    finally:
        await client.close()
