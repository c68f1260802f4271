"""A real local HTTP server standing in for a merchant (webhook endpoint, notify URL, return URL) or for
the gateway's notify endpoint in sandbox tests: it records every request as it arrived, and tests switch
its behaviour per path at will (answer a status, hang, delay, or answer through a handler of their own).
"""
from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from tests.support.net import free_port


@dataclass
class Hit:
    """One request as it arrived. It has the fields of a channel ``RawCallback`` (``body``, ``headers``,
    ``content_type``, ``remote``), so a channel can parse it as it stands."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # loop time
    status: int
    content_type: str = ""
    remote: str | None = None
    method: str = "POST"
    query: dict[str, str] = field(default_factory=dict)
    wall: float = 0.0  # time.time(): comparable across processes

    @property
    def id(self) -> str:
        """The Standard Webhooks message id."""
        return self.headers["webhook-id"]


# A handler of the test's own for one path: given the hit (already recorded), its answer.
Handler = Callable[[Hit], Awaitable[web.StreamResponse]]


@dataclass
class Receiver:
    url: str
    default_status: int = 200
    hits: list[Hit] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)  # path → status to answer (else default_status)
    hang: set[str] = field(default_factory=set)  # paths that never answer (until the client gives up)
    handlers: dict[str, Handler] = field(default_factory=dict)  # path → the test's own answer
    delay: float = 0.0
    in_flight: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    max_in_flight: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    closing: bool = False
    _arrived: asyncio.Queue[Hit] = field(default_factory=asyncio.Queue)

    def endpoint(self, name: str) -> str:
        return f"{self.url}/{name.lstrip('/')}"

    def ids(self, name: str | None = None, ok_only: bool = True) -> list[str]:
        """The webhook ids received (at ``/name``), by default only those answered 2xx."""
        return [h.id for h in self.hits if (name is None or h.path == f"/{name}")
                and (not ok_only or h.status < 300)]

    async def next(self, within: float = 5.0) -> Hit:
        """The next request not yet taken by ``next``, waiting at most ``within`` seconds."""
        return await asyncio.wait_for(self._arrived.get(), within)

    def unread(self) -> int:
        """How many requests arrived that ``next`` has not taken yet."""
        return self._arrived.qsize()

    async def handle(self, request: web.Request) -> web.StreamResponse:
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
            status = self.status.get(path, self.default_status)
            hit = Hit(path, dict(request.headers), body, asyncio.get_running_loop().time(), status,
                      request.content_type, request.remote, request.method, dict(request.query), time.time())
            self.hits.append(hit)
            self._arrived.put_nowait(hit)
            if path in self.handlers:
                return await self.handlers[path](hit)
            return web.Response(status=status, text="ok" if status < 300 else "down for maintenance")
        finally:
            self.in_flight[path] -= 1

    def mount(self, app: web.Application) -> web.Application:
        """Route every request not routed yet (add your own routes first) to this receiver."""
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


@asynccontextmanager
async def receiver(default_status: int = 200) -> AsyncIterator[Receiver]:
    """A receiver listening on a free local port until the block ends."""
    port = free_port()
    rec = Receiver(f"http://127.0.0.1:{port}", default_status)
    runner = web.AppRunner(rec.mount(web.Application()), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield rec
    finally:
        rec.closing = True
        await runner.cleanup()
