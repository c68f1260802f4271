"""``/l/{slug}``: a payment link opened by a shopper.

Opening a link never writes: the GET shows the merchant, subject and amount (or an amount field) with a
pay button, and only that form's POST -- CSRF-protected (:mod:`gateway.checkout.browser`) -- creates the
payment and forwards to its checkout. Chosen over "one payment reused per browser" because link previews,
chat-app unfurlers and crawlers fetch links without cookies: any GET that wrote would still make junk
payments, while none of them submits a form with this browser's token. An inactive link reads as such
(410), never as an error trace."""
from __future__ import annotations

from aiohttp import web

from gateway.checkout.browser import csrf_token
from gateway.checkout.i18n import language
from gateway.checkout.labels import texts
from gateway.checkout.poster import amount_text, render_poster
from gateway.domain.errors import ValidationFailed
from gateway.domain.money import MoneyError, parse_major
from gateway.keys import SERVICES
from gateway.services import links, risk_limits
from gateway.store.base import Row
from gateway.web.i18n import format_amount
from gateway.web.pages import render_page

routes = web.RouteTableDef()


def _page(request: web.Request, link: Row, merchant: Row, error: bool = False, value: str = "") -> web.Response:
    lang = language(request)
    t = texts(request.config_dict[SERVICES].registry, lang)
    context = {"t": t, "link": link, "merchant_name": merchant["name"], "error": error, "value": value,
               "csrf": csrf_token(request), "amount_text": amount_text(link, lang)}
    if not link["active"]:
        return render_page(request, "checkout/link.html", context, status=410)
    lo, hi = link["min_amount"] or 1, link["max_amount"]
    context["bounds"] = format_amount(lo, link["currency"], lang) + (
        f" – {format_amount(hi, link['currency'], lang)}" if hi else "")
    return render_page(request, "checkout/link.html", context, status=422 if error else 200)


@routes.get("/{slug}", name="link")
async def open_link(request: web.Request) -> web.StreamResponse:
    svc = request.config_dict[SERVICES]
    link, merchant = await links.link_for_visit(svc, request.match_info["slug"])
    return _page(request, link, merchant)


@routes.post("/{slug}", name="link_pay")
async def pay_link(request: web.Request) -> web.StreamResponse:
    svc = request.config_dict[SERVICES]
    link, merchant = await links.link_for_visit(svc, request.match_info["slug"])
    if not link["active"]:
        return _page(request, link, merchant)
    if link["amount"] is not None:
        amount = link["amount"]
    else:
        raw = str((await request.post()).get("amount", "")).strip()[:24]
        try:
            amount = parse_major(raw, link["currency"])
            links.check_amount(link, amount)
        except (MoneyError, ValidationFailed):
            return _page(request, link, merchant, error=True, value=raw)
    await risk_limits.link_open(svc, request.remote, link["id"])  # each POST opens a payment
    payment_id = await links.pay(svc, link, merchant, amount, client_ip=request.remote)
    raise web.HTTPSeeOther(f"/pay/{payment_id}")


@routes.get("/{slug}/poster.svg", name="poster")
async def poster(request: web.Request) -> web.StreamResponse:
    svc = request.config_dict[SERVICES]
    link, merchant = await links.link_for_visit(svc, request.match_info["slug"])
    if not link["active"]:
        return _page(request, link, merchant)
    lang = language(request)
    body = render_poster(svc.url(f"/l/{link['slug']}"), merchant["name"], link["subject"],
                         amount_text(link, lang), texts(svc.registry, lang)["aggregated"])
    return web.Response(text=body, content_type="image/svg+xml", headers={
        "Cache-Control": "public, max-age=300", "Content-Disposition": f'inline; filename="{link["slug"]}.svg"'})


@routes.get("/{slug}/poster.png", name="poster_png")
async def poster_png(request: web.Request) -> web.StreamResponse:
    """The former raster poster's address: the poster is an SVG now (see :mod:`gateway.checkout.poster`)."""
    raise web.HTTPMovedPermanently(f"/l/{request.match_info['slug']}/poster.svg")
