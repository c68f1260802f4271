"""Merchant API: payment links."""
from __future__ import annotations

from aiohttp import web

from gateway.api.auth import MERCHANT
from gateway.api.common import json_response, parse, query_int
from gateway.api.link_models import PaymentLinkCreate
from gateway.checkout import links as service
from gateway.domain.errors import ValidationFailed
from gateway.keys import SERVICES
from gateway.services.payments import make_cursor, parse_cursor
from gateway.store import links as repo

routes = web.RouteTableDef()


@routes.post("/links", name="create_link")
async def create_link(request: web.Request) -> web.Response:
    body = await parse(request, PaymentLinkCreate)
    svc = request.config_dict[SERVICES]
    view = await service.create_link(svc, request[MERCHANT], service.NewLink(**body.model_dump()))
    return json_response(view, status=201)


@routes.get("/links/{id}", name="get_link")
async def get_link(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    return json_response(await service.get_link(svc, request[MERCHANT]["id"], request.match_info["id"]))


@routes.get("/links", name="list_links")
async def list_links(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    limit = query_int(request, "limit", 20, 1, 100)
    after = None
    if cursor := request.query.get("cursor"):
        try:
            after = parse_cursor(cursor)
        except (ValueError, UnicodeDecodeError):
            raise ValidationFailed("Invalid cursor", errors=[{"field": "cursor", "message": "invalid"}]) from None
    async with svc.db.read() as conn:
        rows = await repo.list_links(conn, request[MERCHANT]["id"], limit=limit + 1, after=after)
    has_more = len(rows) > limit
    rows = rows[:limit]
    base = svc.settings.public_url or ""
    return json_response({"object": "list", "data": [service.link_view(r, base) for r in rows],
                          "has_more": has_more, "next_cursor": make_cursor(rows[-1]) if has_more else None})
