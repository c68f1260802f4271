"""The Alipay sandbox as an aiohttp app: ``/gateway.do`` (GET and POST), ``/qr/{token}``,
``/bill/{token}`` and the ``/_control/`` API. Mounted by the gateway under ``/sandbox/alipay`` or run
on its own; ``public_url`` is the absolute prefix it is reachable at (used in qr_code / page URLs).
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp import web

from gateway.channels.alipay import transformers as tx
from gateway.sandbox.alipay import control, pages, protocol
from gateway.sandbox.alipay.appkeys import (
    HTTP,
    NOTIFIER,
    PUBLIC_URL,
    SANDBOX,
    STATE,
    TIME_SCALE,
    TIMESTAMP_TOLERANCE,
)
from gateway.sandbox.alipay.notify import Notifier
from gateway.sandbox.alipay.service import BizError, Sandbox, fail
from gateway.sandbox.alipay.state import SandboxState

SWEEP_INTERVAL = 0.5  # seconds between expiry sweeps (unpaid trades close at their time_expire)


def _operations(sandbox: Sandbox) -> dict[str, Callable[..., dict[str, Any]]]:
    return {
        tx.PRECREATE: sandbox.precreate, tx.QUERY: sandbox.query, tx.CLOSE: sandbox.close,
        tx.REFUND: sandbox.refund, tx.REFUND_QUERY: sandbox.refund_query, tx.BILL_URL_QUERY: sandbox.bill_url,
    }


METHODS = frozenset({tx.PRECREATE, tx.QUERY, tx.CLOSE, tx.REFUND, tx.REFUND_QUERY, tx.BILL_URL_QUERY,
                     *tx.BROWSER_METHODS})


async def gateway_do(request: web.Request) -> web.StreamResponse:
    sandbox = request.app[SANDBOX]
    state = sandbox.state
    try:
        req = await protocol.decode(request)
    except protocol.BadRequest as exc:
        return protocol.signed_answer(state, "error_response", fail("isv.invalid-charset", str(exc), "40002",
                                                                     "Invalid Arguments"))
    # A cashier button re-posts the signed page URL later: its timestamp has aged, by design.
    tolerance = None if req.action else request.app[TIMESTAMP_TOLERANCE]
    protocol.check(req, state, sandbox.now(), tolerance, METHODS)
    if req.method in tx.BROWSER_METHODS:
        return pages.gateway_page(request, req)
    key = protocol.response_key(req.method, METHODS)
    if req.error:
        return protocol.signed_answer(state, key, req.error, req.charset)
    assert req.biz is not None
    fault = state.take_api_fault(req.method)
    if fault and fault.mode == "http500":
        return web.Response(status=500, text="<html><body>500 Internal Server Error</body></html>",
                            content_type="text/html")
    if fault and fault.mode == "business":
        code = fault.code or ("20000" if fault.sub_code.startswith("isp.") else "40004")
        msg = "Service Currently Unavailable" if code == "20000" else "Business Failed"
        return protocol.signed_answer(state, key, fail(fault.sub_code, "系统繁忙 (injected)", code, msg), req.charset)
    try:
        inner = _operations(sandbox)[req.method](req.params["app_id"], req.params, req.biz)
    except BizError as exc:
        inner = exc.response
    if fault and fault.mode == "timeout":
        await asyncio.sleep(fault.seconds)  # applied, but the answer comes too late for the client
    return protocol.signed_answer(state, key, inner, req.charset, corrupt=bool(fault and fault.mode == "badsign"))


async def _http_ctx(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app[HTTP] = session
        yield


async def _sandbox_ctx(app: web.Application) -> AsyncIterator[None]:
    notifier = Notifier(app[STATE], app[HTTP], app[TIME_SCALE])
    app[NOTIFIER] = notifier
    app[SANDBOX] = sandbox = Sandbox(app[STATE], notifier, app[PUBLIC_URL])

    async def sweep() -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            sandbox.sweep()

    sweeper = asyncio.get_running_loop().create_task(sweep())
    yield
    sweeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeper
    await notifier.close()


def create_app(keys: dict[str, Any], *, public_url: str, time_scale: float = 1.0,
               timestamp_tolerance: float | None = 900.0) -> web.Application:
    """The sandbox for the app in ``keys`` (see :func:`gateway.sandbox.alipay.generate_keys`).

    ``time_scale`` multiplies the notify retry schedule (0.001 turns 4 minutes into 0.24 s);
    ``timestamp_tolerance`` is the accepted clock skew of requests in seconds (None: unchecked).
    """
    app = web.Application()
    app[STATE] = SandboxState(keys)
    app[PUBLIC_URL] = public_url.rstrip("/")
    app[TIME_SCALE] = float(time_scale)
    app[TIMESTAMP_TOLERANCE] = timedelta(seconds=timestamp_tolerance) if timestamp_tolerance is not None \
        else timedelta.max
    app.cleanup_ctx.extend([_http_ctx, _sandbox_ctx])
    app.router.add_route("GET", "/gateway.do", gateway_do, name="gateway")
    app.router.add_route("POST", "/gateway.do", gateway_do)
    app.router.add_route("GET", "/qr/{token}", pages.qr_page, name="qr")
    app.router.add_route("POST", "/qr/{token}", pages.qr_page)
    app.router.add_route("GET", "/bill/{token}", pages.bill_download, name="bill")
    app.router.add_routes(control.routes)
    return app
