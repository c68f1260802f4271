"""Applying what a channel confirmed -- the one entrance for every such fact, wherever it came from (a
callback, a sync query, a close, the checkout's return, later reconciliation or an operator):

* paid (:func:`settle_paid_with_policy`), with the policies that follow from it:
  a second attempt paying an already paid payment → its money goes back (``automatic='double_paid'``);
  a payment paid after we closed it → the late-payment policy (``GATEWAY_LATE_PAYMENT_POLICY``,
  default ``refund``: the money goes back, ``automatic='late_paid'``);
* an attempt closed or refused at the channel (:func:`settle_attempt_closed`, :func:`settle_attempt_failed`),
  and the payment closed once every attempt is (:func:`settle_payment_closed`);
* a refund reserved (:func:`open_refund`), succeeded (:func:`settle_refund_succeeded`) or failed
  (:func:`settle_refund_failed`).

Each function runs inside the caller's transaction and writes the state change, its ledger entry and its
merchant event together -- the side effects only when the conditional update applied. The caller
publishes the status change after commit (see :attr:`SettleResult.status_changed`) and submits an
automatic refund written here (:attr:`SettleResult.refund_id`); if that never happens the refund sync
task does. Talking to the channel is not done here: that is :mod:`gateway.services.payments` and
:mod:`gateway.services.refunds`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.errors import (
    DuplicateOutRefundNo,
    GatewayError,
    InvalidState,
    NotFound,
    RefundExceedsRefundable,
    ValidationFailed,
)
from gateway.domain.ids import new_id
from gateway.domain.money import Money
from gateway.domain.states import REFUNDABLE, PaymentStatus, RefundStatus
from gateway.services import wallets
from gateway.services.context import Services
from gateway.services.views import payment_view, refund_view
from gateway.store import events, ledger
from gateway.store import payments as payments_repo
from gateway.store import refunds as refunds_repo
from gateway.store.base import Row, utcnow
from gateway.store.rows import RefundRow

log = logging.getLogger(__name__)

REFUND_SYNC_FIRST = timedelta(seconds=30)  # a new refund's first query, should its answer never come


class Settled(StrEnum):
    PAID = "paid"                # the payment became paid
    PAID_LATE = "paid_late"      # paid after we had closed it locally: flagged, merchant told
    DOUBLE = "double"            # another attempt had already paid: this money must go back
    DUPLICATE = "duplicate"      # already recorded: no second effect
    MISMATCH = "mismatch"        # the channel's amount/currency is not ours: nothing changes
    CLOSED = "closed"            # the attempt is closed at the channel
    REFUND_APPLIED = "refund_applied"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class SettleResult:
    outcome: Settled
    payment_id: str | None = None
    status: str | None = None
    refund_id: str | None = None  # an automatic refund written with the settlement, to submit

    @property
    def status_changed(self) -> bool:
        return self.status is not None and self.outcome in {Settled.PAID, Settled.PAID_LATE,
                                                            Settled.REFUND_APPLIED}


# -- merchant events ---------------------------------------------------------------------------------

def _deliver(payment: Row) -> bool:
    """Whether an event of ``payment`` (as :func:`payments_repo.payment_for_event` reads it) has somewhere
    to go: the payment's ``notify_url`` (which takes the place of the merchant's webhook_url, see
    :func:`gateway.services.webhooks.target_url`), or the webhook_url."""
    return bool(payment["notify_url"] or payment["merchant_webhook_url"])


async def emit_payment_event(conn: AsyncConnection, type_: str, payment_id: str, base_url: str,
                             **extra: object) -> None:
    payment = await payments_repo.payment_for_event(conn, payment_id)
    assert payment is not None
    await _emit_payment(conn, type_, payment, base_url, **extra)


async def _emit_payment(conn: AsyncConnection, type_: str, payment: Row, base_url: str, **extra: object) -> None:
    """``payment`` as :func:`payments_repo.payment_for_event` reads it."""
    data = payment_view(payment, base_url=base_url) | extra
    await events.emit(conn, payment["merchant_id"], type_, data, deliver=_deliver(payment))


async def _paid(conn: AsyncConnection, payment_id: str, base_url: str) -> None:
    """The payment just became paid: a wallet recharge is credited, and the merchant told -- from one read
    of the payment (most payments are no recharge: nothing more is read for them)."""
    payment = await payments_repo.payment_for_event(conn, payment_id)
    assert payment is not None
    if payment["recharge_of"] is not None:
        await wallets.credit_recharge(conn, payment_id)
    await _emit_payment(conn, "payment.succeeded", payment, base_url)


async def _emit_refund(conn: AsyncConnection, type_: str, refund_id: str) -> None:
    refund = await refunds_repo.get_refund(conn, refund_id)
    assert refund is not None
    payment = await payments_repo.payment_for_event(conn, refund["payment_id"])
    assert payment is not None
    await events.emit(conn, refund["merchant_id"], type_, refund_view(refund), deliver=_deliver(payment))


# -- paid ----------------------------------------------------------------------------------------------

async def settle_paid(conn: AsyncConnection, attempt: Row, amount: Money, *, channel_trade_no: str | None,
                      paid_at: datetime | None, base_url: str) -> SettleResult:
    """The channel says this attempt is paid, for ``amount`` -- the state change alone, no policy (see
    :func:`settle_paid_with_policy`)."""
    if amount.minor != attempt["amount"] or amount.currency != attempt["currency"]:
        return SettleResult(Settled.MISMATCH, attempt["payment_id"])
    paid_at = paid_at or utcnow()
    if not await payments_repo.attempt_succeeded(conn, attempt["id"], paid_at=paid_at,
                                                 channel_trade_no=channel_trade_no):
        return SettleResult(Settled.DUPLICATE, attempt["payment_id"])
    payment_id = attempt["payment_id"]
    await ledger.post(conn, ref=f"{attempt['id']}:received", kind="payment_received",
                      merchant_id=attempt["merchant_id"], payment_id=payment_id, postings=[
                          (ledger.channel_account(attempt["account_id"]), amount),
                          (ledger.merchant_account(attempt["merchant_id"]), -amount)])
    if await payments_repo.mark_paid(conn, payment_id, attempt_id=attempt["id"], amount=amount.minor,
                                     paid_at=paid_at):
        await _paid(conn, payment_id, base_url)  # a recharge is credited with its paid transition
        return SettleResult(Settled.PAID, payment_id, PaymentStatus.PAID.value)
    if await payments_repo.mark_paid_late(conn, payment_id, attempt_id=attempt["id"], amount=amount.minor,
                                          paid_at=paid_at):
        await _paid(conn, payment_id, base_url)
        return SettleResult(Settled.PAID_LATE, payment_id, PaymentStatus.PAID.value)
    await emit_payment_event(conn, "payment.double_paid", payment_id, base_url,
                             extra_attempt={"id": attempt["id"], "amount": amount.minor,
                                            "channel": attempt["pay_method"]})
    return SettleResult(Settled.DOUBLE, payment_id)


async def settle_paid_with_policy(svc: Services, conn: AsyncConnection, attempt: Row, amount: Money, *,
                                  channel_trade_no: str | None, paid_at: datetime | None) -> SettleResult:
    """:func:`settle_paid`, plus the automatic refund it calls for, written in the same transaction with
    a deterministic ``out_refund_no`` (so a crash right after the commit cannot lose it, and a repeat of
    the same report cannot open a second one)."""
    result = await settle_paid(conn, attempt, amount, channel_trade_no=channel_trade_no, paid_at=paid_at,
                               base_url=svc.settings.public_url or "")
    if result.outcome in (Settled.PAID, Settled.PAID_LATE):
        late = "true" if result.outcome == Settled.PAID_LATE else "false"
        svc.metrics.payments_paid.labels(attempt["pay_method"], late).inc()
        svc.metrics.payments_paid_amount.labels(amount.currency).inc(amount.minor)
    refund_id = None
    if result.outcome == Settled.DOUBLE:
        refund_id = await _open_once(conn, attempt, out_refund_no=f"auto-double-{attempt['id']}",
                                     reason="paid twice: second payment returned", automatic="double_paid",
                                     attempt_id=attempt["id"], time_scale=svc.settings.task_time_scale)
    elif result.outcome == Settled.PAID_LATE and svc.settings.late_payment_policy == "refund":
        refund_id = await _open_once(conn, attempt, out_refund_no=f"auto-late-{attempt['payment_id']}",
                                     reason="paid after the payment was closed", automatic="late_paid",
                                     time_scale=svc.settings.task_time_scale)
    return replace(result, refund_id=refund_id) if refund_id else result


async def _open_once(conn: AsyncConnection, attempt: Row, *, out_refund_no: str, reason: str, automatic: str,
                     attempt_id: str | None = None, time_scale: float = 1.0) -> str | None:
    # A savepoint: if the refund cannot be opened, the payment is still recorded as paid (that is the
    # truth at the channel) and the reservation, if any, is undone with the refund row.
    try:
        async with conn.begin_nested():
            refund = await open_refund(
                conn, attempt["merchant_id"], attempt["payment_id"], amount=attempt["amount"],
                out_refund_no=out_refund_no, reason=reason, automatic=automatic, attempt_id=attempt_id,
                time_scale=time_scale)
        return str(refund["id"])
    except DuplicateOutRefundNo:
        return None  # opened by an earlier report of the same payment
    except GatewayError:
        log.error("automatic %s refund of payment %s could not be opened", automatic, attempt["payment_id"],
                  exc_info=True)
        return None


# -- closed --------------------------------------------------------------------------------------------

async def settle_attempt_closed(conn: AsyncConnection, attempt: Row) -> SettleResult:
    """The channel says this attempt's trade is closed (the shopper cancelled, or it expired there)."""
    if await payments_repo.attempt_closed(conn, attempt["id"]):
        return SettleResult(Settled.CLOSED, attempt["payment_id"])
    return SettleResult(Settled.UNCHANGED, attempt["payment_id"])


