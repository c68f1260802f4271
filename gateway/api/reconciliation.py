"""Merchant API: the reconciliation batches of the merchant's own channel accounts (read only)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from gateway.api.auth import MERCHANT
from gateway.api.common import json_response, page_request, page_response, query_choice
from gateway.domain.errors import NotFound, ValidationFailed
from gateway.keys import SERVICES
from gateway.services.reconciliation.engine import batch_view, report
from gateway.store.reconciliation import get_batch, merchant_batches

routes = web.RouteTableDef()
STATUSES = {"pending", "running", "done", "no_bill", "not_ready", "failed"}


class ReconSide(BaseModel):
    amount: int | None
    status: str | None


class ReconDiscrepancy(BaseModel):
    """One difference between the bill and our records; ``type`` says which, ``state`` where it stands
    (``open``, ``carried`` until a neighbouring day's bill may show it, ``auto_resolved``, ``resolved``,
    ``ignored``); ``action`` what the gateway did about it."""

    id: str
    type: str
    severity: Literal["info", "warn", "high"]
    state: Literal["open", "carried", "auto_resolved", "resolved", "ignored"]
    key: str
    payment_id: str | None
    attempt_id: str | None
    refund_id: str | None
    channel: ReconSide
    local: ReconSide
    action: str | None
    expected_until: date | None
    note: str | None  # the reason given when a person resolved it
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    bill_date: date


class ReconBatch(BaseModel):
    """One channel account's bill day: both sides' totals (amounts in fen, fees in 1/1000 fen and the
    fen posted to the ledger), matched and foreign lines, open and auto-resolved discrepancies."""

    id: str
    account_id: str
    channel: str
    bill_date: date
    status: Literal["pending", "running", "done", "no_bill", "not_ready", "failed"]
    error_code: str | None
    error_message: str | None
    totals: dict[str, dict[str, int]]
    matched: int
    foreign: int
    open: int
    auto_resolved: int
    discrepancies: list[ReconDiscrepancy] | None = None


class ReconBatchList(BaseModel):
    object: Literal["list"]
    data: list[ReconBatch]
    has_more: bool
    next_cursor: str | None


@routes.get("/reconciliation/batches", name="list_recon_batches")
async def list_batches(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    limit, after = page_request(request)
    day: date | None = None
    status = query_choice(request, "status", STATUSES)
    if (raw := request.query.get("date")) is not None:
        try:
            if not (raw.isascii() and len(raw) == 10):
                raise ValueError(raw)
            day = date.fromisoformat(raw)
        except ValueError:
            raise ValidationFailed("date must be YYYY-MM-DD", errors=[{"field": "date", "message": "YYYY-MM-DD"}]) \
                from None
    async with svc.db.read() as conn:
        rows = await merchant_batches(conn, request[MERCHANT]["id"], status=status, day=day,
                                      after=after, limit=limit + 1)
    return page_response(rows, limit, batch_view)


@routes.get("/reconciliation/batches/{id}", name="get_recon_batch")
async def get_batch_view(request: web.Request) -> web.Response:
    svc = request.config_dict[SERVICES]
    async with svc.db.read() as conn:
        batch = await get_batch(conn, request.match_info["id"], request[MERCHANT]["id"])
    if batch is None:
        raise NotFound(f"No reconciliation batch {request.match_info['id']}")
    return json_response(await report(svc, batch["id"]))
