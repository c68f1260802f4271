"""A merchant's webhook endpoint, as a real local HTTP server: per-path behaviour that tests switch at
will (answer 2xx, fail with 5xx, hang), and a record of every request as it arrived."""
from __future__ import annotations

import asyncio
import socket
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # loop time
    status: int

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    url: str
    hits: list[Hit] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)  # path → status to answer (default 200)
    hang: set[str] = field(default_factory=set)  # paths that never answer (until the client gives up)
    delay: float = 0.0
    in_flight: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    max_in_flight: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    closing: bool = False

    def endpoint(self, name: str) -> str:
        return f"{self.url}/{name}"

    def ids(self, name: str | None = None, ok_only: bool = True) -> list[str]:
        return [h.id for h in self.hits if (name is None or h.path == f"/{name}")
                and (not ok_only or h.status < 300)]

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        body = await request.read()
        self.in_flight[path] += 1
        self.max_in_flight[path] = max(self.max_in_flight[path], self.in_flight[path])
        try:
            # aiohttp does not cancel a handler when its client goes away: notice it ourselves, so
            # that in_flight counts what the client still waits for.
            while path in self.hang and not self.closing and not _gone(request):  # noqa: ASYNC110
                await asyncio.sleep(0.01)  # a transport has no event to wait on
            if _gone(request):
                return web.Response(status=499)
            if self.delay:
                await asyncio.sleep(self.delay)
            status = self.status.get(path, 200)
            self.hits.append(Hit(path, dict(request.headers), body, asyncio.get_running_loop().time(), status))
            return web.Response(status=status, text="ok" if status < 300 else "down for maintenance")
        finally:
            self.in_flight[path] -= 1


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rec = Receiver(f"http://127.0.0.1:{port}")
    app = web.Application()
    app.router.add_post("/{name}", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield rec
    finally:
        rec.closing = True
        await runner.cleanup()
