"""A page standing in for the Alipay app paying an APP order: ``/app/pay?<order string>``.

The merchant's app would hand the order string to the Alipay App SDK, which submits it to Alipay: here
the page takes it as its query, checks it as gateway.do checks a request (app id, signature, certificate
SNs), opens the trade (it exists from then on, as with a scanned QR code) and offers Pay / Cancel,
POSTed back to the same URL.
"""
from __future__ import annotations

from aiohttp import web

from gateway.channels.alipay import protocol as wire
from gateway.sandbox.alipay import gateway_do, pages
from gateway.sandbox.alipay.appkeys import SANDBOX
from gateway.sandbox.alipay.service import BizError
from gateway.sandbox.alipay.state import WAIT_BUYER_PAY

METHODS = frozenset({wire.APP_PAY})


async def app_pay(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    try:
        req = await gateway_do.decode(request)
    except gateway_do.BadRequest as exc:
        return pages.error_page("isv.invalid-charset", str(exc), 400)
    # The SDK submits the order string when the shopper taps pay: its timestamp may have aged.
    gateway_do.check(req, sandbox.state, sandbox.now(), None, METHODS)
    if req.error:
        return pages.error_page(req.error["sub_code"], req.error["sub_msg"], 400)
    assert req.biz is not None
    if req.biz.get("product_code", "QUICK_MSECURITY_PAY") != "QUICK_MSECURITY_PAY":
        return pages.error_page("ACQ.PRODUCT_CODE_ERROR", "产品码错误 product_code must be QUICK_MSECURITY_PAY", 400)
    action_url = f"{sandbox.public_url}/app/pay?{request.rel_url.raw_query_string}"
    trade = sandbox.state.find(str(req.biz.get("out_trade_no") or ""), app_id=req.params["app_id"])
    if trade is not None and trade.method == wire.APP_PAY and trade.status != WAIT_BUYER_PAY:
        return pages.cashier(trade, action_url)  # paid or closed already: the app shows how it ended
    try:
        trade = sandbox.open_page(req.params["app_id"], req.method, req.params, req.biz)
    except BizError as exc:
        return pages.error_page(exc.response["sub_code"], exc.response["sub_msg"], 409)
    if req.action:
        return pages._after_action(sandbox, trade, req.action, action_url)
    return pages.cashier(trade, action_url)


def add_routes(app: web.Application) -> None:
    app.router.add_route("GET", "/app/pay", app_pay, name="app_pay")
    app.router.add_route("POST", "/app/pay", app_pay)
