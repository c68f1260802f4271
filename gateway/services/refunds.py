"""Refunds: reserve the refundable balance, ask the channel with our refund id as its idempotency key,
and settle on a confirmed answer only. A timeout or 5xx is retried with the same number and resolved
by refund query -- never assumed failed.

Automatic refunds (a payment that succeeded after we closed it, a second attempt that paid an already
paid payment) are opened by :mod:`gateway.services.settlement` in the settlement's own transaction, with
a deterministic ``out_refund_no`` so they happen once, then sent by :func:`submit_automatic` and follow the
same path. Every state change here goes through :mod:`gateway.services.settlement`.
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.channels.base import Notification, RefundRequest, RefundResult
from gateway.domain.errors import NotFound, Rejected
from gateway.domain.money import Money
from gateway.domain.outcomes import Outcome
from gateway.domain.states import RefundStatus
from gateway.services import risk
from gateway.services.context import Services
from gateway.services.settlement import (
    Settled,
    SettleResult,
    open_refund,
    settle_refund_failed,
    settle_refund_succeeded,
)
from gateway.services.views import refund_view
from gateway.store import merchants as merchants_repo
from gateway.store import payments as payments_repo
from gateway.store import refunds as repo
from gateway.store.base import Row
from gateway.store.rows import RefundRow

log = logging.getLogger(__name__)


async def create_refund(svc: Services, merchant_id: str, payment_id: str, *, amount: int, out_refund_no: str,
                        reason: str | None = None, automatic: str | None = None,
                        attempt_id: str | None = None) -> dict[str, Any]:
    """Reserve and record (committed first, so a crash after it loses nothing: the sync task finds the
    pending row), then ask the channel. The answer is the refund as it stands: pending when the channel
    is still processing or did not answer."""
    if automatic is None:  # the gateway's own refunds (late or double payments) are never refused
        await risk.check_refund(svc, merchant_id, payment_id, amount)
    async with svc.db.begin() as conn:
        refund = await open_refund(conn, merchant_id, payment_id, amount=amount, out_refund_no=out_refund_no,
                                   reason=reason, automatic=automatic, attempt_id=attempt_id,
                                   time_scale=svc.settings.task_time_scale)
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


async def _channel_request(svc: Services, refund: RefundRow) -> tuple[Any, RefundRequest]:
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


async def submit_automatic(svc: Services, refund_id: str) -> None:
    """Send an automatic refund now; on any failure the refund sync task sends it later."""
    try:
        await submit(svc, refund_id)
    except Exception:  # the row is committed: nothing is lost, only delayed
        log.exception("automatic refund %s not submitted; the sync task will", refund_id)


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


async def apply_result(svc: Services, refund: RefundRow, result: RefundResult) -> None:
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
            applied, status = await settle_refund_succeeded(conn, refund, result.channel_refund_no, base_url)
            finished = "succeeded" if applied else None
        elif result.outcome in (Outcome.FAIL, Outcome.CHANNEL_ERROR):
            applied = await settle_refund_failed(conn, refund, result.error_code, result.error_message)
            finished = "failed" if applied else None
        else:
            finished = None
    if finished:
        svc.metrics.refunds_finished.labels(finished).inc()
        if finished == "failed":
            log.warning("refund %s failed at the channel: %s %s", refund["id"], result.error_code,
                        result.error_message)
    if status:
        await svc.status.changed(refund["payment_id"], status)


async def apply_refund_notification(svc: Services, conn: AsyncConnection, attempt: Row,
                                    note: Notification) -> SettleResult:
    """A verified refund notification, inside the callback's transaction. A repeat changes nothing."""
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
        if applied:
            svc.metrics.refunds_finished.labels("succeeded").inc()
        return SettleResult(Settled.REFUND_APPLIED if applied else Settled.DUPLICATE, refund["payment_id"], status)
    if note.outcome == Outcome.FAIL:
        if await settle_refund_failed(conn, refund, "channel_failed", "the channel reported the refund failed"):
            svc.metrics.refunds_finished.labels("failed").inc()
            log.warning("refund %s failed: the channel's notification says so", refund["id"])
            return SettleResult(Settled.REFUND_APPLIED, refund["payment_id"])
        return SettleResult(Settled.DUPLICATE, refund["payment_id"])
    return SettleResult(Settled.UNCHANGED, refund["payment_id"])
