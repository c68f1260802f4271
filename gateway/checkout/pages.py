"""The cashier pages under ``/pay``. Every page shows our own records: the channel's return to us is only
a hint that makes us ask the channel, and nothing about the payment's state comes from the query."""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from gateway.channels.base import PayerIdentityFailed, VerificationError
from gateway.channels.registry import Registry
from gateway.checkout import browser, flow, oauth
from gateway.checkout.agent import detect, in_app_methods, kind_of
from gateway.checkout.balance import balance_offer
from gateway.checkout.browser import csrf_token
from gateway.checkout.i18n import COOKIE, language
from gateway.checkout.labels import scan_prompt, texts
from gateway.domain.errors import ChannelDeclined, ChannelUnavailable, InvalidState, NotFound
from gateway.domain.pay import ActionKind, BrowserKind, PayAction
from gateway.domain.states import PaymentStatus
from gateway.keys import CHECKOUT, HTTP, PHONE_PAGES, SERVICES
from gateway.services import payments
from gateway.store import merchants as merchants_repo
from gateway.store import payments as repo
from gateway.web.i18n import LANGS, format_amount
from gateway.web.pages import render_page

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


def _outcome(data: flow.PageData) -> str:
    status = data.payment["status"]
    if status in (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED):
        return "paid"
    if status == PaymentStatus.REFUNDED:
        return "refunded"
    if status == PaymentStatus.CLOSED:
        # Closed by the expiry task (close_reason "expired"), or by anyone once the time had run out: the
        # shopper's story is still "the time to pay has passed", not a merchant's decision.
        closed_at = data.payment["closed_at"]
        ran_out = closed_at is not None and closed_at >= data.payment["expires_at"]
        return "expired" if data.payment.get("close_reason") == "expired" or ran_out else "closed"
    return "expired" if data.expired else "pending"


def _render(request: web.Request, data: flow.PageData, **extra: Any) -> web.Response:
    svc, lang = request.config_dict[SERVICES], language(request)
    p = data.payment
    choices = [m for m in extra.get("methods", []) if not svc.registry.spec(m).needs_payer]
    state = _outcome(data)
    if state == "pending" and not choices and not extra.get("current") and not extra.get("aggregated") \
            and not extra.get("balance"):
        state = "unavailable"  # nothing this browser can do: say so, and do not wait for a payment
    context = {
        "t": texts(svc.registry, lang), "payment": p, "merchant_name": data.merchant["name"],
        "amount_text": format_amount(p["amount"], p["currency"], lang),
        "state": state, "remaining": data.remaining, "return_url": flow.allowed_return_url(data),
        "status_url": svc.url(f"/pay/{p['id']}/status"), "page_url": f"/pay/{p['id']}",
        "current": None, "aggregated": None, "notice": None, "balance": None, "sandbox": svc.settings.sandbox_base,
        "csrf": csrf_token(request), "marks": svc.registry.method_channels,
    } | extra | {"methods": choices}
    return render_page(request, "checkout/pay.html", context)


def _aggregated_channels(registry: Registry, data: flow.PageData) -> list[str]:
    """The channels whose wallet apps can continue from the aggregated code -- which stands for the
    shopper's choice of app, so it applies only without a fixed method and with at least two of them."""
    if data.payment["pay_method"]:
        return []
    channels = sorted({registry.for_method(m).name for m in in_app_methods(registry, data.allowed)})
    return channels if len(channels) >= 2 else []


def _phone_page(request: web.Request, attempt: Any) -> str | None:
    """With the sandboxes on, the page a phone would open for this attempt -- so a desktop tester can
    "scan" a code or stand in for a wallet's JS bridge. The sandbox registers the lookup; never in
    production."""
    find = request.config_dict.get(PHONE_PAGES)
    return find(attempt["pay_method"], flow.action(attempt)) if find is not None else None


async def _current_view(request: web.Request, attempt: Any) -> dict[str, Any]:
    svc, checkout = request.config_dict[SERVICES], request.config_dict[CHECKOUT]
    method, action = attempt["pay_method"], flow.action(attempt)
    view: dict[str, Any] = {"method": method, "id": attempt["id"], "kind": action.kind.value}
    if action.kind is ActionKind.QR and action.qr is not None:
        view |= {"svg": checkout.qr.svg(attempt["id"], action.qr),
                 "prompt": scan_prompt(svc.registry, language(request), method),
                 "png_url": f"/pay/{attempt['payment_id']}/qr/{attempt['id']}.png",
                 "sandbox_url": _phone_page(request, attempt)}
    elif action.kind in (ActionKind.JSAPI, ActionKind.APP):
        view |= {"sandbox_url": _phone_page(request, attempt), "params": dict(action.params)}
    elif action.kind is ActionKind.FORM_POST:
        view |= {"url": action.url, "fields": dict(action.fields)}
    return view


