"""WeChat Pay's answers behind the kit's ``/_control/`` API (:mod:`gateway.sandbox.kit.control`), and
two routes of its own.

* ``rotate-keys`` ``{"what": "certificate"|"public_key"}`` (default certificate) → the new serial/id and PEM;
* ``stats`` adds certificate fetches, the mode, the platform serials and the public key id;
* ``POST /_control/mode`` ``{"mode": "public_key"|"certificate"}``: which key signs answers and callbacks;
* ``POST /_control/probe`` ``{"notify_url": …}`` → sends a signature-probe callback, returns its status.

* ``POST /_control/bill-inject`` ``{"kind": …, "day": …}``: a discrepancy in a day's bill (``bill.py``);
  ``DELETE`` forgets them.

``reset`` forgets trades, refunds and bills; the keys and the mode stay.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gateway.sandbox import kit
from gateway.sandbox.wechat import actions, bill, notify
from gateway.sandbox.wechat.appkeys import STATE
from gateway.sandbox.wechat.state import SandboxState, Trade


class WechatControls:
    def __init__(self, state: SandboxState, notifier: kit.Notifier) -> None:
        self.state, self.notifier = state, notifier

    def _view(self, trade: Trade) -> dict[str, Any]:
        expire = trade.time_expire.isoformat() if trade.time_expire else None
        return {**trade.as_resource(), "token": trade.token, "time_expire": expire,
                "notifies": [d.as_json() for d in self.notifier.deliveries if d.trade == trade.out_trade_no]}

    def trade_view(self, out_trade_no: str, query: Mapping[str, str]) -> dict[str, Any] | None:
        trade = self.state.trade(out_trade_no)
        return None if trade is None else self._view(trade)

    def pay(self, out_trade_no: str, query: Mapping[str, str], body: Mapping[str, Any]) -> dict[str, Any] | None:
        trade = self.state.trade(out_trade_no)
        if trade is None:
            return None
        openid = body.get("openid")
        actions.pay(self.state, self.notifier, trade, openid if isinstance(openid, str) else None)
        return self._view(trade)

    def rotate_keys(self, what: str | None) -> dict[str, Any]:
        return self.state.rotate(what or "certificate")

    def reset(self) -> None:
        self.state.reset()

    def stats(self) -> dict[str, Any]:
        return {"certificate_fetches": self.state.certificate_fetches, "mode": self.state.mode,
                "platform_serials": [p.serial for p in self.state.platforms],
                "public_key_id": self.state.public_key_id}


async def _object(request: web.Request) -> dict[str, Any]:
    data = await request.json() if request.can_read_body else {}
    return data if isinstance(data, dict) else {}


async def mode(request: web.Request) -> web.Response:
    wanted = (await _object(request)).get("mode")
    if wanted not in ("public_key", "certificate"):
        return web.json_response({"error": "mode must be public_key or certificate"}, status=400)
    request.app[STATE].mode = wanted
    return web.json_response({"mode": wanted})


async def probe(request: web.Request) -> web.Response:
    url = (await _object(request)).get("notify_url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return web.json_response({"error": "notify_url must be an absolute http(s) URL"}, status=400)
    return web.json_response({"status": await notify.probe(request.app[kit.NOTIFIER], request.app[STATE], url)})


async def bill_inject(request: web.Request) -> web.Response:
    """``POST /_control/bill-inject`` ``{"kind": …, "day": "YYYY-MM-DD", …}``: see :func:`bill.inject`;
    ``DELETE`` forgets every injection."""
    state = request.app[STATE]
    if request.method == "DELETE":
        bill.injections(state).clear()
        return web.json_response({"cleared": True})
    try:
        return web.json_response(bill.inject(state, await _object(request)))
    except (ValueError, TypeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/_control/mode", mode, name="control.mode")
    app.router.add_post("/_control/probe", probe, name="control.probe")
    app.router.add_route("*", "/_control/bill-inject", bill_inject, name="control.bill_inject")

