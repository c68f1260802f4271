"""Every call reconciliation makes into settlement, sync and the ledger -- in this one module.

Reconciliation never changes a payment, refund or ledger balance itself: it asks the channel (a
confirming query, where the bill alone is not proof) and hands the answer to the same settlement code
the callbacks and the sync task use, whose conditional transitions and unique ledger refs make a second
call a no-op. Amounts are never changed and payments never invented here.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.channels.base import FEE_UNITS_PER_FEN, RefundRequest
from gateway.domain.errors import DuplicateOutRefundNo, GatewayError
from gateway.domain.money import Money
from gateway.domain.outcomes import Outcome
from gateway.services import refunds as refund_service
from gateway.services import settlement
from gateway.services.context import Services
from gateway.services.payments import apply_trade_state
from gateway.store import ledger
from gateway.store import merchants as merchants_repo
from gateway.store import payments as payments_repo
from gateway.store import reconciliation as recon_repo
from gateway.store import refunds as refunds_repo
from gateway.store.base import Row
from gateway.store.reconciliation import FEE_KIND, PORTAL, fee_account, fee_ref

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Remedy:
    applied: bool   # the state now agrees with the channel (applied now, or earlier)
    action: str     # what was done, for the report


async def settle_by_query(svc: Services, attempt_id: str) -> Remedy:
    """Query the channel about an attempt and settle what it confirms (late payment and double payment
    policies included: their automatic refund is written with the settlement, once)."""
    async with svc.db.read() as conn:
        attempt = await payments_repo.get_attempt(conn, attempt_id)
    if attempt is None:
        return Remedy(False, "none: no such attempt")
    result = await apply_trade_state(svc, attempt)
    outcome = str(result.outcome)
    refund = f"; refund {result.refund_id}" if result.refund_id else ""
    if outcome in ("paid", "paid_late", "double", "duplicate"):
        return Remedy(True, f"queried, settled {outcome}{refund}")
    return Remedy(False, f"queried: channel did not confirm ({outcome})")


async def query_paid(svc: Services, attempt: Row) -> bool | None:
    """Is the attempt paid at the channel? ``None`` = the channel could not tell."""
    async with svc.db.read() as conn:
        account = await merchants_repo.get_account(conn, attempt["account_id"])
    assert account is not None
    state = await svc.pool.get(account).query(attempt["id"])
    if state.outcome == Outcome.SUCCESS:
        return True
    if state.outcome in (Outcome.FAIL, Outcome.WAITING):
        return False
    return None


async def sync_refund(svc: Services, refund_id: str) -> Remedy:
    """A refund the bill shows done and we still have pending: resolve it by refund query."""
    await refund_service.sync(svc, refund_id)
    async with svc.db.read() as conn:
        refund = await refunds_repo.get_refund(conn, refund_id)
    status = refund["status"] if refund else "missing"
    return Remedy(status == "succeeded", f"queried refund: {status}")


async def import_portal_refund(svc: Services, account: Row, attempt_id: str, channel_refund_key: str,
                               amount: int) -> Remedy:
    """A refund made in the channel's merchant portal on one of our payments: confirmed by refund
    query, then recorded as a refund (``automatic='channel_portal'``) if it fits the refundable amount.
    Its ``out_refund_no`` is the channel's refund number, so the import happens once."""
    async with svc.db.read() as conn:
        attempt = await payments_repo.get_attempt(conn, attempt_id)
    if attempt is None:
        return Remedy(False, "none: attempt unknown")
    channel = svc.pool.get(account)
    answer = await channel.query_refund(RefundRequest(
        refund_no=channel_refund_key, trade_no=attempt_id, amount=Money(amount, attempt["currency"]),
        total=Money(attempt["amount"], attempt["currency"]), channel_trade_no=attempt["channel_trade_no"]))
    if answer.outcome != Outcome.SUCCESS or (answer.amount is not None and answer.amount.minor != amount):
        return Remedy(False, f"queried refund: not confirmed ({answer.outcome}, {answer.error_code})")
    try:
        async with svc.db.begin() as conn:
            refund = await settlement.open_refund(
                conn, attempt["merchant_id"], attempt["payment_id"], amount=amount,
                out_refund_no=channel_refund_key, reason="refunded in the channel's merchant portal",
                automatic=PORTAL, attempt_id=attempt_id)
            row = await refunds_repo.get_refund(conn, refund["id"])
            assert row is not None
            _, status = await settlement.settle_refund_succeeded(
                conn, row, answer.channel_refund_no, svc.settings.public_url or "")
    except DuplicateOutRefundNo:
        return Remedy(True, "imported earlier")
    except GatewayError as exc:  # exceeds the refundable amount, payment not refundable: a person decides
        return Remedy(False, f"not imported: {exc.code}")
    if status:
        await svc.status.changed(attempt["payment_id"], status)
    return Remedy(True, f"imported as refund {refund['id']}")


def fee_fen(units: int) -> int:
    """1/1000-fen units → fen, half away from zero [U: the channels' own rounding of a day's fees]."""
    whole = (abs(units) + FEE_UNITS_PER_FEN // 2) // FEE_UNITS_PER_FEN
    return -whole if units < 0 else whole


async def post_fees(conn: AsyncConnection, account: Row, day: str, fen: int, currency: str = "CNY") -> int:
    """The day's fees from the bill: ``fees:<account>`` +F, ``channel:<account>`` −F. Posted once per
    account and day (ref ``fees:<account>:<day>``); a re-run on a bill whose fees differ (re-fetched)
    posts only the difference (ref ``…:<n>``), so the day's entries always sum to the bill's fees.
    Returns the fen now posted for the day."""
    ref = fee_ref(account["id"], day)
    entries, posted = await recon_repo.fees_posted(conn, ref, fee_account(account["id"]))
    delta = fen - posted
    if delta:
        amount = Money(delta, currency)
        await ledger.post(conn, ref=f"{ref}:{entries}" if entries else ref, kind=FEE_KIND,
                          merchant_id=account["merchant_id"], postings=[
                              (fee_account(account["id"]), amount), (ledger.channel_account(account["id"]), -amount)])
    return fen
