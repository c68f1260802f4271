"""Matching a staged bill against our records: what each disagreeing row means.

The queries are set-wise SQL in :mod:`gateway.store.reconciliation_match` that return only what
disagrees; here each such row becomes a :class:`Finding` (type, severity, remedy).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.services.reconciliation.days import CARRY_DAYS, window
from gateway.store import reconciliation_match as queries

ATTEMPT_PREFIX, REFUND_PREFIX = "att_", "re_"

# Discrepancy types (README "Reconciliation" lists them with what each means and does).
PAID_LOCAL_PENDING = "paid_local_pending"
PAID_LOCAL_CLOSED = "paid_local_closed"
PAID_DOUBLE = "paid_double"
PAID_MISSING_LOCAL = "paid_missing_local"
LOCAL_PAID_MISSING = "local_paid_missing"
PAY_AMOUNT_MISMATCH = "pay_amount_mismatch"
REFUND_LOCAL_PENDING = "refund_local_pending"
REFUND_LOCAL_FAILED = "refund_local_failed"
REFUND_EXTERNAL = "refund_external"
REFUND_MISSING_LOCAL = "refund_missing_local"
LOCAL_REFUND_MISSING = "local_refund_missing"
REFUND_AMOUNT_MISMATCH = "refund_amount_mismatch"
DUPLICATE_LINE = "duplicate_line"


@dataclass
class Finding:
    type: str
    severity: str  # info | warn | high
    key: str
    payment_id: str | None = None
    attempt_id: str | None = None
    refund_id: str | None = None
    local_amount: int | None = None
    channel_amount: int | None = None
    local_status: str | None = None
    channel_status: str | None = None
    state: str = "open"
    action: str | None = None
    remedy: str | None = None  # settle | query_trade | query_paid | sync_refund | import_refund
    expected_until: date | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _carry(day: date, today: date, f: Finding) -> Finding:
    f.expected_until = day + timedelta(days=CARRY_DAYS)
    if today <= f.expected_until:
        f.state, f.severity = "carried", "warn"
    return f


async def duplicates(conn: AsyncConnection, batch_id: str) -> list[Finding]:
    rows = await queries.duplicate_lines(conn, batch_id)
    return [Finding(DUPLICATE_LINE, "warn", f"{r.kind}:{r.key}", channel_amount=r.amount,
                    channel_status=f"{r.n} lines") for r in rows]


async def payments_disagreeing(conn: AsyncConnection, batch_id: str, account_id: str) -> list[Finding]:
    rows = await queries.payment_lines_disagreeing(conn, batch_id, account_id)
    found: dict[str, Finding] = {}
    for r in rows:
        if r.key in found:
            continue  # a duplicated line: reported once here, and as duplicate_line
        common = dict(key=r.key, payment_id=r.payment_id, attempt_id=r.attempt_id, local_amount=r.local_amount,
                      channel_amount=r.bill_amount, local_status=r.attempt_status, channel_status="SUCCESS")
        if r.attempt_id is None:
            f = Finding(PAID_MISSING_LOCAL, "high", remedy="query_trade", **common)
        elif r.local_amount != r.bill_amount:
            f = Finding(PAY_AMOUNT_MISMATCH, "high", **common)
        elif r.paid_attempt_id and r.paid_attempt_id != r.attempt_id:
            f = Finding(PAID_DOUBLE, "warn", **common)
            if r.attempt_status == "succeeded" and r.double_refund:
                f.state, f.action = "auto_resolved", "refunded automatically (double_paid)"
            elif r.attempt_status != "succeeded":
                f.remedy = "settle"
        elif r.attempt_status != "succeeded":
            closed = r.payment_status == "closed" or r.attempt_status in ("closed", "failed")
            f = Finding(PAID_LOCAL_CLOSED if closed else PAID_LOCAL_PENDING, "warn" if closed else "info",
                        remedy="settle", **common)
        else:  # succeeded and the paid attempt, but paid after we had closed the payment
            f = Finding(PAID_LOCAL_CLOSED, "warn", state="auto_resolved",
                        action="settled late; " + ("refunded automatically (late_paid)" if r.late_refund
                                                   else "kept (late payment policy)"), **common)
        f.local_status = f"{r.attempt_status}/{r.payment_status}" if r.attempt_id else None
        found[r.key] = f
    # Two attempts of one payment both on the bill and both unsettled here: the first (ids sort by time)
    # settles the payment, the others are the double payment -- decided now, so a re-run, which finds
    # the first consistent and the others paid_double, reports the same.
    seen: set[str] = set()
    for f in found.values():
        if f.remedy == "settle" and f.payment_id:
            if f.payment_id in seen:
                f.type, f.severity = PAID_DOUBLE, "warn"
            seen.add(f.payment_id)
    return list(found.values())


async def refunds_disagreeing(conn: AsyncConnection, batch_id: str, account_id: str) -> list[Finding]:
    rows = await queries.refund_lines_disagreeing(conn, batch_id, account_id)
    found: dict[str, Finding] = {}
    for r in rows:
        if r.key in found:
            continue
        common = dict(key=r.key, payment_id=r.payment_id or r.attempt_payment_id, attempt_id=r.attempt_id,
                      refund_id=r.refund_id, local_amount=r.local_amount, channel_amount=r.bill_amount,
                      local_status=r.refund_status, channel_status=r.bill_status)
        if r.refund_id is not None:
            if r.local_amount != r.bill_amount:
                f = Finding(REFUND_AMOUNT_MISMATCH, "high", **common)
            elif r.refund_status == "pending":
                f = Finding(REFUND_LOCAL_PENDING, "info", remedy="sync_refund", **common)
            else:  # failed here, done at the channel: the settlement has no way back from failed
                f = Finding(REFUND_LOCAL_FAILED, "high", **common)
        elif r.imported_id is not None:
            common["refund_id"] = r.imported_id
            f = Finding(REFUND_EXTERNAL, "warn", state="auto_resolved",
                        action=f"imported as refund {r.imported_id}", **common)
        elif r.key.startswith(REFUND_PREFIX) or r.attempt_id is None:
            f = Finding(REFUND_MISSING_LOCAL, "high", **common)
        else:
            f = Finding(REFUND_EXTERNAL, "warn", remedy="import_refund", **common)
        found[r.key] = f
    return list(found.values())


async def local_missing(conn: AsyncConnection, batch_id: str, account_id: str, day: date,
                        today: date) -> list[Finding]:
    start, end = window(day)
    found: list[Finding] = []
    others = [b for b in await queries.neighbouring_batches(conn, day) if b != batch_id]
    rows = await queries.paid_attempts_off_the_bills(conn, account_id, start, end, batch_id, others)
    for r in rows:
        found.append(_carry(day, today, Finding(
            LOCAL_PAID_MISSING, "high", r.id, payment_id=r.payment_id, attempt_id=r.id, local_amount=r.amount,
            local_status=r.status, remedy="query_paid")))
    rows = await queries.refunds_off_the_bills(conn, account_id, start, end, batch_id, others)
    for r in rows:
        found.append(_carry(day, today, Finding(
            LOCAL_REFUND_MISSING, "high", r.key, payment_id=r.payment_id, attempt_id=r.attempt_id,
            refund_id=r.id, local_amount=r.amount, local_status=r.status)))
    return found


async def local_totals(conn: AsyncConnection, account_id: str, day: date) -> dict[str, int]:
    """The account's succeeded payments and refunds of the (Shanghai) bill day: counts and sums."""
    start, end = window(day)
    return await queries.local_totals(conn, account_id, start, end)


async def found_later(conn: AsyncConnection, kind: str, key: str, batch_id: str, day: date) -> bool:
    return await queries.found_later(conn, kind, key, batch_id, day)
