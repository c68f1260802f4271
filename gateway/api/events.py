"""Merchant API: the events we send to your webhook endpoint, their delivery log, resend; and rotating
the webhook signing secret."""
from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel

from gateway.api.auth import MERCHANT
from gateway.api.common import json_response, page_request, page_response, query_str
from gateway.api.idempotency import SECRET
from gateway.domain.errors import NotFound
from gateway.keys import SERVICES
from gateway.services import merchants, webhooks
from gateway.store import events as repo
from gateway.store import outbox

routes = web.RouteTableDef()


class Delivery(BaseModel):
    """One attempt to deliver an event to your endpoint."""

    attempt: int
    url: str
    status_code: int | None
    latency_ms: int | None
    response_excerpt: str | None
    error: str | None
    attempted_at: str


class Event(BaseModel):
    """Something that happened to one of your objects. ``id`` is also the ``webhook-id`` header of every
    delivery of it (retries included), so you can drop repeats. ``deliveries`` only on retrieval."""

    id: str
    object: Literal["event"]
    type: str
    created_at: str
    data: dict[str, Any]
    delivery_status: Literal["pending", "delivered", "failed", "none"]
    attempts: int
    next_attempt_at: str | None
    delivered_at: str | None
    deliveries: list[Delivery] | None = None


class EventList(BaseModel):
    object: Literal["list"]
    data: list[Event]
    has_more: bool
    next_cursor: str | None


class WebhookSecret(BaseModel):
    """The new signing secret, shown this once. Deliveries carry signatures under both secrets until
    ``previous_valid_until``."""

    object: Literal["webhook_secret"]
    webhook_secret: str
    previous_valid_until: str


@routes.get("/events", name="list_events")
async def list_events(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    limit, after = page_request(request)
    async with svc.db.read() as conn:
        rows = await repo.list_events(conn, request[MERCHANT]["id"], limit=limit + 1,
                                      type_=query_str(request, "type", 48),
                                      object_id=query_str(request, "object_id", 40),
                                      after=after)
    return page_response(rows, limit, webhooks.event_view)


async def _event(request: web.Request) -> dict[str, Any]:
    svc = request.config_dict[SERVICES]
    async with svc.db.read() as conn:
        row = await repo.get_event(conn, request[MERCHANT]["id"], request.match_info["id"])
        if row is None:
            raise NotFound(f"No event {request.match_info['id']}")
        deliveries = await outbox.deliveries_of(conn, row["id"])
    return webhooks.event_view(row, deliveries)


@routes.get("/events/{id}", name="get_event")
async def get_event(request: web.Request) -> web.Response:
    return json_response(await _event(request))


@routes.post("/events/{id}/resend", name="resend_event")
async def resend_event(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    merchant_id = request[MERCHANT]["id"]
    await webhooks.require_endpoint(svc, merchant_id, request.match_info["id"])
    async with svc.db.begin() as conn:
        resent = await outbox.resend(conn, merchant_id, request.match_info["id"])
    if not resent:
        raise NotFound(f"No event {request.match_info['id']}")
    return json_response(await _event(request), status=202)


@routes.post("/webhook-secret/rotate", name="rotate_webhook_secret")
async def rotate_webhook_secret(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    response = json_response(await merchants.rotate_webhook_secret(svc.db, svc.settings, request[MERCHANT]["id"]),
                             status=201)
    response[SECRET] = True  # kept sealed for an Idempotency-Key replay
    return response
