"""Barcode pay (付款码): the merchant scans the shopper's code and the API answers within a bounded time
-- paid, declined, or still pending.

The payment's attempt is opened like any other (:func:`gateway.services.payments.create_payment`): the
channel charges the code at once, or answers that the shopper is typing a password. Then this use case
asks the channel once more after :data:`~gateway.domain.barcode.POLL_EVERY` and answers. A payment still
pending is the background sync's (queries at the channel's cadence, ``PayMethodSpec.query_at``) and, at
the :data:`~gateway.domain.barcode.DEADLINE` -- the payment's expiry -- the expiry's: it undoes the trade at
the channel (Alipay cancel, WeChat reverse), or records it paid if it was. Every settlement goes through
:mod:`gateway.services.settlement`, webhooks included.

A code is never charged twice: the channel's trade number is our attempt id, resent unchanged on a
timeout, and a second create with the same ``out_trade_no`` is refused (409) before any channel call.
"""
from __future__ import annotations

import asyncio
import dataclasses
import math
from typing import Any

from gateway.domain import barcode
from gateway.domain.errors import ChannelDeclined, ChannelUnavailable, InvalidState, PaymentDeclined
from gateway.domain.schedule import scaled
from gateway.domain.states import AttemptStatus, PaymentStatus
from gateway.services import payments
from gateway.services.context import Services
from gateway.store import payments as repo
from gateway.store.base import Row


def is_barcode(svc: Services, pay_method: str | None) -> bool:
    """Whether ``pay_method`` is a barcode method (it takes the shopper's ``auth_code``)."""
    return pay_method is not None and svc.registry.knows(pay_method) and \
        svc.registry.spec(pay_method).payer_field == barcode.AUTH_CODE_FIELD


async def pay_by_code(svc: Services, merchant: Row, new: payments.NewPayment, *,
                      client_ip: str | None = None) -> dict[str, Any]:
    """Create and charge a barcode payment (``new.channel`` is a barcode method, ``new.payer_id`` the
    code); its view once paid or after the answer time; :class:`PaymentDeclined` (the payment closed)."""
    scale = svc.settings.task_time_scale
    deadline = scaled(barcode.DEADLINE, scale).total_seconds()
    new = dataclasses.replace(new, expires_in=max(1, math.ceil(deadline)))
    try:
        view = await payments.create_payment(svc, merchant, new, client_ip=client_ip)
    except ChannelDeclined as exc:
        payment_id = exc.extra.get("payment_id")
        await _close_declined(svc, merchant["id"], payment_id)
        raise PaymentDeclined(exc.detail, payment_id=payment_id, channel_code=exc.extra.get("channel_code")) from None
    except ChannelUnavailable as exc:  # no answer, even after a resend and a query: the loop will know
        return await payments.get_payment(svc, merchant["id"], exc.extra["payment_id"])
    if view["status"] != PaymentStatus.PENDING:
        return view
    await asyncio.sleep(scaled(barcode.ANSWER_WITHIN, scale).total_seconds())
    async with svc.db.read() as conn:
        attempts = await repo.attempts_of(conn, view["id"])
    for attempt in attempts:
        if attempt["status"] == AttemptStatus.PENDING:
            await payments.apply_trade_state(svc, attempt)
    return await payments.get_payment(svc, merchant["id"], view["id"])


async def _close_declined(svc: Services, merchant_id: str, payment_id: str | None) -> None:
    """The code was refused: its payment will not be paid by it. A new code is a new payment."""
    if not payment_id:
        return
    async with svc.db.read() as conn:
        payment = await repo.get_payment(conn, payment_id, merchant_id)
    if payment is not None:
        try:
            await payments.close_payment(svc, payment, reason="declined")
        except (InvalidState, ChannelUnavailable):
            pass  # paid or closed meanwhile, or left to the expiry: the merchant reads the payment
