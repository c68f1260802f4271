"""Matching a staged bill against our records: set-wise SQL that returns only what disagrees.

Each query joins the batch's staged lines to attempts/refunds on their keys (``ix_recon_lines_*`` and
the primary keys) and keeps the rows that are not consistent, so the Python side only ever holds the
discrepancies -- a 1,000,000-line bill that agrees costs a few index scans, not a map in memory.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.services.reconciliation.days import CARRY_DAYS, window
from gateway.services.reconciliation.remedy import PORTAL
from gateway.store.reconciliation import recon_lines
from gateway.store.tables import attempts, payments, refunds

ATTEMPT_PREFIX, REFUND_PREFIX = "att_", "re_"

L, A, P, R = recon_lines, attempts, payments, refunds

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
    rows = await conn.execute(
        sa.select(L.c.kind, L.c.key, sa.func.count().label("n"), sa.func.max(L.c.amount).label("amount"))
        .where(L.c.batch_id == batch_id).group_by(L.c.kind, L.c.key).having(sa.func.count() > 1))
    return [Finding(DUPLICATE_LINE, "warn", f"{r.kind}:{r.key}", channel_amount=r.amount,
                    channel_status=f"{r.n} lines") for r in rows]


async def payments_disagreeing(conn: AsyncConnection, batch_id: str, account_id: str) -> list[Finding]:
    double_refund = sa.exists().where(R.c.attempt_id == A.c.id, R.c.automatic == "double_paid")
    late_refund = sa.exists().where(R.c.payment_id == P.c.id, R.c.automatic == "late_paid")
    consistent = sa.and_(A.c.id.is_not(None), A.c.amount == L.c.amount, A.c.status == "succeeded",
                         sa.func.coalesce(P.c.paid_attempt_id, "") == A.c.id, P.c.late == sa.false())
    rows = await conn.execute(
        sa.select(L.c.key, L.c.amount.label("bill_amount"), A.c.id.label("attempt_id"),
                  A.c.status.label("attempt_status"), A.c.amount.label("local_amount"),
                  P.c.id.label("payment_id"), P.c.status.label("payment_status"), P.c.paid_attempt_id, P.c.late,
                  double_refund.label("double_refund"), late_refund.label("late_refund"))
        .select_from(L.outerjoin(A, sa.and_(A.c.id == L.c.key, A.c.account_id == account_id))
                     .outerjoin(P, P.c.id == A.c.payment_id))
        .where(L.c.batch_id == batch_id, L.c.kind == "payment", L.c.ours, sa.not_(consistent))
        .order_by(L.c.key))
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
    imported = R.alias("imported")
    consistent = sa.and_(R.c.id.is_not(None), R.c.amount == L.c.amount, sa.or_(
        R.c.status == "succeeded", sa.and_(R.c.status == "pending", L.c.status != "SUCCESS")))
    rows = await conn.execute(
        sa.select(L.c.key, L.c.trade_no, L.c.amount.label("bill_amount"), L.c.status.label("bill_status"),
                  R.c.id.label("refund_id"), R.c.status.label("refund_status"), R.c.amount.label("local_amount"),
                  R.c.payment_id, A.c.id.label("attempt_id"), A.c.payment_id.label("attempt_payment_id"),
                  imported.c.id.label("imported_id"))
        .select_from(L.outerjoin(R, R.c.id == L.c.key)
                     .outerjoin(A, sa.and_(A.c.id == L.c.trade_no, A.c.account_id == account_id))
                     .outerjoin(imported, sa.and_(imported.c.attempt_id == L.c.trade_no,
                                                  imported.c.out_refund_no == L.c.key,
                                                  imported.c.automatic == PORTAL)))
        .where(L.c.batch_id == batch_id, L.c.kind == "refund", L.c.ours, sa.not_(consistent))
        .order_by(L.c.key))
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


def _on_a_bill(kind: str, key: sa.ColumnElement[Any]) -> sa.Exists:
    """The line is on this bill or on another of ours (a neighbouring day: a timing difference, not a
    discrepancy). One probe of ``ix_recon_lines_kind_key``: our keys are unique across accounts."""
    return sa.exists().where(L.c.kind == kind, L.c.key == key)


async def local_missing(conn: AsyncConnection, batch_id: str, account_id: str, day: date,
                        today: date) -> list[Finding]:
    start, end = window(day)
    found: list[Finding] = []
    rows = await conn.execute(
        sa.select(A.c.id, A.c.payment_id, A.c.amount, A.c.status)
        .where(A.c.account_id == account_id, A.c.status == "succeeded", A.c.paid_at >= start, A.c.paid_at < end,
               sa.not_(_on_a_bill("payment", A.c.id))).order_by(A.c.id))
    for r in rows:
        found.append(_carry(day, today, Finding(
            LOCAL_PAID_MISSING, "high", r.id, payment_id=r.payment_id, attempt_id=r.id, local_amount=r.amount,
            local_status=r.status, remedy="query_paid")))
    key = sa.case((R.c.automatic == PORTAL, R.c.out_refund_no), else_=R.c.id)
    rows = await conn.execute(
        sa.select(R.c.id, key.label("key"), R.c.payment_id, R.c.attempt_id, R.c.amount, R.c.status)
        .select_from(R.join(A, A.c.id == R.c.attempt_id))
        .where(A.c.account_id == account_id, R.c.status == "succeeded", R.c.succeeded_at >= start,
               R.c.succeeded_at < end, sa.not_(_on_a_bill("refund", key)))
        .order_by(R.c.id))
    for r in rows:
        found.append(_carry(day, today, Finding(
            LOCAL_REFUND_MISSING, "high", r.key, payment_id=r.payment_id, attempt_id=r.attempt_id,
            refund_id=r.id, local_amount=r.amount, local_status=r.status)))
    return found


RECHECK_MAX = 5_000  # disagreeing payment keys re-checked by key; more, and the whole batch is joined again


async def matched_count(conn: AsyncConnection, batch_id: str, account_id: str,
                        disagreeing: Collection[str] | None = None, ours_payment_lines: int | None = None) -> int:
    """Lines that agree with our records now (after the remedies).

    Given ``disagreeing`` -- the keys :func:`payments_disagreeing` found before the remedies -- and the
    batch's count of our payment lines, only those keys' lines are joined again: every other line of
    ours agreed then, and remedies touch only the attempts and payments they were found for. On MariaDB
    this saves joining a million lines to attempts and payments a second time."""
    pay_join = L.join(A, A.c.id == L.c.key).join(P, P.c.id == A.c.payment_id)
    agrees = sa.and_(A.c.account_id == account_id, A.c.status == "succeeded", A.c.amount == L.c.amount,
                     P.c.paid_attempt_id == A.c.id)
    pay_where = [L.c.batch_id == batch_id, L.c.kind == "payment"]
    if disagreeing is not None and ours_payment_lines is not None and len(disagreeing) <= RECHECK_MAX:
        keys = sorted(disagreeing)
        if keys:
            pay_where.append(L.c.key.in_(keys))
            found = await conn.execute(sa.select(sa.func.count()).where(*pay_where, L.c.ours))
            ours_payment_lines -= int(found.scalar_one())  # the lines that agreed before the remedies...
        pay = ours_payment_lines
        if keys:  # ...and those of the disagreeing ones that agree now
            pay += int((await conn.execute(
                sa.select(sa.func.count()).select_from(pay_join).where(*pay_where, agrees))).scalar_one())
    else:
        pay = int((await conn.execute(sa.select(sa.func.count()).select_from(pay_join)
                                      .where(*pay_where, agrees))).scalar_one())
    ref = await conn.execute(
        sa.select(sa.func.count()).select_from(L.join(R, R.c.id == L.c.key))
        .where(L.c.batch_id == batch_id, L.c.kind == "refund", R.c.status == "succeeded",
               R.c.amount == L.c.amount))
    return pay + int(ref.scalar_one())


async def line_counts(conn: AsyncConnection, batch_id: str) -> dict[tuple[str, bool], int]:
    """The batch's staged lines counted by (kind, ours): one pass over its rows."""
    rows = await conn.execute(sa.select(L.c.kind, L.c.ours, sa.func.count()).where(L.c.batch_id == batch_id)
                              .group_by(L.c.kind, L.c.ours))
    return {(kind, bool(ours)): int(n) for kind, ours, n in rows}


async def local_totals(conn: AsyncConnection, account_id: str, day: date) -> dict[str, int]:
    start, end = window(day)
    pay = (await conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(A.c.amount), 0)).where(
        A.c.account_id == account_id, A.c.status == "succeeded", A.c.paid_at >= start, A.c.paid_at < end))).one()
    ref = (await conn.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(R.c.amount), 0))
        .select_from(R.join(A, A.c.id == R.c.attempt_id))
        .where(A.c.account_id == account_id, R.c.status == "succeeded", R.c.succeeded_at >= start,
               R.c.succeeded_at < end))).one()
    return {"local_pay_count": int(pay[0]), "local_pay_amount": int(pay[1]),
            "local_refund_count": int(ref[0]), "local_refund_amount": int(ref[1])}


async def found_later(conn: AsyncConnection, kind: str, key: str, batch_id: str) -> bool:
    return (await conn.execute(sa.select(L.c.line_no).where(L.c.kind == kind, L.c.key == key,
                                                            L.c.batch_id != batch_id).limit(1))).first() is not None

