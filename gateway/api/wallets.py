"""Merchant API: customers' wallets, statements, adjustments, freezing, recharge packages, recharges."""
from __future__ import annotations

import re

from aiohttp import web

from gateway.api.auth import MERCHANT
from gateway.api.common import check_return_url, json_response, page_request, page_response, parse
from gateway.api.wallet_models import (
    CheckoutTokenCreate,
    RechargeCreate,
    RechargePackageCreate,
    WalletAdjustmentCreate,
    WalletHoldCreate,
)
from gateway.domain.errors import ValidationFailed
from gateway.domain.wallet import Parts
from gateway.keys import SERVICES
from gateway.services import customer_tokens, recharges, wallets

routes = web.RouteTableDef()
_CUSTOMER = re.compile(r"^[A-Za-z0-9_\-.:@]{1,64}$")


def _customer(request: web.Request) -> str:
    customer_id = request.match_info["customer_id"]
    if not _CUSTOMER.match(customer_id):
        raise ValidationFailed("Invalid customer_id", errors=[{"field": "customer_id",
                                                               "message": "1–64 of [A-Za-z0-9_-.:@]"}])
    return customer_id


@routes.get("/customers/{customer_id}/wallet", name="get_wallet")
async def get_wallet(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    return json_response(await wallets.get_wallet(svc.db, request[MERCHANT]["id"], _customer(request)))


@routes.post("/customers/{customer_id}/wallet/adjustments", name="adjust_wallet")
async def adjust_wallet(request: web.Request) -> web.Response:
    customer_id = _customer(request)
    body = await parse(request, WalletAdjustmentCreate)
    svc = request.config_dict[SERVICES]
    view = await wallets.adjust(svc.db, request[MERCHANT]["id"], customer_id,
                                Parts(cash=body.cash, bonus=body.bonus, points=body.points), body.reason)
    return json_response(view, status=201)


@routes.post("/customers/{customer_id}/checkout_tokens", name="create_checkout_token")
async def create_checkout_token(request: web.Request) -> web.Response:
    customer_id = _customer(request)
    body = await parse(request, CheckoutTokenCreate)
    svc = request.config_dict[SERVICES]
    view = await customer_tokens.issue(svc, request[MERCHANT]["id"], body.payment_id, customer_id)
    return json_response(view, status=201)


@routes.post("/customers/{customer_id}/wallet/freeze", name="freeze_wallet")
async def freeze_wallet(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    return json_response(await wallets.set_frozen(svc.db, request[MERCHANT]["id"], _customer(request), True))


@routes.post("/customers/{customer_id}/wallet/unfreeze", name="unfreeze_wallet")
async def unfreeze_wallet(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    return json_response(await wallets.set_frozen(svc.db, request[MERCHANT]["id"], _customer(request), False))


@routes.get("/customers/{customer_id}/wallet/statements", name="wallet_statement")
async def wallet_statement(request: web.Request) -> web.Response:
    customer_id = _customer(request)
    svc = request.config_dict[SERVICES]
    limit, after = page_request(request)
    rows = await wallets.statement(svc.db, request[MERCHANT]["id"], customer_id, limit=limit + 1, after=after)
    return page_response(rows, limit, lambda m: wallets.movement_view(m, customer_id))  # type: ignore[arg-type]


@routes.post("/customers/{customer_id}/recharges", name="create_recharge")
async def create_recharge(request: web.Request) -> web.Response:
    customer_id = _customer(request)
    body = await parse(request, RechargeCreate)
    check_return_url(body.return_url, request[MERCHANT])
    svc = request.config_dict[SERVICES]
    view = await recharges.create_recharge(
        svc, request[MERCHANT], customer_id, amount=body.amount, package_id=body.package_id,
        pay_method=body.pay_method, out_trade_no=body.out_trade_no, subject=body.subject,
        return_url=body.return_url, notify_url=body.notify_url, expires_in=body.expires_in,
        payer_id=body.payer_id, client_ip=request.remote)
    return json_response(view, status=201)


@routes.post("/recharge_packages", name="create_recharge_package")
async def create_package(request: web.Request) -> web.Response:
    body = await parse(request, RechargePackageCreate)
    svc = request.config_dict[SERVICES]
    view = await wallets.create_package(svc.db, request[MERCHANT]["id"], name=body.name, price=body.price,
                                        bonus=body.bonus, points=body.points, sort_order=body.sort_order)
    return json_response(view, status=201)


@routes.get("/recharge_packages", name="list_recharge_packages")
async def list_packages(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    data = await wallets.list_packages(svc.db, request[MERCHANT]["id"])
    return json_response({"object": "list", "data": data, "has_more": False, "next_cursor": None})


@routes.post("/customers/{customer_id}/wallet/holds", name="create_wallet_hold")
async def create_hold(request: web.Request) -> web.Response:
    customer_id = _customer(request)
    body = await parse(request, WalletHoldCreate)
    svc = request.config_dict[SERVICES]
    view = await wallets.hold(svc.db, request[MERCHANT]["id"], customer_id, body.amount, expires_in=body.expires_in,
                              reason=body.reason)
    return json_response(view, status=201)


@routes.post("/customers/{customer_id}/wallet/holds/{hold_id}/capture", name="capture_wallet_hold")
async def capture_hold(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    return json_response(await wallets.end_hold(svc.db, request[MERCHANT]["id"], _customer(request),
                                                request.match_info["hold_id"], capture=True))


@routes.post("/customers/{customer_id}/wallet/holds/{hold_id}/release", name="release_wallet_hold")
async def release_hold(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    return json_response(await wallets.end_hold(svc.db, request[MERCHANT]["id"], _customer(request),
                                                request.match_info["hold_id"], capture=False))