@routes.get("/{id}", name="page")
async def page(request: web.Request) -> web.StreamResponse:
    if request.query.get("lang") in LANGS:  # the language switch: remember it, then a clean URL
        token = request.query.get("customer_token")  # (keeping the balance offer)
        response = web.HTTPSeeOther(request.path + (f"?{urlencode({'customer_token': token})}" if token else ""))
        response.set_cookie(COOKIE, request.query["lang"], max_age=365 * 86400, samesite="Lax", httponly=True,
                            path="/")
        raise response
    svc = request.config_dict[SERVICES]
    data = await flow.load(svc, request.match_info["id"])
    if not data.payable:
        return _render(request, data)
    client = detect(svc.registry, request.headers.get("User-Agent"))
    methods = data.methods_for(svc.registry, client)
    notice = None
    for method in [m for m in methods if svc.registry.spec(m).needs_payer]:
        if data.current([method]) is not None:
            continue
        state = request.config_dict[CHECKOUT].oauth.sign(data.payment["id"], browser.nonce(request))
        step = await oauth.payer_step(svc, data.payment["merchant_id"], method,
                                      svc.url(f"/pay/{data.payment['id']}/oauth"), state)
        if step is not None:  # identify the payer first; the attempt opens when the channel sends them back
            raise web.HTTPFound(step[1])
        methods = [m for m in methods if m != method]
        notice = "in_app_unavailable"
    current = data.current(methods)
    aggregated = None
    # A desktop shows one code: the aggregated one while the shopper has not picked a channel and two
    # wallets apply (opening it writes nothing), otherwise the one channel's own code.
    if current is None and client.kind is BrowserKind.DESKTOP and \
            (channels := _aggregated_channels(svc.registry, data)):
        url = svc.url(f"/pay/{data.payment['id']}/scan")
        aggregated = {"svg": request.config_dict[CHECKOUT].qr.svg("scan:" + data.payment["id"], url), "url": url,
                      "channels": channels}
    elif current is None and client.kind is BrowserKind.DESKTOP and \
            (qr := [m for m in methods if kind_of(svc.registry, m) is ActionKind.QR]):
        try:  # a desktop shopper expects a code to scan at once
            current = await flow.switch(svc, data, qr[0], client_ip=request.remote)
        except (ChannelDeclined, ChannelUnavailable):
            notice = "channel_error"
        except InvalidState:  # paid or closed meanwhile
            return _render(request, await flow.load(svc, data.payment["id"]))
    return _render(request, data, methods=methods, notice=notice, aggregated=aggregated, client=client.value,
                   current=await _current_view(request, current) if current else None,
                   balance=balance_offer(request, data))


@routes.post("/{id}/method", name="method")
async def choose_method(request: web.Request) -> web.StreamResponse:
    svc = request.config_dict[SERVICES]
    data = await flow.load(svc, request.match_info["id"])
    form = await request.post()
    method = str(form.get("method", ""))
    if not data.payable:
        raise web.HTTPSeeOther(f"/pay/{data.payment['id']}")
    if svc.registry.knows(method) and svc.registry.spec(method).needs_payer:
        raise web.HTTPSeeOther(f"/pay/{data.payment['id']}")  # the page starts the payer-identity round trip
    try:
        attempt = await flow.switch(svc, data, method, client_ip=request.remote)
    except (ChannelDeclined, ChannelUnavailable, InvalidState):
        fresh = await flow.load(svc, data.payment["id"])
        return _render(request, fresh, notice="channel_error" if fresh.payable else None,
                       methods=fresh.methods_for(svc.registry, detect(svc.registry, request.headers.get("User-Agent"))))
    if kind_of(svc.registry, method) is ActionKind.REDIRECT:
        raise web.HTTPSeeOther(flow.redirect_target(svc, attempt))
    raise web.HTTPSeeOther(f"/pay/{data.payment['id']}")


