"""The ``/_control/`` API, the same for every channel sandbox: JSON, no authentication (sandbox only).

* ``POST /_control/faults`` ``{"api": {...}|[...], "callbacks": …, "refunds": …}`` -- add faults (the
  vocabulary is in :mod:`gateway.sandbox.kit.faults`); ``GET`` lists them, ``DELETE`` clears them.
  Answers ``{"added": n, "api": [...], "callbacks": [...], "refunds": [...]}``.
* ``POST /_control/rotate-keys`` ``{"what": …}`` (optional) -- the channel's signing key changes; answers
  the new public material.
* ``GET /_control/trades/{out_trade_no}`` -- the trade as the channel sees it (and its callbacks).
* ``POST /_control/pay/{out_trade_no}`` (optional ``{"openid": …}``) -- the shopper pays, by the same code
  path as the page's pay button; 409 ``{"error": "trade is …"}`` when it cannot be paid.
* ``GET /_control/notifies`` -- every callback delivery so far.
* ``GET /_control/stats`` -- counters.
* ``POST /_control/reset`` -- cancel pending callbacks and background work, forget trades and faults.
* ``GET|POST /_control/refund-timing`` -- refunds final after a delay (default) or at once
  (:mod:`gateway.sandbox.kit.refunds`).

Trade routes take ``?app_id=`` where a channel has several apps. A channel adds routes of its own under
``/_control/`` (WeChat: ``mode``, ``probe``).
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from gateway.sandbox.kit.faults import GROUPS, FaultBook
from gateway.sandbox.kit.keys import FAULTS, NOTIFIER, PUBLIC_URL, TIME_SCALE
from gateway.sandbox.kit.notifier import Notifier, Schedule
from gateway.sandbox.kit.refunds import REFUND_TIMING, RefundTiming, refund_timing


class NotPayable(Exception):
    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state


class ChannelControls(Protocol):
    """What a channel's sandbox answers behind ``/_control/``."""

    def trade_view(self, out_trade_no: str, query: Mapping[str, str]) -> dict[str, Any] | None:
        """The trade as JSON, or None when there is none."""

    def pay(self, out_trade_no: str, query: Mapping[str, str], body: Mapping[str, Any]) -> dict[str, Any] | None:
        """Pay it as the shopper would and return :meth:`trade_view`; None: no such trade;
        raises :class:`NotPayable`."""

    def rotate_keys(self, what: str | None) -> dict[str, Any]:
        """A new signing key (``what`` picks which, where there are several; ValueError if unknown)."""

    def reset(self) -> None:
        """Forget every trade; back to the keys the sandbox started with where the channel says so."""

    def stats(self) -> dict[str, Any]: ...


CONTROLS = web.AppKey("sandbox_controls", ChannelControls)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text='{"error":"body is not JSON"}', content_type="application/json") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text='{"error":"body must be an object"}', content_type="application/json")
    return data


def _faults_json(book: FaultBook, added: int | None = None) -> web.Response:
    return web.json_response({**({"added": added} if added is not None else {}), **book.as_json()})


async def add_faults(request: web.Request) -> web.Response:
    data, book = await _body(request), request.app[FAULTS]
    staged = FaultBook()
    try:
        added = sum(staged.add(group, data[group] if isinstance(data[group], list) else [data[group]])
                    for group in GROUPS if data.get(group) is not None)
    except ValueError as exc:
        return _error(400, str(exc))
    for group, faults in staged.groups.items():
        book.groups[group].extend(faults)
    return _faults_json(book, added)


async def list_faults(request: web.Request) -> web.Response:
    return _faults_json(request.app[FAULTS])


async def clear_faults(request: web.Request) -> web.Response:
    request.app[FAULTS].clear()
    return _faults_json(request.app[FAULTS])


async def rotate_keys(request: web.Request) -> web.Response:
    what = (await _body(request)).get("what")
    try:
        return web.json_response(request.app[CONTROLS].rotate_keys(None if what is None else str(what)))
    except ValueError as exc:
        return _error(400, str(exc))


async def trade(request: web.Request) -> web.Response:
    view = request.app[CONTROLS].trade_view(request.match_info["out_trade_no"], request.query)
    return _error(404, "no such trade") if view is None else web.json_response(view)


async def pay(request: web.Request) -> web.Response:
    body = await _body(request)
    try:
        view = request.app[CONTROLS].pay(request.match_info["out_trade_no"], request.query, body)
    except NotPayable as exc:
        return _error(409, f"trade is {exc.state}")
    return _error(404, "no such trade") if view is None else web.json_response(view)


async def notifies(request: web.Request) -> web.Response:
    return web.json_response([d.as_json() for d in request.app[NOTIFIER].deliveries])


async def stats(request: web.Request) -> web.Response:
    return web.json_response({"notifications_sent": request.app[NOTIFIER].answered,
                              **request.app[CONTROLS].stats()})


async def reset(request: web.Request) -> web.Response:
    notifier = request.app[NOTIFIER]
    await notifier.close()  # pending retries and refunds belong to the forgotten trades
    notifier.reset()
    request.app[FAULTS].clear()
    request.app[CONTROLS].reset()
    return web.json_response({"ok": True})


async def _http_ctx(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app[NOTIFIER].http = session
        yield
        await app[NOTIFIER].close()


def install(app: web.Application, *, public_url: str, time_scale: float, schedule: Schedule) -> Notifier:
    """Give a channel's sandbox app the kit: fault book, notifier (and its HTTP session, closed with
    the app) and the ``/_control/`` routes. The channel then sets ``app[CONTROLS]``."""
    app[FAULTS] = faults = FaultBook()
    app[NOTIFIER] = notifier = Notifier(faults, schedule, float(time_scale))
    app[PUBLIC_URL] = public_url.rstrip("/")
    app[TIME_SCALE] = float(time_scale)
    app[REFUND_TIMING] = RefundTiming(time_scale=float(time_scale))
    app.cleanup_ctx.append(_http_ctx)
    r = app.router
    r.add_post("/_control/faults", add_faults, name="control.faults")
    r.add_get("/_control/faults", list_faults)
    r.add_delete("/_control/faults", clear_faults)
    r.add_post("/_control/rotate-keys", rotate_keys, name="control.rotate_keys")
    r.add_get("/_control/trades/{out_trade_no}", trade, name="control.trade")
    r.add_post("/_control/pay/{out_trade_no}", pay, name="control.pay")
    r.add_get("/_control/notifies", notifies, name="control.notifies")
    r.add_get("/_control/stats", stats, name="control.stats")
    r.add_post("/_control/reset", reset, name="control.reset")
    r.add_route("GET", "/_control/refund-timing", refund_timing, name="control.refund_timing")
    r.add_route("POST", "/_control/refund-timing", refund_timing)
    return notifier
