"""Sandbox test helpers (only while the gateway talks to the channel sandboxes; 404 otherwise):

* ``POST /sandbox/payments/{id}/pay`` -- pay a pending payment the way a shopper does: the helper opens
  the sandbox page the shopper's phone would land on for its pay method (the fixed one, the one given
  as ``{"pay_method": …}``, or else the merchant's first QR method) and presses Pay there;
* ``POST /sandbox/payments/{id}/fail`` -- the shopper presses Cancel on that page instead; then the
  payment is closed (``close_reason: "cancelled"``) so that a failed payment can be tested without
  waiting for it to expire.

Nothing is marked paid or closed here directly: the sandbox sends the channel's signed callback, and
the gateway applies it through the same pipeline as in production (a channel that sends no callback for
the outcome is asked, as the sync task would). The answer is the payment afterwards.
"""
from __future__ import annotations

import asyncio
from typing import Annotated

from aiohttp import web
from pydantic import Field

from gateway.api.auth import MERCHANT
from gateway.api.common import json_response, parse
from gateway.api.models import PayMethod, _Strict
from gateway.domain.errors import InvalidState, NotFound, PayMethodUnavailable, ValidationFailed
from gateway.domain.pay import ActionKind, PayAction
from gateway.domain.states import AttemptStatus, PaymentStatus
from gateway.keys import HTTP, PHONE_PAGES, SERVICES
from gateway.services import payments as service
from gateway.services.context import Services
from gateway.store import payments as repo
from gateway.store.base import Row

routes = web.RouteTableDef()
WAIT = 5.0  # seconds to wait for the channel's callback before asking the channel, as the sync task would


class SandboxPay(_Strict):
    pay_method: Annotated[PayMethod | None, Field(description="How the shopper pays (default: the payment's "
                                                              "fixed method, else your first QR method).")] = None


def _sandbox(request: web.Request) -> None:
    if PHONE_PAGES not in request.config_dict:
        raise NotFound("The sandbox helpers exist only while the gateway talks to the channel sandboxes")


async def _method(svc: Services, payment: Row, wanted: str | None) -> str:
    fixed = payment["pay_method"]
    if wanted and fixed and wanted != fixed:
        raise ValidationFailed(f"This payment is fixed to {fixed}",
                               errors=[{"field": "pay_method", "message": f"{fixed} expected"}])
    if wanted or fixed:
        return str(wanted or fixed)
    enabled = await service.enabled_methods(svc, payment["merchant_id"])
    qr = sorted((svc.registry.spec(m) for m in enabled), key=lambda s: (s.rank, s.code))
    for spec in qr:
        if spec.action is ActionKind.QR and not spec.needs_payer:
            return spec.code
    raise PayMethodUnavailable("No QR pay method is enabled for this merchant; name one as pay_method",
                               errors=[{"field": "pay_method", "message": "required"}])


async def _attempt(svc: Services, payment: Row, method: str, client_ip: str | None) -> Row:
    """The pending attempt of ``method`` with its pay data, or a new one (as the checkout opens)."""
    async with svc.db.read() as conn:
        attempts = await repo.attempts_of(conn, payment["id"])
    for attempt in reversed(attempts):
        if attempt["pay_method"] == method and attempt["status"] == AttemptStatus.PENDING and \
                PayAction.loads(attempt["pay_data"]) is not None:
            return attempt
    if svc.registry.spec(method).needs_payer:
        raise ValidationFailed(f"{method} needs the payer's identity: create the payment with it fixed",
                               errors=[{"field": "pay_method", "message": "needs a payer"}])
    return await service.open_attempt(svc, payment, method, client_ip=client_ip)


async def _press(request: web.Request, page_url: str, action: str) -> None:
    """What the shopper does on the sandbox page: open it, press a button (a form POST of ``action``)."""
    http = request.config_dict[HTTP]
    async with http.get(page_url) as page:
        text = await page.text()
    if page.status != 200 or 'name="action"' not in text:
        raise InvalidState(f"The sandbox page has no buttons to press (HTTP {page.status})")
    async with http.post(page_url, data={"action": action}, allow_redirects=False) as done:
        if done.status >= 400:
            raise InvalidState(f"The sandbox refused the shopper's {action} (HTTP {done.status}): "
                               f"{(await done.text())[:200]}")


async def _settled(svc: Services, attempt_id: str) -> Row:
    """The attempt once the channel's callback settled it -- or, after :data:`WAIT`, as the channel
    answers a query (WeChat sends nothing for a cancelled trade; the sync task asks the same way)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while True:
        async with svc.db.read() as conn:
            attempt = await repo.get_attempt(conn, attempt_id)
        assert attempt is not None
        if attempt["status"] != AttemptStatus.PENDING:
            return attempt
        if loop.time() > deadline:
            await service.apply_trade_state(svc, attempt)
            async with svc.db.read() as conn:
                fresh = await repo.get_attempt(conn, attempt_id)
            assert fresh is not None
            return fresh
        await asyncio.sleep(0.05)


async def _shopper(request: web.Request, action: str) -> tuple[Services, Row, Row]:
    _sandbox(request)
    body = await parse(request, SandboxPay) if await request.read() else SandboxPay()  # a body is optional
    svc = request.config_dict[SERVICES]
    merchant_id = request[MERCHANT]["id"]
    async with svc.db.read() as conn:
        payment = await repo.get_payment(conn, request.match_info["id"], merchant_id)
    if payment is None:
        raise NotFound(f"No payment {request.match_info['id']}")
    if payment["status"] != PaymentStatus.PENDING:
        raise InvalidState(f"Payment {payment['id']} is {payment['status']}; only a pending payment is paid "
                           "or cancelled", payment_status=payment["status"])
    method = await _method(svc, payment, body.pay_method)
    attempt = await _attempt(svc, payment, method, request.remote)
    action_ = PayAction.loads(attempt["pay_data"])
    page = request.config_dict[PHONE_PAGES](method, action_) if action_ is not None else None
    if page is None:
        raise ValidationFailed(f"{method} has no shopper page in the sandbox",
                               errors=[{"field": "pay_method", "message": "no sandbox page"}])
    await _press(request, page, action)
    return svc, payment, await _settled(svc, attempt["id"])


@routes.post("/sandbox/payments/{id}/pay", name="sandbox_pay")
async def sandbox_pay(request: web.Request) -> web.Response:
    svc, payment, _ = await _shopper(request, "pay")
    return json_response(await service.get_payment(svc, payment["merchant_id"], payment["id"]))


@routes.post("/sandbox/payments/{id}/fail", name="sandbox_fail")
async def sandbox_fail(request: web.Request) -> web.Response:
    svc, payment, _ = await _shopper(request, "cancel")
    async with svc.db.read() as conn:
        fresh = await repo.get_payment(conn, payment["id"])
    assert fresh is not None
    if fresh["status"] == PaymentStatus.PENDING:  # closed at the channel first, as any close
        await service.close_payment(svc, fresh, reason="cancelled")
    return json_response(await service.get_payment(svc, payment["merchant_id"], payment["id"]))
