"""Refunds: reserve the refundable balance, ask the channel with our refund id as its idempotency key,
and settle on a confirmed answer only. A timeout or 5xx is retried with the same number and resolved
by refund query -- never assumed failed.

Automatic refunds (a payment that succeeded after we closed it, a second attempt that paid an already
paid payment) go through the same path, with a deterministic ``out_refund_no`` so they happen once.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.channels.base import Notification, RefundRequest, RefundResult
from gateway.domain.errors import InvalidState, NotFound, RefundExceedsRefundable
from gateway.domain.ids import new_id
from gateway.domain.money import Money
from gateway.domain.outcomes import Outcome
from gateway.domain.states import REFUNDABLE, RefundStatus
from gateway.services.context import Services
from gateway.services.settlement import Settled, SettleResult, emit_payment_event
from gateway.services.views import refund_view
from gateway.store import events, ledger
from gateway.store import merchants as merchants_repo
from gateway.store import payments as payments_repo
from gateway.store import refunds as repo
from gateway.store.base import Row, utcnow

log = logging.getLogger(__name__)

SYNC_FIRST = timedelta(seconds=30)


async def _emit_refund(conn: AsyncConnection, type_: str, refund_id: str) -> None:
    refund = await repo.get_refund(conn, refund_id)
    assert refund is not None
    merchant = await merchants_repo.get_merchant(conn, refund["merchant_id"])
    await events.emit(conn, refund["merchant_id"], type_, refund_view(refund),
                      deliver=bool(merchant and merchant["webhook_url"]))


async def create_refund(svc: Services, merchant_id: str, payment_id: str, *, amount: int, out_refund_no: str,
                        reason: str | None = None, automatic: str | None = None,
                        attempt_id: str | None = None) -> dict[str, Any]:
    now = utcnow()
    async with svc.db.begin() as conn:
        payment = await payments_repo.get_payment(conn, payment_id, merchant_id)
        if payment is None:
            raise NotFound(f"No payment {payment_id}")
        extra_money = attempt_id is not None and attempt_id != payment["paid_attempt_id"]
        if not extra_money:
            if not await repo.reserve(conn, payment_id, merchant_id, amount):
                fresh = await payments_repo.get_payment(conn, payment_id, merchant_id)
                assert fresh is not None
                if fresh["status"] not in REFUNDABLE:
                    raise InvalidState(f"Payment {payment_id} is {fresh['status']}; only a paid payment refunds",
                                       status=fresh["status"])
                raise RefundExceedsRefundable(
                    f"{amount} exceeds the refundable amount {fresh['refundable_amount']}",
                    refundable_amount=fresh["refundable_amount"],
                    errors=[{"field": "amount", "message": f"at most {fresh['refundable_amount']}"}])
        refund = {
            "id": new_id("re"), "merchant_id": merchant_id, "payment_id": payment_id,
            "attempt_id": attempt_id or payment["paid_attempt_id"], "out_refund_no": out_refund_no,
            "amount": amount, "currency": payment["currency"], "reason": reason, "automatic": automatic,
            "status": RefundStatus.PENDING.value, "next_sync_at": now + SYNC_FIRST,
            "created_at": now, "updated_at": now,
        }
        await repo.insert_refund(conn, refund)  # a duplicate rolls the reservation back with it
    await submit(svc, refund["id"])
    async with svc.db.read() as conn:
        row = await repo.get_refund(conn, refund["id"])
    assert row is not None
    return refund_view(row)


async def _channel_request(svc: Services, refund: Row) -> tuple[Any, RefundRequest]:
    async with svc.db.read() as conn:
        attempt = await payments_repo.get_attempt(conn, refund["attempt_id"])
        assert attempt is not None
        account = await merchants_repo.get_account(conn, attempt["account_id"])
    assert account is not None
    request = RefundRequest(
        refund_no=refund["id"], trade_no=attempt["id"], amount=Money(refund["amount"], refund["currency"]),
        total=Money(attempt["amount"], attempt["currency"]), reason=refund["reason"],
        notify_url=svc.notify_url(account["channel"]), channel_trade_no=attempt["channel_trade_no"])
    return svc.pool.get(account), request


async def submit(svc: Services, refund_id: str) -> None:
    """Send (or re-send, with the same number) a pending refund to its channel and apply the answer."""
    async with svc.db.read() as conn:
        refund = await repo.get_refund(conn, refund_id)
    if refund is None or refund["status"] != RefundStatus.PENDING:
        return
    channel, request = await _channel_request(svc, refund)
    await apply_result(svc, refund, await channel.refund(request))


async def sync(svc: Services, refund_id: str) -> None:
    """Resolve a pending refund by asking the channel; re-send it if the channel never saw it."""
    async with svc.db.read() as conn:
        refund = await repo.get_refund(conn, refund_id)
    if refund is None or refund["status"] != RefundStatus.PENDING:
        return
    channel, request = await _channel_request(svc, refund)
    result = await channel.query_refund(request)
    if result.outcome in (Outcome.CHANNEL_ERROR, Outcome.WAITING) and result.error_code in NOT_FOUND_CODES:
        result = await channel.refund(request)  # it never arrived: same number, so at most once
    await apply_result(svc, refund, result)


NOT_FOUND_CODES = frozenset({"RESOURCE_NOT_EXISTS", "REFUND_NOT_FOUND"})


async def apply_result(svc: Services, refund: Row, result: RefundResult) -> None:
    async with svc.db.begin() as conn:
        if result.outcome == Outcome.SUCCESS:
            _, status = await settle_refund_succeeded(svc, conn, refund, result.channel_refund_no)
        elif result.outcome in (Outcome.FAIL, Outcome.CHANNEL_ERROR):
            await settle_refund_failed(svc, conn, refund, result.error_code, result.error_message)
            status = None
        else:
            status = None
    if status:
        await svc.status.changed(refund["payment_id"], status)


async def settle_refund_succeeded(svc: Services, conn: AsyncConnection, refund: Row,
                                  channel_refund_no: str | None) -> tuple[bool, str | None]:
    """Returns whether it applied, and the payment's new status if the payment changed."""
    if not await repo.transition_refund(conn, "refund_succeeded", refund["id"], succeeded_at=utcnow(),
                                        channel_refund_no=channel_refund_no, next_sync_at=None):
        return False, None
    attempt = await payments_repo.get_attempt(conn, refund["attempt_id"])
    assert attempt is not None
    amount = Money(refund["amount"], refund["currency"])
    await ledger.post(conn, ref=f"{refund['id']}:refunded", kind="refund", merchant_id=refund["merchant_id"],
                      payment_id=refund["payment_id"], refund_id=refund["id"], postings=[
                          (ledger.merchant_account(refund["merchant_id"]), amount),
                          (ledger.channel_account(attempt["account_id"]), -amount)])
    await _emit_refund(conn, "refund.succeeded", refund["id"])
    payment = await payments_repo.get_payment(conn, refund["payment_id"])
    assert payment is not None
    if refund["attempt_id"] != payment["paid_attempt_id"]:
        return True, None  # money of a second attempt: the payment's own amounts are untouched
    status = await repo.add_refunded(conn, refund["payment_id"], refund["amount"])
    if status:
        await emit_payment_event(conn, f"payment.{status}", refund["payment_id"], svc.settings.public_url or "")
    return True, status


