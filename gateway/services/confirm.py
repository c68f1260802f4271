"""A channel's confirmed "paid", from wherever it came (a callback, a sync query, a close that found the
trade paid): the one function that records it and applies the policies that follow from it.

* a second attempt paying an already paid payment → its money goes back (``automatic='double_paid'``);
* a payment paid after we closed it → the late-payment policy (``GATEWAY_LATE_PAYMENT_POLICY``,
  default ``refund``: the money goes back, ``automatic='late_paid'``).

The automatic refund's row is written in the settlement's own transaction (with a deterministic
``out_refund_no``), so a crash right after the commit cannot lose it: the caller submits it after the
commit (:func:`submit_automatic`), and if that never happens the refund sync task does.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.errors import DuplicateOutRefundNo, GatewayError
from gateway.domain.money import Money
from gateway.services import refunds
from gateway.services.context import Services
from gateway.services.settlement import Settled, SettleResult, settle_paid
from gateway.store.base import Row

log = logging.getLogger(__name__)


async def settle_paid_with_policy(svc: Services, conn: AsyncConnection, attempt: Row, amount: Money, *,
                                  channel_trade_no: str | None, paid_at: datetime | None) -> SettleResult:
    """:func:`settle_paid`, plus the automatic refund it calls for -- in the caller's transaction."""
    result = await settle_paid(conn, attempt, amount, channel_trade_no=channel_trade_no, paid_at=paid_at,
                               base_url=svc.settings.public_url or "")
    refund_id = None
    if result.outcome == Settled.DOUBLE:
        refund_id = await _open_once(conn, attempt, out_refund_no=f"auto-double-{attempt['id']}",
                                     reason="paid twice: second payment returned", automatic="double_paid",
                                     attempt_id=attempt["id"])
    elif result.outcome == Settled.PAID_LATE and svc.settings.late_payment_policy == "refund":
        refund_id = await _open_once(conn, attempt, out_refund_no=f"auto-late-{attempt['payment_id']}",
                                     reason="paid after the payment was closed", automatic="late_paid")
    return replace(result, refund_id=refund_id) if refund_id else result


async def _open_once(conn: AsyncConnection, attempt: Row, *, out_refund_no: str, reason: str, automatic: str,
                     attempt_id: str | None = None) -> str | None:
    # A savepoint: if the refund cannot be opened, the payment is still recorded as paid (that is the
    # truth at the channel) and the reservation, if any, is undone with the refund row.
    try:
        async with conn.begin_nested():
            refund = await refunds.open_refund(
                conn, attempt["merchant_id"], attempt["payment_id"], amount=attempt["amount"],
                out_refund_no=out_refund_no, reason=reason, automatic=automatic, attempt_id=attempt_id)
        return str(refund["id"])
    except DuplicateOutRefundNo:
        return None  # opened by an earlier report of the same payment
    except GatewayError:
        log.error("automatic %s refund of payment %s could not be opened", automatic, attempt["payment_id"],
                  exc_info=True)
        return None


async def submit_automatic(svc: Services, refund_id: str) -> None:
    """Send an automatic refund now; on any failure the refund sync task sends it later."""
    try:
        await refunds.submit(svc, refund_id)
    except Exception:  # the row is committed: nothing is lost, only delayed
        log.exception("automatic refund %s not submitted; the sync task will", refund_id)
