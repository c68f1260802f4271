"""``/_control/…``: a JSON API for tests and demos to steer the sandbox (no authentication: sandbox only).

* ``POST /_control/faults``      ``{"api": {...}|[...], "callbacks": {...}|[...], "refunds": {...}|[...]}``
  - api: ``path_contains``, ``mode`` timeout|http500|business|not_json|bad_signature, ``status``, ``code``,
    ``message``, ``seconds`` (timeout), ``after`` (true: process, then lose the answer), ``count``;
  - callbacks: ``mode`` drop|duplicate|delay|reorder, ``seconds`` (real seconds), ``count``;
  - refunds: ``status`` ABNORMAL|CLOSED (how the next refunds end), ``count``.
  ``count`` absent or 0 = until ``/_control/reset``.
* ``POST /_control/rotate-keys`` ``{"what": "certificate"|"public_key"}`` → the new serial/id (and PEM).
* ``POST /_control/mode``        ``{"mode": "public_key"|"certificate"}``: which key signs answers/callbacks.
* ``GET  /_control/trades/{out_trade_no}`` → the trade as the query API shows it.
* ``POST /_control/pay/{out_trade_no}`` (optional ``{"openid": …}``) — the page's pay button.
* ``POST /_control/probe``       ``{"notify_url": …}`` → sends a signature-probe callback, returns its status.
* ``GET  /_control/stats``       → counters (certificate fetches, notification posts).
* ``POST /_control/reset``       → forget trades, refunds, bills and faults.
* ``POST /_control/bill-inject`` ``{"kind": …, "day": …}`` → a discrepancy in a day's bill (see ``bill.py``);
  ``DELETE`` forgets them.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.sandbox.wechat import actions, bill
from gateway.sandbox.wechat.appkeys import NOTIFIER, STATE


async def _json(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text='{"error":"body is not JSON"}', content_type="application/json") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text='{"error":"body must be an object"}', content_type="application/json")
    return data


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def faults(request: web.Request) -> web.Response:
    data = await _json(request)
    state = request.app[STATE]
    added = 0
    for group in ("api", "callbacks", "refunds"):
        items = data.get(group)
        items = [items] if isinstance(items, dict) else items or []
        for item in items:
            if not isinstance(item, dict):
                return _bad(f"{group} entries must be objects")
            getattr(state.faults, group).append(dict(item))
            added += 1
    return web.json_response({"added": added, "api": state.faults.api, "callbacks": state.faults.callbacks,
                              "refunds": state.faults.refunds})


async def rotate_keys(request: web.Request) -> web.Response:
    try:
        fresh = request.app[STATE].rotate(str((await _json(request)).get("what", "certificate")))
    except ValueError as exc:
        return _bad(str(exc))
    return web.json_response(fresh)


async def mode(request: web.Request) -> web.Response:
    wanted = (await _json(request)).get("mode")
    if wanted not in ("public_key", "certificate"):
        return _bad("mode must be public_key or certificate")
    request.app[STATE].mode = wanted
    return web.json_response({"mode": wanted})


async def trade(request: web.Request) -> web.Response:
    found = request.app[STATE].trade(request.match_info["out_trade_no"])
    if found is None:
        return web.json_response({"error": "no such trade"}, status=404)
    expire = found.time_expire.isoformat() if found.time_expire else None
    return web.json_response({**found.as_resource(), "token": found.token, "time_expire": expire})


async def pay(request: web.Request) -> web.Response:
    state = request.app[STATE]
    found = state.trade(request.match_info["out_trade_no"])
    if found is None:
        return web.json_response({"error": "no such trade"}, status=404)
    try:
        actions.pay(state, request.app[NOTIFIER], found, (await _json(request)).get("openid"))
    except actions.NotPayable as exc:
        return web.json_response({"error": f"trade is {exc.state}"}, status=409)
    return web.json_response(found.as_resource())


async def probe(request: web.Request) -> web.Response:
    url = (await _json(request)).get("notify_url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return _bad("notify_url must be an absolute http(s) URL")
    return web.json_response({"status": await request.app[NOTIFIER].probe(url)})


async def stats(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response({"certificate_fetches": state.certificate_fetches,
                              "notifications_sent": state.notifications_sent, "mode": state.mode,
                              "platform_serials": [p.serial for p in state.platforms],
                              "public_key_id": state.public_key_id})


async def reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"reset": True})


async def bill_inject(request: web.Request) -> web.Response:
    """``POST /_control/bill-inject`` ``{"kind": …, "day": "YYYY-MM-DD", …}``: see :func:`bill.inject`;
    ``DELETE`` forgets every injection."""
    state = request.app[STATE]
    if request.method == "DELETE":
        bill.injections(state).clear()
        return web.json_response({"cleared": True})
    try:
        return web.json_response(bill.inject(state, await _json(request)))
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/_control/faults", faults, name="control.faults")
    r.add_post("/_control/rotate-keys", rotate_keys, name="control.rotate_keys")
    r.add_post("/_control/mode", mode, name="control.mode")
    r.add_get("/_control/trades/{out_trade_no}", trade, name="control.trade")
    r.add_post("/_control/pay/{out_trade_no}", pay, name="control.pay")
    r.add_post("/_control/probe", probe, name="control.probe")
    r.add_get("/_control/stats", stats, name="control.stats")
    r.add_post("/_control/reset", reset, name="control.reset")
    r.add_route("*", "/_control/bill-inject", bill_inject, name="control.bill_inject")
