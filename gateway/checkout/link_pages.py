"""``/l/{slug}``: a payment link opened by a shopper -- a fixed amount goes straight to a new payment's
checkout; an open amount asks for it first (in yuan, parsed exactly into fen)."""
from __future__ import annotations

from aiohttp import web

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


def _form(request: web.Request, link: Row, merchant: Row, error: bool = False, value: str = "") -> web.Response:
    lang = language(request)
    lo, hi = link["min_amount"] or 1, link["max_amount"]
    bounds = format_amount(lo, link["currency"], lang) + (f" – {format_amount(hi, link['currency'], lang)}"
                                                          if hi else "")
    return render_page(request, "checkout/link.html", {
        "t": texts(request.config_dict[SERVICES].registry, lang), "link": link, "merchant_name": merchant["name"],
        "bounds": bounds, "error": error, "value": value}, status=422 if error else 200)


@routes.get("/{slug}", name="link")
async def open_link(request: web.Request) -> web.StreamResponse:
    svc = request.config_dict[SERVICES]
    link, merchant = await links.active_link(svc, request.match_info["slug"])
    if link["amount"] is None:
        return _form(request, link, merchant)
    await risk_limits.link_open(svc, request.remote, link["id"])
    payment_id = await links.pay(svc, link, merchant, link["amount"], client_ip=request.remote)
    raise web.HTTPSeeOther(f"/pay/{payment_id}")


@routes.post("/{slug}", name="link_pay")
async def pay_link(request: web.Request) -> web.StreamResponse:
    svc = request.config_dict[SERVICES]
    link, merchant = await links.active_link(svc, request.match_info["slug"])
    if link["amount"] is not None:
        raise web.HTTPSeeOther(f"/l/{link['slug']}")
    raw = str((await request.post()).get("amount", "")).strip()[:24]
    try:
        amount = parse_major(raw, link["currency"])
        links.check_amount(link, amount)
    except (MoneyError, ValidationFailed):
        return _form(request, link, merchant, error=True, value=raw)
    await risk_limits.link_open(svc, request.remote, link["id"])
    payment_id = await links.pay(svc, link, merchant, amount, client_ip=request.remote)
    raise web.HTTPSeeOther(f"/pay/{payment_id}")


@routes.get("/{slug}/poster.png", name="poster")
async def poster(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    link, merchant = await links.active_link(svc, request.match_info["slug"])
    lang = language(request)
    body = render_poster(svc.url(f"/l/{link['slug']}"), merchant["name"], link["subject"],
                         amount_text(link, lang), texts(svc.registry, lang)["aggregated"])
    return web.Response(body=body, content_type="image/png", headers={"Cache-Control": "public, max-age=300"})
