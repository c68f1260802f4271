"""``GET /pay/{id}/status``: ``{"status": …}`` for the checkout page's script.

* The hot path reads the StatusBus cache (Redis or in-process), not the database; a miss falls back to
  one primary-key read and refills the cache.
* ``ETag`` is the status; ``If-None-Match`` with the current one answers ``304``.
* ``?wait=N`` (≤ 30 s) with ``If-None-Match``: a long-poll, answered the moment the status changes --
  the StatusBus wakes waiters from Redis pub/sub (several processes) or in-process.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import json

from aiohttp import web

from gateway.cache.status import LOCAL_TTL, PENDING_TTL
from gateway.domain.errors import DatabaseUnavailable
from gateway.keys import CHECKOUT, SERVICES
from gateway.services.context import Services
from gateway.store import payments as payments_repo

MAX_WAIT = 30
HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
JSON_HEADERS = {**HEADERS, "Content-Type": "application/json; charset=utf-8"}


def _json(status: int, body: dict[str, str], etag: str | None = None) -> web.Response:
    response = web.Response(status=status, body=_encoded(json.dumps(body)), content_type="application/json")
    response.headers.update(HEADERS)
    if etag:
        response.headers["ETag"] = etag
    return response


@functools.lru_cache(maxsize=64)
def _encoded(text: str) -> bytes:
    return text.encode()


@functools.lru_cache(maxsize=16)
def _status_body(status: str) -> bytes:
    return json.dumps({"status": status}).encode()


async def current_status(svc: Services, payment_id: str) -> str | None:
    status = svc.status.peek(payment_id)
    if status is not None:
        return status

    async def from_database() -> str | None:
        async with svc.db.read() as conn:
            return await payments_repo.status_of(conn, payment_id)

    return await svc.status.cached_or_load(payment_id, from_database)


def _etag(status: str) -> str:
    return f'"{status}"'


async def _wait_for_change(svc: Services, closing: asyncio.Event, payment_id: str, known: str,
                           seconds: float) -> str:
    """Subscribe first, then look again: a change published between our first read and the subscription
    is then seen in the cache instead of being missed until the timeout."""
    waiter = asyncio.create_task(svc.status.wait(payment_id, seconds))
    shutdown = asyncio.create_task(closing.wait())
    try:
        await asyncio.sleep(0)  # let the waiter register its future
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            again = await current_status(svc, payment_id)
            if again is not None and again != known:
                return again
            # Without a shared cache (or while Redis is skipped after a failure) another process's change
            # reaches us only through the database: look again every couple of seconds. With Redis,
            # pub/sub wakes the waiter at once -- and a lost message is caught by looking again once a
            # pending entry has expired.
            left = deadline - asyncio.get_running_loop().time()
            slice_ = min(left, PENDING_TTL) if svc.status.shared else min(left, LOCAL_TTL)
            if slice_ <= 0:
                return known
            await asyncio.wait({waiter, shutdown}, timeout=slice_, return_when=asyncio.FIRST_COMPLETED)
            if waiter.done() or shutdown.done():
                return (waiter.result() if waiter.done() else None) or known
    finally:
        for task in (waiter, shutdown):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def status(request: web.Request) -> web.Response:
    svc = request.app[SERVICES]  # a route of the root app, which holds the services
    payment_id = request.match_info["id"]
    raw_wait = request.query.get("wait", "0") if request.query_string else "0"
    if not raw_wait.isdigit() or int(raw_wait) > MAX_WAIT:
        return _json(400, {"error": f"wait must be an integer from 0 to {MAX_WAIT}"})
    if not (0 < len(payment_id) <= 40 and payment_id.replace("_", "").isalnum()):
        return _json(404, {"error": "not_found"})
    try:
        current = await current_status(svc, payment_id)
    except DatabaseUnavailable:  # the page's script keeps polling; tell it when
        response = _json(503, {"error": "database_unavailable"})
        response.headers["Retry-After"] = "2"
        return response
    if current is None:
        return _json(404, {"error": "not_found"})
    known = request.headers.get("If-None-Match", "")
    if int(raw_wait) and known == _etag(current):
        closing = request.app[CHECKOUT].closing
        with contextlib.suppress(DatabaseUnavailable):  # then answer what we knew
            current = await _wait_for_change(svc, closing, payment_id, current, int(raw_wait))
    if known == _etag(current):
        return web.Response(status=304, headers={**HEADERS, "ETag": known})
    # Headers given whole (Content-Type included): the cheapest Response aiohttp builds.
    return web.Response(body=_status_body(current), headers={**JSON_HEADERS, "ETag": _etag(current)})