async def settle_attempt_failed(conn: AsyncConnection, attempt: Row) -> bool:
    """The channel refused to open this attempt's trade: nothing to query or close there any more."""
    return await payments_repo.attempt_failed(conn, attempt["id"])


async def settle_payment_closed(conn: AsyncConnection, payment_id: str, *, reason: str, base_url: str) -> bool:
    """Every attempt of this pending payment is closed at its channel: the payment closes, and the
    merchant is told why (``close_reason``: ``merchant``, ``expired``, ``operator`` or ``cancelled``, kept on
    the payment). Returns whether it applied."""
    if not await payments_repo.mark_closed(conn, payment_id, closed_at=utcnow(), reason=reason):
        return False
    await emit_payment_event(conn, "payment.closed", payment_id, base_url)  # close_reason: on the row
    return True


# -- refunds -------------------------------------------------------------------------------------------

async def open_refund(conn: AsyncConnection, merchant_id: str, payment_id: str, *, amount: int,
                      out_refund_no: str, reason: str | None = None, automatic: str | None = None,
                      attempt_id: str | None = None, time_scale: float = 1.0) -> Row:
    """Reserve ``amount`` of the payment's refundable balance and write the pending refund, in the
    caller's transaction. The reservation is one conditional UPDATE (never read-then-write): under any
    concurrency the sum of pending and succeeded refunds cannot pass the paid amount.

    ``attempt_id`` other than the paid attempt refunds a second payment of the same order (money the
    payment's own balance never counted): its ``out_refund_no`` is deterministic, so it happens once.
    ``time_scale`` is ``GATEWAY_TASK_TIME_SCALE``: the first sync query comes that much sooner.
    """
    if type(amount) is not int or amount <= 0:
        raise ValidationFailed("amount must be a positive integer number of fen",
                               errors=[{"field": "amount", "message": "positive integer (fen) expected"}])
    payment = await payments_repo.get_payment(conn, payment_id, merchant_id)
    if payment is None:
        raise NotFound(f"No payment {payment_id}")
    extra_money = attempt_id is not None and attempt_id != payment["paid_attempt_id"]
    if not extra_money and not await refunds_repo.reserve(conn, payment_id, merchant_id, amount):
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
        "status": RefundStatus.PENDING.value, "next_sync_at": now + REFUND_SYNC_FIRST * time_scale,
        "created_at": now, "updated_at": now,
    }
    await refunds_repo.insert_refund(conn, refund)  # a duplicate raises: the caller's rollback returns the reservation
    if not extra_money:  # a recharge's refund takes its unspent value back out of the wallet, or raises
        await wallets.take_back_recharge(conn, payment, str(refund["id"]), amount)
    return refund


