"""Applying what a channel confirmed: the one place a payment becomes paid or closed.

Each function runs inside the caller's transaction and writes the state change, its ledger entry and its
merchant event together -- the side effects only when the conditional update applied. The caller
publishes the status change after commit (see :class:`SettleResult.status_changed`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.money import Money
from gateway.services.views import payment_view
from gateway.store import events, ledger
from gateway.store import merchants as merchants_repo
from gateway.store import payments as repo
from gateway.store.base import Row, utcnow


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


async def _deliver(conn: AsyncConnection, merchant_id: str) -> bool:
    merchant = await merchants_repo.get_merchant(conn, merchant_id)
    return bool(merchant and merchant["webhook_url"])


async def emit_payment_event(conn: AsyncConnection, type_: str, payment_id: str, base_url: str,
                             **extra: object) -> None:
    payment = await repo.get_payment(conn, payment_id)
    assert payment is not None
    data = payment_view(payment, base_url=base_url) | extra
    await events.emit(conn, payment["merchant_id"], type_, data,
                      deliver=await _deliver(conn, payment["merchant_id"]))


async def settle_paid(conn: AsyncConnection, attempt: Row, amount: Money, *, channel_trade_no: str | None,
                      paid_at: datetime | None, base_url: str) -> SettleResult:
    """The channel says this attempt is paid, for ``amount``."""
    if amount.minor != attempt["amount"] or amount.currency != attempt["currency"]:
        return SettleResult(Settled.MISMATCH, attempt["payment_id"])
    paid_at = paid_at or utcnow()
    if not await repo.transition_attempt(conn, "attempt_succeeded", attempt["id"], paid_at=paid_at,
                                         channel_trade_no=channel_trade_no, next_sync_at=None):
        return SettleResult(Settled.DUPLICATE, attempt["payment_id"])
    payment_id = attempt["payment_id"]
    await ledger.post(conn, ref=f"{attempt['id']}:received", kind="payment_received",
                      merchant_id=attempt["merchant_id"], payment_id=payment_id, postings=[
                          (ledger.channel_account(attempt["account_id"]), amount),
                          (ledger.merchant_account(attempt["merchant_id"]), -amount)])
    paid = dict(paid_attempt_id=attempt["id"], refundable_amount=amount.minor, paid_at=paid_at)
    if await repo.transition_payment(conn, "mark_paid", payment_id, **paid):
        await emit_payment_event(conn, "payment.succeeded", payment_id, base_url)
        return SettleResult(Settled.PAID, payment_id, "paid")
    if await repo.transition_payment(conn, "mark_paid_late", payment_id, late=True, **paid):
        await emit_payment_event(conn, "payment.succeeded", payment_id, base_url)
        return SettleResult(Settled.PAID_LATE, payment_id, "paid")
    await emit_payment_event(conn, "payment.double_paid", payment_id, base_url,
                             extra_attempt={"id": attempt["id"], "amount": amount.minor,
                                            "channel": attempt["pay_method"]})
    return SettleResult(Settled.DOUBLE, payment_id)


async def settle_attempt_closed(conn: AsyncConnection, attempt: Row) -> SettleResult:
    """The channel says this attempt's trade is closed (the shopper cancelled, or it expired there)."""
    if await repo.transition_attempt(conn, "attempt_closed", attempt["id"], next_sync_at=None):
        return SettleResult(Settled.CLOSED, attempt["payment_id"])
    return SettleResult(Settled.UNCHANGED, attempt["payment_id"])
