"""Refunds: reserve the refundable balance, ask the channel with our refund id as its idempotency key,
and settle on a confirmed answer only. A timeout or 5xx is retried with the same number and resolved
by refund query -- never assumed failed.

Automatic refunds (a payment that succeeded after we closed it, a second attempt that paid an already
paid payment) are opened by :mod:`gateway.services.confirm` in the settlement's own transaction, with a
deterministic ``out_refund_no`` so they happen once, and then follow the same path.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.channels.base import Notification, RefundRequest, RefundResult
from gateway.domain.errors import (
    InvalidState,
    NotFound,
    RefundExceedsRefundable,
    ValidationFailed,
)
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


async def open_refund(conn: AsyncConnection, merchant_id: str, payment_id: str, *, amount: int,
                      out_refund_no: str, reason: str | None = None, automatic: str | None = None,
                      attempt_id: str | None = None) -> Row:
    """Reserve ``amount`` of the payment's refundable balance and write the pending refund, in the
    caller's transaction. The reservation is one conditional UPDATE (never read-then-write): under any
    concurrency the sum of pending and succeeded refunds cannot pass the paid amount.

    ``attempt_id`` other than the paid attempt refunds a second payment of the same order (money the
    payment's own balance never counted): its ``out_refund_no`` is deterministic, so it happens once.
    """
    if type(amount) is not int or amount <= 0:
        raise ValidationFailed("amount must be a positive integer number of fen",
                               errors=[{"field": "amount", "message": "positive integer (fen) expected"}])
    payment = await payments_repo.get_payment(conn, payment_id, merchant_id)
    if payment is None:
        raise NotFound(f"No payment {payment_id}")
    extra_money = attempt_id is not None and attempt_id != payment["paid_attempt_id"]
    if not extra_money and not await repo.reserve(conn, payment_id, merchant_id, amount):
        fresh = await payments_repo.get_payment(conn, payment_id, merchant_id)
        assert fresh is not None
        if fresh["status"] not in REFUNDABLE:
            raise InvalidState(f"Payment {payment_id} is {fresh['status']}; only a paid or partially refunded "
                               "payment refunds", payment_status=fresh["status"])
        raise RefundExceedsRefundable(
            f"{amount} exceeds the refundable amount {fresh['refundable_amount']} "
            f"(paid {fresh['amount']}, refunded {fresh['refunded_amount']}, the rest pending)",
            refundable_amount=fresh["refundable_amount"],
            errors=[{"field": "amount", "message": f"at most {fresh['refundable_amount']}"}])
    now = utcnow()
    refund = {
        "id": new_id("re"), "merchant_id": merchant_id, "payment_id": payment_id,
        "attempt_id": attempt_id or payment["paid_attempt_id"], "out_refund_no": out_refund_no,
        "amount": amount, "currency": payment["currency"], "reason": reason, "automatic": automatic,
        "status": RefundStatus.PENDING.value, "next_sync_at": now + SYNC_FIRST,
        "created_at": now, "updated_at": now,
    }
    await repo.insert_refund(conn, refund)  # a duplicate raises: the caller's rollback returns the reservation
    return refund


async def create_refund(svc: Services, merchant_id: str, payment_id: str, *, amount: int, out_refund_no: str,
                        reason: str | None = None, automatic: str | None = None,
                        attempt_id: str | None = None) -> dict[str, Any]:
    """Reserve and record (committed first, so a crash after it loses nothing: the sync task finds the
    pending row), then ask the channel. The answer is the refund as it stands: pending when the channel
    is still processing or did not answer."""
    async with svc.db.begin() as conn:
        refund = await open_refund(conn, merchant_id, payment_id, amount=amount, out_refund_no=out_refund_no,
                                   reason=reason, automatic=automatic, attempt_id=attempt_id)
    await submit(svc, refund["id"])
    async with svc.db.read() as conn:
        row = await repo.get_refund(conn, refund["id"])
    assert row is not None
    return refund_view(row)


async def get_refund(svc: Services, merchant_id: str, refund_id: str) -> dict[str, Any]:
    async with svc.db.read() as conn:
        row = await repo.get_refund(conn, refund_id, merchant_id)
    if row is None:
        raise NotFound(f"No refund {refund_id}")
    return refund_view(row)


async def list_refunds(svc: Services, merchant_id: str, payment_id: str) -> list[dict[str, Any]]:
    async with svc.db.read() as conn:
        if await payments_repo.get_payment(conn, payment_id, merchant_id) is None:
            raise NotFound(f"No payment {payment_id}")
        rows = await repo.refunds_of(conn, payment_id, merchant_id)
    return [refund_view(r) for r in rows]


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
    """Resolve a pending refund by asking the channel; re-send it (same number) if the channel never
    saw it. A query the channel refused says nothing about the refund: the refund stays pending."""
    async with svc.db.read() as conn:
        refund = await repo.get_refund(conn, refund_id)
    if refund is None or refund["status"] != RefundStatus.PENDING:
        return
    channel, request = await _channel_request(svc, refund)
    result = await channel.query_refund(request)
    if result.not_found:
        result = await channel.refund(request)  # it never arrived: same number, so at most once
    elif result.outcome == Outcome.CHANNEL_ERROR:
        log.warning("refund query for %s refused: %s %s", refund_id, result.error_code, result.error_message)
        return
    await apply_result(svc, refund, result)


async def apply_result(svc: Services, refund: Row, result: RefundResult) -> None:
    """SUCCESS settles; FAIL (the channel closed it) and CHANNEL_ERROR (the channel refused the refund
    request itself) fail it and give the amount back; WAITING and UNKNOWN change nothing."""
    if result.amount is not None and result.outcome == Outcome.SUCCESS and result.amount.minor != refund["amount"]:
        log.error("refund %s: the channel reports %s, ours is %s; left pending", refund["id"],
                  result.amount.minor, refund["amount"])
        return
    status = None
    async with svc.db.begin() as conn:
        base_url = svc.settings.public_url or ""
        if result.outcome == Outcome.SUCCESS:
            _, status = await settle_refund_succeeded(conn, refund, result.channel_refund_no, base_url)
        elif result.outcome in (Outcome.FAIL, Outcome.CHANNEL_ERROR):
            await settle_refund_failed(conn, refund, result.error_code, result.error_message)
    if status:
        await svc.status.changed(refund["payment_id"], status)


async def settle_refund_succeeded(conn: AsyncConnection, refund: Row, channel_refund_no: str | None,
                                  base_url: str) -> tuple[bool, str | None]:
    """The channel confirmed the refund: ``pending → succeeded``, and only if that applied, the ledger
    entry, the merchant event and the payment's refunded amount, in the caller's transaction.
    Returns whether it applied, and the payment's new status if the payment changed."""
    if not await repo.transition_refund(conn, "refund_succeeded", refund["id"], succeeded_at=utcnow(),
                                        channel_refund_no=channel_refund_no, next_sync_at=None):
        return False, None
    attempt = await payments_repo.get_attempt(conn, refund["attempt_id"])
    assert attempt is not None
    amount = Money(refund["amount"], refund["currency"])
    await ledger.post(conn, ref=f"{refund['id']}:refunded", kind=ledger.REFUND, merchant_id=refund["merchant_id"],
                      payment_id=refund["payment_id"], refund_id=refund["id"], postings=[
                          (ledger.merchant_account(refund["merchant_id"]), amount),
                          (ledger.channel_account(attempt["account_id"]), -amount)])
    await _emit_refund(conn, "refund.succeeded", refund["id"])
    payment = await payments_repo.get_payment(conn, refund["payment_id"])
    assert payment is not None
    if refund["attempt_id"] != payment["paid_attempt_id"]:
        return True, None  # money of a second attempt: the payment's own amounts are untouched
    status = await repo.add_refunded(conn, refund["payment_id"], refund["amount"])
    if status is None:  # impossible while the reservation holds; never let the books diverge silently
        raise RuntimeError(f"refund {refund['id']} succeeded but payment {refund['payment_id']} is not refundable")
    await emit_payment_event(conn, f"payment.{status}", refund["payment_id"], base_url)
    return True, status


async def settle_refund_failed(conn: AsyncConnection, refund: Row, code: str | None, message: str | None) -> bool:
    """The channel will not refund: ``pending → failed`` and, only if that applied, the reservation
    goes back to the payment's refundable balance (once: the transition applies once)."""
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
    """A verified refund notification, inside the callback's transaction. A repeat changes nothing."""
    from gateway.services.callbacks import Rejected

    refund = await repo.get_refund(conn, note.refund_no) if note.refund_no else None
    if refund is None or refund["attempt_id"] != attempt["id"]:
        raise Rejected("unknown_refund", f"no refund {note.refund_no} on {attempt['id']}")
    # WeChat reports this refund's amount, Alipay the trade's cumulative refunds: either way it is at
    # least this refund's amount, in its currency, or the notification is not about our refund.
    got = note.refund_amount
    if got is not None and (got.currency != refund["currency"] or got.minor < refund["amount"]):
        raise Rejected("amount_mismatch", f"refund amount {got} does not cover {refund['amount']}")
    if note.outcome == Outcome.SUCCESS:
        if refund["status"] == RefundStatus.FAILED:
            # We only fail on a definitive answer; a success after it needs a person, not a guess.
            log.error("refund %s: the channel reports success but it is failed here", refund["id"])
        applied, status = await settle_refund_succeeded(conn, refund, note.channel_refund_no,
                                                        svc.settings.public_url or "")
        return SettleResult(Settled.REFUND_APPLIED if applied else Settled.DUPLICATE, refund["payment_id"], status)
    if note.outcome == Outcome.FAIL:
        if await settle_refund_failed(conn, refund, "channel_failed", "the channel reported the refund failed"):
            return SettleResult(Settled.REFUND_APPLIED, refund["payment_id"])
        return SettleResult(Settled.DUPLICATE, refund["payment_id"])
    return SettleResult(Settled.UNCHANGED, refund["payment_id"])