async def settle_refund_succeeded(conn: AsyncConnection, refund: RefundRow, channel_refund_no: str | None,
                                  base_url: str) -> tuple[bool, str | None]:
    """The channel confirmed the refund: ``pending → succeeded``, and only if that applied, the ledger
    entry, the merchant event and the payment's refunded amount, in the caller's transaction.
    Returns whether it applied, and the payment's new status if the payment changed."""
    if not await refunds_repo.refund_succeeded(conn, refund["id"], succeeded_at=utcnow(),
                                               channel_refund_no=channel_refund_no):
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
    status = await refunds_repo.add_refunded(conn, refund["payment_id"], refund["amount"])
    if status is None:  # impossible while the reservation holds; never let the books diverge silently
        raise RuntimeError(f"refund {refund['id']} succeeded but payment {refund['payment_id']} is not refundable")
    await emit_payment_event(conn, f"payment.{status}", refund["payment_id"], base_url)
    return True, status


async def settle_refund_failed(conn: AsyncConnection, refund: RefundRow, code: str | None, message: str | None) -> bool:
    """The channel will not refund: ``pending → failed`` and, only if that applied, the reservation
    goes back to the payment's refundable balance (once: the transition applies once)."""
    if not await refunds_repo.refund_failed(conn, refund["id"], code=code, message=message):
        return False
    payment = await payments_repo.get_payment(conn, refund["payment_id"])
    assert payment is not None
    if refund["attempt_id"] == payment["paid_attempt_id"]:
        await refunds_repo.give_back(conn, refund["payment_id"], refund["amount"])
        await wallets.return_recharge_take(conn, refund["id"])
    await _emit_refund(conn, "refund.failed", refund["id"])
    return True
