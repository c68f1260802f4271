"""JSON control API under ``/_control/`` for tests and demos (not part of Alipay's protocol).

* ``POST /_control/faults`` ``{"api": {...} | [...], "callbacks": {...} | [...]}``
  api: ``{"method": "alipay.trade.query", "mode": "timeout|http500|business|badsign",
  "sub_code": "ACQ.SYSTEM_ERROR", "code": "40004", "seconds": 30, "count": 1}``;
  callbacks: ``{"mode": "drop|duplicate|delay|reorder", "seconds": 2, "count": 1}``.
* ``DELETE /_control/faults`` -- clear them.
* ``POST /_control/rotate-keys`` -- new Alipay key pair; answers ``{"alipay_public_key": PEM, …}``.
* ``GET /_control/trades/{out_trade_no}`` -- the trade, its refunds and notify deliveries.
* ``POST /_control/pay/{out_trade_no}`` -- the shopper pays (same code path as the pay button).
* ``GET /_control/notifies`` -- every notify delivery so far.
* ``POST /_control/reset`` -- forget trades, faults, deliveries; back to the original Alipay key.
* ``POST /_control/bill-inject`` ``{"kind": …, "day": …}`` -- a discrepancy in a day's bill (``bill.py``);
  ``DELETE`` forgets them.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.crypto import rsa
from gateway.sandbox.alipay import bill
from gateway.sandbox.alipay.appkeys import NOTIFIER, SANDBOX
from gateway.sandbox.alipay.state import API_MODES, CALLBACK_MODES, ApiFault, CallbackFault

routes = web.RouteTableDef()


def _problem(status: int, detail: str) -> web.Response:
    return web.json_response({"error": detail}, status=status)


def _items(value: Any) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(i, dict) for i in items):
        raise ValueError("fault must be an object or a list of objects")
    return items


def _faults_json(request: web.Request) -> dict[str, Any]:
    state = request.app[SANDBOX].state
    return {"api": [vars(f) for f in state.api_faults], "callbacks": [vars(f) for f in state.callback_faults]}


@routes.post("/_control/faults", name="control_faults")
async def add_faults(request: web.Request) -> web.Response:
    state = request.app[SANDBOX].state
    try:
        body = await request.json()
        api = [ApiFault(mode=i["mode"], method=i.get("method"), sub_code=i.get("sub_code", "ACQ.SYSTEM_ERROR"),
                        code=i.get("code"), seconds=float(i.get("seconds", 30)), count=int(i.get("count", 1)))
               for i in _items(body.get("api", []))]
        callbacks = [CallbackFault(mode=i["mode"], seconds=float(i.get("seconds", 5)), count=int(i.get("count", 1)))
                     for i in _items(body.get("callbacks", []))]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return _problem(400, f"bad fault: {exc!r}")
    bad = [f.mode for f in api if f.mode not in API_MODES] + [f.mode for f in callbacks if f.mode not in CALLBACK_MODES]
    if bad:
        return _problem(400, f"unknown mode(s): {bad}")
    state.api_faults.extend(api)
    state.callback_faults.extend(callbacks)
    return web.json_response(_faults_json(request))


@routes.delete("/_control/faults")
async def clear_faults(request: web.Request) -> web.Response:
    state = request.app[SANDBOX].state
    state.api_faults.clear()
    state.callback_faults.clear()
    return web.json_response(_faults_json(request))


@routes.post("/_control/rotate-keys", name="control_rotate_keys")
async def rotate_keys(request: web.Request) -> web.Response:
    key = request.app[SANDBOX].state.rotate_keys()
    public = key.public_key()
    return web.json_response({"alipay_public_key": rsa.public_pem(public), "alipay_public_key_b64": rsa.public_b64(public)})


@routes.get("/_control/trades/{out_trade_no}", name="control_trade")
async def get_trade(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    trade = sandbox.state.find(request.match_info["out_trade_no"], app_id=request.query.get("app_id"))
    if trade is None:
        return _problem(404, "no such trade")
    sandbox.refresh(trade)
    return web.json_response(sandbox.trade_json(trade))


@routes.post("/_control/pay/{out_trade_no}", name="control_pay")
async def pay(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    trade = sandbox.state.find(request.match_info["out_trade_no"], app_id=request.query.get("app_id"))
    if trade is None:
        return _problem(404, "no such trade")
    refused = sandbox.pay(trade)
    if refused is not None:
        return _problem(409, f"trade is {refused}")
    return web.json_response(sandbox.trade_json(trade))


@routes.get("/_control/notifies")
async def notifies(request: web.Request) -> web.Response:
    return web.json_response([d.as_json() for d in request.app[SANDBOX].state.deliveries])


@routes.post("/_control/reset", name="control_reset")
async def reset(request: web.Request) -> web.Response:
    await request.app[NOTIFIER].close()  # pending retries belong to the forgotten trades
    request.app[SANDBOX].state.reset()
    return web.json_response({"ok": True})


@routes.route("*", "/_control/bill-inject", name="control_bill_inject")
async def bill_inject(request: web.Request) -> web.Response:
    """``POST`` ``{"kind": …, "day": "YYYY-MM-DD", …}``: a discrepancy in a day's bill (see
    :func:`bill.inject`); ``DELETE`` forgets every injection."""
    sandbox = request.app[SANDBOX]
    if request.method == "DELETE":
        bill.injections(sandbox.state).clear()
        return web.json_response({"cleared": True})
    try:
        spec = await request.json()
        if not isinstance(spec, dict):
            raise ValueError("body must be an object")
        return web.json_response(bill.inject(sandbox.state, spec, sandbox.now()))
    except ValueError as exc:
        return _problem(400, str(exc))