async def settle_refund_failed(svc: Services, conn: AsyncConnection, refund: Row, code: str | None,
                               message: str | None) -> bool:
    if not await repo.transition_refund(conn, "refund_failed", refund["id"], next_sync_at=None,
                                        failure_code=(code or "failed")[:64],
                                        failure_message=(message or "")[:256] or None):
        return False
    payment = await payments_repo.get_payment(conn, refund["payment_id"])
    assert payment is not None
    if refund["attempt_id"] == payment["paid_attempt_id"]:
        await repo.give_back(conn, refund["payment_id"], refund["amount"])
    await _emit_refund(conn, "refund.failed", refund["id"])
    return True


async def apply_refund_notification(svc: Services, conn: AsyncConnection, attempt: Row,
                                    note: Notification) -> SettleResult:
    """A verified refund notification, inside the callback's transaction."""
    from gateway.services.callbacks import Rejected

    refund = await repo.get_refund(conn, note.refund_no) if note.refund_no else None
    if refund is None or refund["attempt_id"] != attempt["id"]:
        raise Rejected("unknown_refund", f"no refund {note.refund_no} on {attempt['id']}")
    if note.outcome == Outcome.SUCCESS:
        applied, status = await settle_refund_succeeded(svc, conn, refund, None)
        return SettleResult(Settled.REFUND_APPLIED if applied else Settled.DUPLICATE, refund["payment_id"], status)
    if note.outcome == Outcome.FAIL:
        if await settle_refund_failed(svc, conn, refund, "channel_failed", "the channel reported the refund failed"):
            return SettleResult(Settled.REFUND_APPLIED, refund["payment_id"])
        return SettleResult(Settled.DUPLICATE, refund["payment_id"])
    return SettleResult(Settled.UNCHANGED, refund["payment_id"])


async def refund_double_payment(svc: Services, attempt_id: str) -> None:
    """A second attempt paid an already-paid payment: give that money back, once."""
    async with svc.db.read() as conn:
        attempt = await payments_repo.get_attempt(conn, attempt_id)
    assert attempt is not None
    try:
        await create_refund(svc, attempt["merchant_id"], attempt["payment_id"], amount=attempt["amount"],
                            out_refund_no=f"auto-double-{attempt_id}", reason="paid twice: second payment returned",
                            automatic="double_paid", attempt_id=attempt_id)
    except Exception:  # the refund row, if written, is retried by the sync task
        log.exception("automatic refund of double payment %s", attempt_id)


async def apply_late_payment_policy(svc: Services, payment_id: str | None) -> None:
    """A payment that succeeded after we closed it: by default refund it automatically."""
    if payment_id is None or svc.settings.late_payment_policy != "refund":
        return
    async with svc.db.read() as conn:
        payment = await payments_repo.get_payment(conn, payment_id)
    assert payment is not None
    try:
        await create_refund(svc, payment["merchant_id"], payment_id, amount=payment["amount"],
                            out_refund_no=f"auto-late-{payment_id}", reason="paid after the payment was closed",
                            automatic="late_paid")
    except Exception:
        log.exception("automatic refund of late payment %s", payment_id)
