"""The cashier pages under ``/pay``. Every page shows our own records: the channel's return to us is only
a hint that makes us ask the channel, and nothing about the payment's state comes from the query."""
from __future__ import annotations

import logging
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from gateway.channels.base import VerificationError
from gateway.checkout import flow, oauth
from gateway.checkout.agent import QR_METHODS, REDIRECT_METHODS, Client, detect
from gateway.checkout.i18n import COOKIE, STRINGS, language
from gateway.domain.errors import ChannelDeclined, ChannelUnavailable, InvalidState, NotFound
from gateway.domain.states import PaymentStatus
from gateway.keys import CHECKOUT, HTTP, SERVICES
from gateway.services import payments
from gateway.store import merchants as merchants_repo
from gateway.store import payments as repo
from gateway.web.i18n import LANGS, format_amount
from gateway.web.pages import NONCE

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


def _outcome(data: flow.PageData) -> str:
    status = data.payment["status"]
    if status in (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED):
        return "paid"
    if status == PaymentStatus.REFUNDED:
        return "refunded"
    if status == PaymentStatus.CLOSED:
        return "closed"
    return "expired" if data.expired else "pending"


def _render(request: web.Request, data: flow.PageData, **extra: Any) -> web.Response:
    svc, lang = request.config_dict[SERVICES], language(request)
    p = data.payment
    context = {
        "t": STRINGS[lang], "lang": lang, "other_lang": LANGS[1 - LANGS.index(lang)], "nonce": request[NONCE],
        "payment": p, "merchant_name": data.merchant["name"], "amount_text": format_amount(p["amount"], p["currency"], lang),
        "state": _outcome(data), "remaining": data.remaining, "return_url": flow.allowed_return_url(data),
        "status_url": svc.url(f"/pay/{p['id']}/status"), "page_url": f"/pay/{p['id']}",
        "methods": [], "current": None, "aggregated": None, "notice": None, "sandbox": svc.settings.sandbox_base,
    } | extra
    return aiohttp_jinja2.render_template("checkout/pay.html", request, context)


async def _current_view(request: web.Request, attempt: Any) -> dict[str, Any]:
    svc, checkout = request.config_dict[SERVICES], request.config_dict[CHECKOUT]
    method = attempt["pay_method"]
    view: dict[str, Any] = {"method": method, "id": attempt["id"]}
    if method in QR_METHODS:
        view |= {"kind": "qr", "svg": checkout.qr.svg(attempt["id"], flow.qr_content(attempt)),
                 "png_url": f"/pay/{attempt['payment_id']}/qr/{attempt['id']}.png",
                 "sandbox_url": flow.sandbox_phone_url(svc, attempt)}
    elif method == "wechat_jsapi":
        data = flow.pay_data(attempt)
        view |= {"kind": "jsapi", "sandbox_url": flow.jsapi_page(svc, attempt),
                 "params": {k: data[k] for k in ("appId", "timeStamp", "nonceStr", "package", "signType", "paySign")}}
    else:
        view |= {"kind": "redirect"}
    return view


@routes.get("/{id}", name="page")
async def page(request: web.Request) -> web.StreamResponse:
    if request.query.get("lang") in LANGS:  # the language switch: remember it, then a clean URL
        response = web.HTTPSeeOther(request.path)
        response.set_cookie(COOKIE, request.query["lang"], max_age=365 * 86400, samesite="Lax", httponly=True,
                            path="/")
        raise response
    svc = request.config_dict[SERVICES]
    data = await flow.load(svc, request.match_info["id"])
    if not data.payable:
        return _render(request, data)
    client = detect(request.headers.get("User-Agent"))
    methods = data.methods_for(client)
    notice = None
    if client == Client.WECHAT and "wechat_jsapi" in methods and data.current(["wechat_jsapi"]) is None:
        app = await oauth.oauth_app(svc, data.payment["merchant_id"])
        if app is not None:  # get the payer's openid first; the attempt opens when WeChat sends them back
            base, _ = svc.settings.wechat_oauth_bases()
            state = request.config_dict[CHECKOUT].oauth.sign(data.payment["id"])
            raise web.HTTPFound(oauth.authorize_url(base, app, svc.url(f"/pay/{data.payment['id']}/oauth"), state))
        methods = [m for m in methods if m != "wechat_jsapi"]
        notice = "in_wechat_unavailable"
    current = data.current(methods)
    if current is None and client == Client.DESKTOP and (qr := [m for m in methods if m in QR_METHODS]):
        try:  # a desktop shopper expects a code to scan at once
            current = await flow.switch(svc, data, qr[0], client_ip=request.remote)
        except (ChannelDeclined, ChannelUnavailable):
            notice = "channel_error"
        except InvalidState:  # paid or closed meanwhile
            return _render(request, await flow.load(svc, data.payment["id"]))
    aggregated = None
    if client == Client.DESKTOP and not data.payment["pay_method"] and \
            {"wechat_jsapi", "alipay_wap"} & set(data.allowed):
        url = svc.url(f"/pay/{data.payment['id']}/scan")
        aggregated = {"svg": request.config_dict[CHECKOUT].qr.svg("scan:" + data.payment["id"], url), "url": url}
    return _render(request, data, methods=methods, notice=notice, aggregated=aggregated, client=client.value,
                   current=await _current_view(request, current) if current else None)