@routes.get("/{id}/oauth", name="oauth")
async def oauth_return(request: web.Request) -> web.StreamResponse:
    """The channel brings the shopper back from identifying them, with ``code`` and our ``state``: the state
    must be ours, for this payment, and fresh -- otherwise the code is not used."""
    svc = request.config_dict[SERVICES]
    data = await flow.load(svc, request.match_info["id"])
    state, code = request.query.get("state", ""), request.query.get("code", "")
    if not data.payable:
        raise web.HTTPSeeOther(f"/pay/{data.payment['id']}")
    if not code or not request.config_dict[CHECKOUT].oauth.check(data.payment["id"], browser.nonce(request), state):
        raise web.HTTPBadRequest(text="invalid OAuth state")
    client = detect(svc.registry, request.headers.get("User-Agent"))
    needing = [m for m in data.allowed if svc.registry.spec(m).needs_payer]
    method = next((m for m in data.methods_for(svc.registry, client) if m in needing), None) or \
        next(iter(needing), None)
    step = await oauth.payer_step(svc, data.payment["merchant_id"], method, "", state) if method else None
    if step is None:
        raise NotFound("This pay method is not available")
    try:
        payer_id = await step[0].exchange(svc, request.config_dict[HTTP], code)
    except PayerIdentityFailed as exc:
        log.warning("payer identification failed for payment %s: %s", data.payment["id"], exc)
        raise web.HTTPBadRequest(text="The channel did not confirm the shopper") from None
    await flow.switch(svc, data, step[0].method, client_ip=request.remote, payer_id=payer_id)
    raise web.HTTPSeeOther(f"/pay/{data.payment['id']}")


@routes.get("/{id}/scan", name="scan")
async def scan(request: web.Request) -> web.StreamResponse:
    """The aggregated code: one QR, continued in the app that scanned it."""
    svc = request.config_dict[SERVICES]
    data = await flow.load(svc, request.match_info["id"])
    client = detect(svc.registry, request.headers.get("User-Agent"))
    if not data.payable:
        raise web.HTTPSeeOther(f"/pay/{data.payment['id']}")
    if client.kind is BrowserKind.IN_APP:
        # A wallet app scanned it: go straight to the wallet's redirect method, else to the page (which
        # runs any payer-identity step first).
        direct = [m for m in data.methods_for(svc.registry, client)
                  if kind_of(svc.registry, m) is ActionKind.REDIRECT and not svc.registry.spec(m).needs_payer]
        if direct:
            attempt = await flow.switch(svc, data, direct[0], client_ip=request.remote)
            raise web.HTTPSeeOther(flow.redirect_target(svc, attempt))
        raise web.HTTPSeeOther(f"/pay/{data.payment['id']}")
    lang = language(request)
    return render_page(request, "checkout/scan.html", {
        "t": texts(svc.registry, lang), "page_url": f"/pay/{data.payment['id']}",
        "merchant_name": data.merchant["name"], "payment": data.payment,
        "amount_text": format_amount(data.payment["amount"], data.payment["currency"], lang)})


@routes.post("/{id}/return")
@routes.get("/{id}/return", name="channel_return")
async def channel_return(request: web.Request) -> web.StreamResponse:
    """A channel's return to us after paying (e.g. Alipay's return_url as a GET, a form POST of signed
    fields from others). The signed parameters are only a hint: when they verify, we ask the channel about
    the trade (the answer, not the browser, changes our records) and show our page."""
    svc = request.config_dict[SERVICES]
    payment_id = request.match_info["id"]
    params = dict(request.query)
    if request.method == "POST":
        params |= {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    trade_no = next((t for f in svc.registry.factories if (t := f.return_trade_no(params))), "")
    async with svc.db.read() as conn:
        attempt = await repo.get_attempt(conn, trade_no) if 0 < len(trade_no) <= 40 else None
        account = await merchants_repo.get_account(conn, attempt["account_id"]) if attempt else None
    if attempt is not None and account is not None and attempt["payment_id"] == payment_id \
            and attempt["status"] == "pending":
        channel = svc.pool.get(account)
        verify = getattr(channel, "verify_params", None)
        try:
            if verify is not None:
                verify(params)
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
            attempt["status"] != "pending" or (action := PayAction.loads(attempt["pay_data"])) is None or \
            action.kind is not ActionKind.QR or action.qr is None:
        raise NotFound("No such QR code")
    body = request.config_dict[CHECKOUT].qr.png(attempt["id"], action.qr)
    return web.Response(body=body, content_type="image/png", headers={
        "Content-Disposition": f'attachment; filename="{attempt["payment_id"]}.png"'})
