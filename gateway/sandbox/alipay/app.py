"""The Alipay sandbox as an aiohttp app: ``/gateway.do`` (GET and POST), ``/qr/{token}``,
``/bill/{token}`` and the kit's ``/_control/`` API. Mounted by the gateway under ``/sandbox/alipay`` or
run on its own; ``public_url`` is the absolute prefix it is reachable at (used in qr_code / page URLs).
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

from aiohttp import web

from gateway.channels.alipay import protocol as wire
from gateway.channels.alipay.certmode import CERT_DOWNLOAD
from gateway.sandbox import kit
from gateway.sandbox.alipay import apppay, certs, control, gateway_do, notify, pages
from gateway.sandbox.alipay.appkeys import SANDBOX, TIMESTAMP_TOLERANCE
from gateway.sandbox.alipay.barcode import BarcodeDesk
from gateway.sandbox.alipay.control import AlipayControls
from gateway.sandbox.alipay.service import BizError, Sandbox, fail
from gateway.sandbox.alipay.state import SandboxState

SWEEP_INTERVAL = 0.5  # seconds between expiry sweeps (unpaid trades close at their time_expire)
METHODS = frozenset({wire.PRECREATE, wire.QUERY, wire.CLOSE, wire.REFUND, wire.REFUND_QUERY, wire.BILL_URL_QUERY,
                     CERT_DOWNLOAD, wire.TRADE_PAY, wire.CANCEL, *wire.BROWSER_METHODS})


def _operations(sandbox: Sandbox, desk: BarcodeDesk) -> dict[str, Callable[..., dict[str, Any]]]:
    return {
        wire.PRECREATE: sandbox.precreate, wire.QUERY: sandbox.query, wire.CLOSE: sandbox.close,
        wire.REFUND: sandbox.refund, wire.REFUND_QUERY: sandbox.refund_query, wire.BILL_URL_QUERY: sandbox.bill_url,
        CERT_DOWNLOAD: lambda app_id, params, biz: certs.download(sandbox.state.certs, biz),
        wire.TRADE_PAY: desk.pay, wire.CANCEL: desk.cancel,
    }


class _Answers(kit.HtmlGatewayErrors):
    """How Alipay's gateway fails (see :class:`gateway.sandbox.kit.FaultAnswers`)."""

    def __init__(self, state: SandboxState, key: str, charset: str, cert_sn: str | None = None) -> None:
        self.state, self.key, self.charset, self.cert_sn = state, key, charset, cert_sn

    def business(self, fault: kit.Fault) -> web.Response:
        sub_code = fault.sub_code or "ACQ.SYSTEM_ERROR"
        code = fault.code or ("20000" if sub_code.startswith("isp.") else "40004")
        msg = "Service Currently Unavailable" if code == "20000" else "Business Failed"
        return gateway_do.signed_answer(self.state, self.key, fail(sub_code, fault.message or "系统繁忙 (injected)",
                                                                   code, msg), self.charset, cert_sn=self.cert_sn)


async def gateway_endpoint(request: web.Request) -> web.StreamResponse:
    sandbox = request.app[SANDBOX]
    state = sandbox.state
    try:
        req = await gateway_do.decode(request)
    except gateway_do.BadRequest as exc:
        return gateway_do.signed_answer(state, "error_response", fail("isv.invalid-charset", str(exc), "40002",
                                                                      "Invalid Arguments"))
    # A cashier button re-posts the signed page URL later: its timestamp has aged, by design.
    tolerance = None if req.action else request.app[TIMESTAMP_TOLERANCE]
    gateway_do.check(req, state, sandbox.now(), tolerance, METHODS)
    if req.method in wire.BROWSER_METHODS:
        return pages.gateway_page(request, req)
    key = gateway_do.response_key(req.method, METHODS)
    if req.error:
        return gateway_do.refusal_answer(state, key, req.error, req.charset, cert_sn=req.cert_sn)
    biz = req.biz
    assert biz is not None

    async def call(corrupt: bool) -> web.StreamResponse:
        try:
            inner = _operations(sandbox, BarcodeDesk(sandbox, request.app[kit.TIME_SCALE]))[req.method](req.params["app_id"], req.params, biz)
        except BizError as exc:
            inner = exc.response
        return gateway_do.signed_answer(state, key, inner, req.charset, corrupt=corrupt, cert_sn=req.cert_sn)

    # Alipay's timeouts happen after the trade system took the call: applied unless told otherwise.
    return await kit.faults.answer(request.app[kit.FAULTS].take("api", req.method), call,
                                   _Answers(state, key, req.charset, req.cert_sn), timeout_applies=True)


async def _sweeper(app: web.Application) -> AsyncIterator[None]:
    sandbox = app[SANDBOX]

    async def sweep() -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            sandbox.sweep()

    task = asyncio.get_running_loop().create_task(sweep())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(keys: dict[str, Any], *, public_url: str, time_scale: float = 1.0,
               timestamp_tolerance: float | None = 900.0) -> web.Application:
    """The sandbox for the app in ``keys`` (see :func:`gateway.sandbox.alipay.generate_keys`).

    ``time_scale`` multiplies the notify retry schedule (0.001 turns 4 minutes into 0.24 s) and the
    refund processing delay (``/_control/refund-timing``);
    ``timestamp_tolerance`` is the accepted clock skew of requests in seconds (None: unchecked).
    """
    app = web.Application()
    notifier = kit.install(app, public_url=public_url, time_scale=time_scale, schedule=notify.SCHEDULE)
    app[SANDBOX] = sandbox = Sandbox(SandboxState(keys), notifier, app[kit.PUBLIC_URL],
                                     refund_timing=app[kit.REFUND_TIMING])
    app[kit.CONTROLS] = AlipayControls(sandbox)
    app[TIMESTAMP_TOLERANCE] = timedelta(seconds=timestamp_tolerance) if timestamp_tolerance is not None \
        else timedelta.max
    app.cleanup_ctx.append(_sweeper)
    app.router.add_route("GET", "/gateway.do", gateway_endpoint, name="gateway")
    app.router.add_route("POST", "/gateway.do", gateway_endpoint)
    app.router.add_route("GET", "/qr/{token}", pages.qr_page, name="qr")
    app.router.add_route("POST", "/qr/{token}", pages.qr_page)
    app.router.add_route("GET", "/bill/{token}", pages.bill_download, name="bill")
    control.add_routes(app)
    apppay.add_routes(app)
    return app