@routes.post("/{id}/method", name="method")
async def choose_method(request: web.Request) -> web.StreamResponse:
    svc = request.config_dict[SERVICES]
    data = await flow.load(svc, request.match_info["id"])
    form = await request.post()
    method = str(form.get("method", ""))
    if not data.payable:
        raise web.HTTPSeeOther(f"/pay/{data.payment['id']}")
    if method == "wechat_jsapi":  # needs the openid: the page starts the OAuth round trip
        raise web.HTTPSeeOther(f"/pay/{data.payment['id']}")
    try:
        attempt = await flow.switch(svc, data, method, client_ip=request.remote)
    except (ChannelDeclined, ChannelUnavailable, InvalidState):
        fresh = await flow.load(svc, data.payment["id"])
        return _render(request, fresh, notice="channel_error" if fresh.payable else None,
                       methods=fresh.methods_for(detect(request.headers.get("User-Agent"))))
    if method in REDIRECT_METHODS:
        raise web.HTTPSeeOther(flow.redirect_target(svc, attempt))
    raise web.HTTPSeeOther(f"/pay/{data.payment['id']}")


@routes.get("/{id}/oauth", name="oauth")
async def oauth_return(request: web.Request) -> web.StreamResponse:
    """WeChat brings the shopper back with ``code`` and our ``state``: the state must be ours, for this
    payment, and fresh -- otherwise the code is not used."""
    svc = request.config_dict[SERVICES]
    data = await flow.load(svc, request.match_info["id"])
    state, code = request.query.get("state", ""), request.query.get("code", "")
    if not data.payable:
        raise web.HTTPSeeOther(f"/pay/{data.payment['id']}")
    if not code or not request.config_dict[CHECKOUT].oauth.check(data.payment["id"], state):
        raise web.HTTPBadRequest(text="invalid OAuth state")
    app = await oauth.oauth_app(svc, data.payment["merchant_id"])
    if app is None:
        raise NotFound("WeChat Pay is not available")
    _, api_base = svc.settings.wechat_oauth_bases()
    try:
        openid = await oauth.exchange_code(request.config_dict[HTTP], api_base, app, code)
    except oauth.OAuthFailed as exc:
        log.warning("WeChat OAuth failed for payment %s: %s", data.payment["id"], exc)
        raise web.HTTPBadRequest(text="WeChat did not confirm the shopper") from None
    await flow.switch(svc, data, "wechat_jsapi", client_ip=request.remote, openid=openid)
    raise web.HTTPSeeOther(f"/pay/{data.payment['id']}")


@routes.get("/{id}/scan", name="scan")
async def scan(request: web.Request) -> web.StreamResponse:
    """The aggregated code: one QR, continued in the app that scanned it."""
    svc = request.config_dict[SERVICES]
    data = await flow.load(svc, request.match_info["id"])
    client = detect(request.headers.get("User-Agent"))
    if not data.payable or client == Client.WECHAT:
        raise web.HTTPSeeOther(f"/pay/{data.payment['id']}")
    if client == Client.ALIPAY and "alipay_wap" in data.allowed:
        attempt = await flow.switch(svc, data, "alipay_wap", client_ip=request.remote)
        raise web.HTTPSeeOther(flow.redirect_target(svc, attempt))
    if client == Client.ALIPAY:
        raise web.HTTPSeeOther(f"/pay/{data.payment['id']}")
    lang = language(request)
    return aiohttp_jinja2.render_template("checkout/scan.html", request, {
        "t": STRINGS[lang], "lang": lang, "nonce": request[NONCE], "page_url": f"/pay/{data.payment['id']}",
        "merchant_name": data.merchant["name"], "payment": data.payment,
        "amount_text": format_amount(data.payment["amount"], data.payment["currency"], lang)})


@routes.get("/{id}/return", name="channel_return")
async def channel_return(request: web.Request) -> web.StreamResponse:
    """Alipay's return_url after paying. The signed parameters are only a hint: when they verify, we ask
    Alipay about the trade (the answer, not the browser, changes our records) and show our page."""
    svc = request.config_dict[SERVICES]
    payment_id = request.match_info["id"]
    trade_no = request.query.get("out_trade_no", "")
    async with svc.db.read() as conn:
        attempt = await repo.get_attempt(conn, trade_no) if 0 < len(trade_no) <= 40 else None
        account = await merchants_repo.get_account(conn, attempt["account_id"]) if attempt else None
    if attempt is not None and account is not None and attempt["payment_id"] == payment_id \
            and attempt["status"] == "pending":
        channel = svc.pool.get(account)
        verify = getattr(channel, "verify_params", None)
        try:
            if verify is not None:
                verify(dict(request.query))
                await payments.apply_trade_state(svc, attempt)
        except VerificationError as exc:  # forged or tampered: changes nothing; the page shows our records
            log.info("return for %s not used: %s", payment_id, exc.code)
    raise web.HTTPSeeOther(f"/pay/{payment_id}")


@routes.get("/{id}/qr/{attempt}.png", name="qr_png")
async def qr_png(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    async with svc.db.read() as conn:
        attempt = await repo.get_attempt(conn, request.match_info["attempt"][:40])
    if attempt is None or attempt["payment_id"] != request.match_info["id"] or \
            attempt["pay_method"] not in QR_METHODS or attempt["status"] != "pending":
        raise NotFound("No such QR code")
    body = request.config_dict[CHECKOUT].qr.png(attempt["id"], flow.qr_content(attempt))
    return web.Response(body=body, content_type="image/png", headers={
        "Content-Disposition": f'attachment; filename="{attempt["payment_id"]}.png"'})
