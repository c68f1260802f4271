"""Merchant API: refunds of a payment -- partial and repeated, never more than was paid."""
from __future__ import annotations

from aiohttp import web

from gateway.api.auth import MERCHANT
from gateway.api.common import json_response, parse
from gateway.api.models import RefundCreate
from gateway.keys import SERVICES
from gateway.services import refunds as service

routes = web.RouteTableDef()


@routes.post("/payments/{id}/refunds", name="create_refund")
async def create_refund(request: web.Request) -> web.Response:
    body = await parse(request, RefundCreate)
    svc = request.config_dict[SERVICES]
    view = await service.create_refund(svc, request[MERCHANT]["id"], request.match_info["id"],
                                       amount=body.amount, out_refund_no=body.out_refund_no, reason=body.reason)
    return json_response(view, status=201)


@routes.get("/payments/{id}/refunds", name="list_payment_refunds")
async def list_payment_refunds(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    data = await service.list_refunds(svc, request[MERCHANT]["id"], request.match_info["id"])
    return json_response({"object": "list", "data": data, "has_more": False, "next_cursor": None})


@routes.get("/refunds/{id}", name="get_refund")
async def get_refund(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    return json_response(await service.get_refund(svc, request[MERCHANT]["id"], request.match_info["id"]))
