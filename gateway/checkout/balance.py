"""Paying from the customer's balance at the checkout (``balance``, :mod:`gateway.channels.prepaid`).

Offered only when the page was opened with a valid ``customer_token`` (:mod:`gateway.services.customer_tokens`:
the merchant's server names its customer through the API; the shopper cannot name another) and the merchant
has the stored-value channel enabled. The shopper first sees a confirmation page -- available balance,
amount, a confirm button that POSTs (CSRF-protected) -- and only that POST debits the wallet, through the
same channel contract as every other method (instant success, or a clear decline)."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from gateway.checkout import flow
from gateway.checkout.browser import csrf_token
from gateway.checkout.i18n import language
from gateway.checkout.labels import texts
from gateway.domain.errors import (
    ChannelDeclined,
    ChannelUnavailable,
    InsufficientBalance,
    InvalidState,
    WalletFrozen,
)
from gateway.keys import SERVICES
from gateway.services import customer_tokens, wallets
from gateway.web.i18n import format_amount
from gateway.web.pages import render_page

METHOD = "balance"
routes = web.RouteTableDef()


def _customer(request: web.Request, data: flow.PageData, token: str) -> str | None:
    svc = request.config_dict[SERVICES]
    if not token or METHOD not in data.allowed or not data.payable or data.payment["pay_method"] not in (None, METHOD):
        return None
    return customer_tokens.tokens(svc).verify(data.payment["merchant_id"], data.payment["id"], token)


def balance_offer(request: web.Request, data: flow.PageData) -> dict[str, Any] | None:
    """The "pay with balance" entry for the cashier page, when this page may offer it."""
    token = request.query.get("customer_token", "")
    if _customer(request, data, token) is None:
        return None
    return {"url": f"/pay/{data.payment['id']}/balance?{urlencode({'customer_token': token})}", "token": token}


async def _confirm_page(request: web.Request, data: flow.PageData, customer_id: str, token: str,
                        notice: str | None = None, status: int = 200) -> web.Response:
    svc, lang = request.config_dict[SERVICES], language(request)
    wallet = await wallets.get_wallet(svc.db, data.payment["merchant_id"], customer_id)
    p = data.payment
    usable = wallet["status"] == "active" and wallet["currency"] == p["currency"]
    enough = usable and wallet["available"] >= p["amount"]
    return render_page(request, "checkout/balance.html", {
        "t": texts(svc.registry, lang), "payment": p, "merchant_name": data.merchant["name"],
        "amount_text": format_amount(p["amount"], p["currency"], lang),
        "balance_text": format_amount(wallet["available"], wallet["currency"], lang),
        "enough": enough, "frozen": wallet["status"] != "active", "token": token, "csrf": csrf_token(request),
        "notice": notice, "page_url": f"/pay/{p['id']}"}, status=status)


@routes.get("/{id}/balance", name="balance")
async def confirm(request: web.Request) -> web.StreamResponse:
    svc = request.config_dict[SERVICES]
    data = await flow.load(svc, request.match_info["id"])
    token = request.query.get("customer_token", "")
    customer_id = _customer(request, data, token)
    if customer_id is None:
        raise web.HTTPSeeOther(f"/pay/{data.payment['id']}")
    return await _confirm_page(request, data, customer_id, token)


@routes.post("/{id}/balance", name="balance_pay")
async def pay(request: web.Request) -> web.StreamResponse:
    svc = request.config_dict[SERVICES]
    data = await flow.load(svc, request.match_info["id"])
    token = str((await request.post()).get("customer_token", ""))
    customer_id = _customer(request, data, token)
    if customer_id is None:
        raise web.HTTPSeeOther(f"/pay/{data.payment['id']}")
    try:
        await flow.switch(svc, data, METHOD, client_ip=request.remote, payer_id=customer_id)
    except (InsufficientBalance, WalletFrozen):
        return await _confirm_page(request, await flow.load(svc, data.payment["id"]), customer_id, token,
                                   notice="balance_insufficient", status=402)
    except (ChannelDeclined, ChannelUnavailable):
        return await _confirm_page(request, await flow.load(svc, data.payment["id"]), customer_id, token,
                                   notice="balance_declined", status=402)
    except InvalidState:
        pass  # paid or closed meanwhile: the page says which
    raise web.HTTPSeeOther(f"/pay/{data.payment['id']}")
