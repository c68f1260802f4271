"""Alipay's answers behind the kit's ``/_control/`` API (:mod:`gateway.sandbox.kit.control`).

``rotate-keys`` takes no ``what``: Alipay has one key pair; it answers ``{"alipay_public_key": PEM,
"alipay_public_key_b64": …}``. ``reset`` also goes back to the Alipay key the sandbox started with.
``POST /_control/bill-inject`` ``{"kind": …, "day": …}`` puts a discrepancy into a day's bill (``bill.py``).
``GET /_control/cert-credentials``: the app's certificate-mode credentials and SNs (``certs.py``);
``POST /_control/cert-mode`` ``{"required": bool}``: requests without the SNs are refused, as for an app
created in certificate mode;
``rotate-keys`` also issues a new Alipay certificate (``alipay_cert``, ``alipay_cert_sn`` in its answer).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gateway.crypto import rsa
from gateway.sandbox.alipay import bill
from gateway.sandbox.alipay.appkeys import SANDBOX
from gateway.sandbox.alipay.service import Sandbox
from gateway.sandbox.alipay.state import Trade
from gateway.sandbox.kit import NotPayable


class AlipayControls:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def _find(self, out_trade_no: str, query: Mapping[str, str]) -> Trade | None:
        return self.sandbox.state.find(out_trade_no, app_id=query.get("app_id"))

    def trade_view(self, out_trade_no: str, query: Mapping[str, str]) -> dict[str, Any] | None:
        trade = self._find(out_trade_no, query)
        if trade is None:
            return None
        self.sandbox.refresh(trade)
        return self.sandbox.trade_json(trade)

    def pay(self, out_trade_no: str, query: Mapping[str, str], body: Mapping[str, Any]) -> dict[str, Any] | None:
        trade = self._find(out_trade_no, query)
        if trade is None:
            return None
        refused = self.sandbox.pay(trade)
        if refused is not None:
            raise NotPayable(refused)
        return self.sandbox.trade_json(trade)

    def rotate_keys(self, what: str | None) -> dict[str, Any]:
        if what not in (None, "key"):
            raise ValueError("Alipay has one key pair: leave out what (or say key)")
        state = self.sandbox.state
        public = state.rotate_keys(self.sandbox.now()).public_key()
        return {"alipay_public_key": rsa.public_pem(public), "alipay_public_key_b64": rsa.public_b64(public),
                "alipay_cert": state.certs.current_pem, "alipay_cert_sn": state.certs.current_sn}

    def reset(self) -> None:
        self.sandbox.state.reset()

    def stats(self) -> dict[str, Any]:
        return {"trades": len(self.sandbox.state.trades)}


async def bill_inject(request: web.Request) -> web.Response:
    """``POST /_control/bill-inject`` ``{"kind": …, "day": "YYYY-MM-DD", …}``: a discrepancy in a day's
    bill (see :func:`bill.inject`); ``DELETE`` forgets every injection."""
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
        return web.json_response({"error": str(exc)}, status=400)


async def cert_credentials(request: web.Request) -> web.Response:
    """``GET /_control/cert-credentials``: the sandbox app's credentials in public-key certificate mode
    (its certificate, Alipay's current one, the root bundle), for a merchant set up in that mode."""
    state = request.app[SANDBOX].state
    keys = state.keys
    return web.json_response({
        "app_id": keys["app_id"], "seller_id": keys["seller_id"], "app_private_key": keys["app_private_key"],
        "app_cert": keys["app_cert"], "alipay_cert": state.certs.current_pem, "alipay_root_cert": keys["alipay_root_cert"],
        "app_cert_sn": state.certs.app_cert_sn, "alipay_cert_sn": state.certs.current_sn,
        "alipay_root_cert_sn": state.certs.root_cert_sn})


async def cert_mode(request: web.Request) -> web.Response:
    """``POST /_control/cert-mode`` ``{"required": true}``: the app behaves as one created in certificate
    mode (requests without ``app_cert_sn`` / ``alipay_root_cert_sn`` are refused); ``false`` undoes it
    (so does ``reset``)."""
    try:
        body = await request.json()
        required = body.get("required") if isinstance(body, dict) else None
        if not isinstance(required, bool):
            raise ValueError("body must be {\"required\": true|false}")
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    request.app[SANDBOX].state.cert_mode_required = required
    return web.json_response({"required": required})


def add_routes(app: web.Application) -> None:
    app.router.add_route("*", "/_control/bill-inject", bill_inject, name="control_bill_inject")
    app.router.add_get("/_control/cert-credentials", cert_credentials, name="control_cert_credentials")
    app.router.add_post("/_control/cert-mode", cert_mode, name="control_cert_mode")
