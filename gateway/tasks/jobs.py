"""What each background loop does with one leased row. Each job ends by giving the lease back with the
row's next due time -- or, if the process dies first, by the lease running out.

Every state change a job causes goes through the same named conditional transitions as the API and the
callbacks, so a job that runs twice (a lease lost to a stall) has no second effect.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import aiohttp

from gateway.domain.errors import ChannelUnavailable, InvalidState
from gateway.domain.schedule import EXPIRY_RETRY, next_sync, scaled, webhook_backoff
from gateway.domain.states import AttemptStatus, RefundStatus
from gateway.services import refunds, webhooks
from gateway.services.context import Services
from gateway.services.payments import apply_trade_state, close_payment
from gateway.services.settlement import Settled
from gateway.store import leases, outbox
from gateway.store.base import Row, utcnow
from gateway.store.leases import ATTEMPT_SYNC, EXPIRY, REFUND_SYNC

log = logging.getLogger(__name__)

REPAIRS = frozenset({Settled.PAID, Settled.PAID_LATE, Settled.DOUBLE, Settled.CLOSED})


async def expire_payment(svc: Services, payment: Row) -> None:
    """Close an unpaid payment whose time is up: at the channel first, then here. If the channel says it
    was paid, it becomes paid (and not closed)."""
    token = payment["lease_until"]
    try:
        await close_payment(svc, payment, reason="expired")
    except InvalidState:
        pass  # paid (or closed) meanwhile: nothing left to expire
    except ChannelUnavailable:
        log.info("payment %s: the channel did not confirm the close; retrying", payment["id"])
        async with svc.db.begin() as conn:
            await leases.postpone(conn, EXPIRY, payment["id"], token,
                                  utcnow() + scaled(EXPIRY_RETRY, svc.settings.task_time_scale))
        return
    async with svc.db.begin() as conn:
        await leases.release(conn, EXPIRY, payment["id"], token)


async def sync_attempt(svc: Services, attempt: Row) -> None:
    """Ask the channel about an attempt still waiting, so a lost callback is repaired. The answer goes
    through :func:`apply_trade_state` (the callbacks' own settlement and policies); a query never moves
    a payment out of a terminal state -- the transitions it may cause start from non-terminal ones."""
    if attempt["status"] == AttemptStatus.PENDING:
        result = await apply_trade_state(svc, attempt)
        if result.outcome in REPAIRS:  # a change the callback should have brought
            svc.metrics.sync_repairs.labels("payment", result.outcome.value).inc()
    due = next_sync(attempt["created_at"], utcnow(), svc.settings.task_time_scale,
                    svc.registry.spec(attempt["pay_method"]).query_at)
    async with svc.db.begin() as conn:  # a callback may have settled it meanwhile: then no due time
        await leases.release_synced(conn, ATTEMPT_SYNC, attempt["id"], attempt["lease_until"], due)


async def sync_refund(svc: Services, refund: Row) -> None:
    """Resolve a refund in progress by refund query (re-sending it, same number, if the channel never
    received it -- which is also how an automatic refund whose process died gets sent)."""
    if refund["status"] == RefundStatus.PENDING:
        await refunds.sync(svc, refund["id"])
    due = next_sync(refund["created_at"], utcnow(), svc.settings.task_time_scale)
    async with svc.db.begin() as conn:
        await leases.release_synced(conn, REFUND_SYNC, refund["id"], refund["lease_until"], due)


async def deliver_event(svc: Services, http: aiohttp.ClientSession, event: Row,
                        record: Callable[[outbox.AttemptRecord], Awaitable[bool]],
                        merchant: Row | None = None) -> None:
    """One delivery attempt of one event; 2xx = delivered, else retried on the backoff, then failed.
    ``record`` writes the attempt (the runner's :class:`Batcher` writes several in one transaction).
    ``merchant``: the event's merchant, if the caller read it (else it is read here)."""
    result = await webhooks.attempt(svc, http, event, merchant)
    svc.metrics.webhook_deliveries.labels(delivery_result(result)).inc()
    svc.metrics.webhook_duration.observe(result.latency_ms / 1000)
    if result.ok:
        outcome, due = outbox.DELIVERED, None
    else:
        wait = webhook_backoff(event["attempts"] + 1)
        outcome = outbox.PENDING if wait is not None else outbox.FAILED
        due = utcnow() + scaled(wait, svc.settings.task_time_scale) if wait is not None else None
        log.warning("webhook %s attempt %d to merchant %s failed: %s%s", event["id"], event["attempts"] + 1,
                    event["merchant_id"], result.error,
                    "; retrying" if wait is not None else "; giving up (failed)",
                    extra={"event_id": event["id"], "merchant_id": event["merchant_id"]})
    attempt = outbox.AttemptRecord(event, url=result.url, status_code=result.status_code,
                                   latency_ms=result.latency_ms, excerpt=result.excerpt, error=result.error,
                                   outcome=outcome, next_attempt_at=due)
    held = await record(attempt)
    log.debug("event %s attempt %d to merchant %s: %s%s", event["id"], event["attempts"] + 1,
              event["merchant_id"], outcome, "" if held else " (lease lost)")


async def record_attempts(svc: Services, attempts: Sequence[outbox.AttemptRecord]) -> Sequence[bool]:
    async with svc.db.begin() as conn:
        return await outbox.record_attempts(conn, attempts)


def delivery_result(result: webhooks.Attempt) -> str:
    """A delivery attempt's result label: the status class, ``timeout``, ``network`` or ``no_endpoint``."""
    if result.status_code is not None:
        return f"{result.status_code // 100}xx"
    error = result.error or ""
    if error.startswith("no webhook_url"):
        return "no_endpoint"
    return "timeout" if error.startswith(("TimeoutError", "ServerTimeoutError")) else "network"
