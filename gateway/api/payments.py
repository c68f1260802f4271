"""Merchant API: payments."""
from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from gateway.api.auth import MERCHANT
from gateway.api.common import json_response, page_request, page_response, parse
from gateway.api.models import PaymentCreate
from gateway.domain.errors import ValidationFailed
from gateway.domain.states import PaymentStatus
from gateway.keys import SERVICES
from gateway.services import barcode
from gateway.services import payments as service
from gateway.services.views import payment_view
from gateway.store import payments as repo

routes = web.RouteTableDef()
STATUSES = {s.value for s in PaymentStatus}


@routes.post("/payments", name="create_payment")
async def create_payment(request: web.Request) -> web.Response:
    body = await parse(request, PaymentCreate)
    svc = request.config_dict[SERVICES]
    new = service.NewPayment(**body.new_payment())
    create = barcode.pay_by_code if barcode.is_barcode(svc, new.channel) else service.create_payment
    view = await create(svc, request[MERCHANT], new, client_ip=request.remote)
    return json_response(view, status=201)


@routes.get("/payments/{id}", name="get_payment")
async def get_payment(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    return json_response(await service.get_payment(svc, request[MERCHANT]["id"], request.match_info["id"]))


@routes.post("/payments/{id}/close", name="close_payment")
async def close_payment(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    return json_response(await service.close_payment_for(svc, request[MERCHANT]["id"], request.match_info["id"]))


@routes.post("/payments/{id}/capture", name="capture_payment")
async def capture_payment(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    return json_response(await service.capture_payment(svc, request[MERCHANT]["id"], request.match_info["id"]))


def _time(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"{name} must be an ISO 8601 time",
                               errors=[{"field": name, "message": "ISO 8601 expected"}]) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@routes.get("/payments", name="list_payments")
async def list_payments(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    limit, after = page_request(request)
    status = request.query.get("status")
    if status is not None and status not in STATUSES:
        raise ValidationFailed("Unknown status", errors=[{"field": "status", "message": f"one of {sorted(STATUSES)}"}])
    async with svc.db.read() as conn:
        rows = await repo.list_payments(
            conn, request[MERCHANT]["id"], limit=limit + 1, status=status,
            out_trade_no=request.query.get("out_trade_no"), created_gte=_time(request, "created_gte"),
            created_lt=_time(request, "created_lt"), after=after)
    base_url = svc.settings.public_url or ""
    return page_response(rows, limit, lambda r: payment_view(r, base_url=base_url))
