"""Merchant API: payment links."""
from __future__ import annotations

from aiohttp import web

from gateway.api.auth import MERCHANT
from gateway.api.common import check_return_url, json_response, page_request, page_response, parse
from gateway.api.link_models import PaymentLinkCreate, PaymentLinkUpdate
from gateway.keys import SERVICES
from gateway.services import links as service
from gateway.store import links as repo

routes = web.RouteTableDef()


@routes.post("/links", name="create_link")
async def create_link(request: web.Request) -> web.Response:
    body = await parse(request, PaymentLinkCreate)
    check_return_url(body.return_url, request[MERCHANT])
    svc = request.config_dict[SERVICES]
    view = await service.create_link(svc, request[MERCHANT], service.NewLink(**body.model_dump()))
    return json_response(view, status=201)


@routes.get("/links/{id}", name="get_link")
async def get_link(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    return json_response(await service.get_link(svc, request[MERCHANT]["id"], request.match_info["id"]))


@routes.patch("/links/{id}", name="update_link")
async def update_link(request: web.Request) -> web.Response:
    body = await parse(request, PaymentLinkUpdate)
    svc = request.config_dict[SERVICES]
    changes = body.model_dump(include=body.model_fields_set)
    return json_response(await service.update_link(svc, request[MERCHANT]["id"], request.match_info["id"], changes))


@routes.get("/links", name="list_links")
async def list_links(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    limit, after = page_request(request)
    async with svc.db.read() as conn:
        rows = await repo.list_links(conn, request[MERCHANT]["id"], limit=limit + 1, after=after)
    base = svc.settings.public_url or ""
    return page_response(rows, limit, lambda r: service.link_view(r, base))
