"""The matching queries of reconciliation: set-wise SQL over a batch's staged lines that returns only
what disagrees (the decisions on those rows are :mod:`gateway.services.reconciliation.match`'s).

Each query joins the batch's staged lines to attempts/refunds on their keys (``ix_recon_lines_*`` and
the primary keys) and keeps the rows that are not consistent, so the Python side only ever holds the
discrepancies -- a 1,000,000-line bill that agrees costs a few index scans, not a map in memory.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.reconciliation import PORTAL, recon_batches, recon_lines
from gateway.store.tables import attempts, payments, refunds

L, A, P, R = recon_lines, attempts, payments, refunds

Found = sa.Row[*tuple[Any, ...]]  # a row of a matching query: its columns by attribute

RECHECK_MAX = 5_000  # disagreeing payment keys re-checked by key; more, and the whole batch is joined again


async def duplicate_lines(conn: AsyncConnection, batch_id: str) -> list[Found]:
    """(kind, key, n, amount) of every key on more than one line of the batch."""
    rows = await conn.execute(
        sa.select(L.c.kind, L.c.key, sa.func.count().label("n"), sa.func.max(L.c.amount).label("amount"))
        .where(L.c.batch_id == batch_id).group_by(L.c.kind, L.c.key).having(sa.func.count() > 1))
    return list(rows)


async def payment_lines_disagreeing(conn: AsyncConnection, batch_id: str, account_id: str) -> list[Found]:
    """Our payment lines of the batch that do not agree with a succeeded, paid, in-time attempt of the
    same amount, with what we have for them, by key."""
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
    return list(rows)


async def refund_lines_disagreeing(conn: AsyncConnection, batch_id: str, account_id: str) -> list[Found]:
    """Our refund lines of the batch that do not agree with a refund of ours, with the refund, the
    attempt and a portal refund imported earlier, if any, by key."""
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
    return list(rows)


NEIGHBOURS = (-1, 2)  # a day's trades are looked for on the bills of the day before to two days after


async def neighbouring_batches(conn: AsyncConnection, day: date) -> list[str]:
    """The batches (every account's) of the bill days around ``day``, ``day`` included: where a line of
    that day can be when the channel's clock and ours put it on different sides of midnight."""
    first, last = (day + timedelta(days=d) for d in NEIGHBOURS)
    B = recon_batches
    return list((await conn.execute(sa.select(B.c.id).where(B.c.bill_date >= first, B.c.bill_date <= last)
                                    .order_by(B.c.id))).scalars())


def _on_a_bill(kind: str, key: sa.ColumnElement[Any], batches: Sequence[str]) -> sa.ColumnElement[bool]:
    """The line is on one of ``batches``' bills (this day's or a neighbouring day's: a timing difference,
    not a discrepancy). A probe of ``ix_recon_lines_batch_kind_key`` per batch -- which is why staging
    keeps no second index on ``(kind, key)``."""
    if not batches:
        return sa.false()
    return sa.exists().where(L.c.batch_id.in_(batches), L.c.kind == kind, L.c.key == key)


async def paid_attempts_off_the_bills(conn: AsyncConnection, account_id: str, start: datetime, end: datetime,
                                      batches: Sequence[str]) -> list[Found]:
    """(id, payment_id, amount, status) of the account's attempts paid in ``[start, end)`` that are on
    no line of ``batches``."""
    rows = await conn.execute(
        sa.select(A.c.id, A.c.payment_id, A.c.amount, A.c.status)
        .where(A.c.account_id == account_id, A.c.status == "succeeded", A.c.paid_at >= start, A.c.paid_at < end,
               sa.not_(_on_a_bill("payment", A.c.id, batches))).order_by(A.c.id))
    return list(rows)


async def refunds_off_the_bills(conn: AsyncConnection, account_id: str, start: datetime, end: datetime,
                                batches: Sequence[str]) -> list[Found]:
    """(id, key, payment_id, attempt_id, amount, status) of the account's refunds succeeded in
    ``[start, end)`` that are on no line of ``batches`` (a portal refund's key is the channel's number)."""
    key = sa.case((R.c.automatic == PORTAL, R.c.out_refund_no), else_=R.c.id)
    rows = await conn.execute(
        sa.select(R.c.id, key.label("key"), R.c.payment_id, R.c.attempt_id, R.c.amount, R.c.status)
        .select_from(R.join(A, A.c.id == R.c.attempt_id))
        .where(A.c.account_id == account_id, R.c.status == "succeeded", R.c.succeeded_at >= start,
               R.c.succeeded_at < end, sa.not_(_on_a_bill("refund", key, batches)))
        .order_by(R.c.id))
    return list(rows)


async def matched_count(conn: AsyncConnection, batch_id: str, account_id: str,
                        disagreeing: Collection[str] | None = None, ours_payment_lines: int | None = None) -> int:
    """Lines that agree with our records now (after the remedies).

    Given ``disagreeing`` -- the keys :func:`payment_lines_disagreeing` found before the remedies -- and
    the batch's count of our payment lines, only those keys' lines are joined again: every other line of
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


async def local_totals(conn: AsyncConnection, account_id: str, start: datetime, end: datetime) -> dict[str, int]:
    """The account's succeeded payments and refunds in ``[start, end)``: counts and sums (fen)."""
    pay = (await conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(A.c.amount), 0)).where(
        A.c.account_id == account_id, A.c.status == "succeeded", A.c.paid_at >= start, A.c.paid_at < end))).one()
    ref = (await conn.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(R.c.amount), 0))
        .select_from(R.join(A, A.c.id == R.c.attempt_id))
        .where(A.c.account_id == account_id, R.c.status == "succeeded", R.c.succeeded_at >= start,
               R.c.succeeded_at < end))).one()
    return {"local_pay_count": int(pay[0]), "local_pay_amount": int(pay[1]),
            "local_refund_count": int(ref[0]), "local_refund_amount": int(ref[1])}


async def found_later(conn: AsyncConnection, kind: str, key: str, batch_id: str, day: date) -> bool:
    """The line of day ``day``'s batch ``batch_id`` is on a neighbouring day's bill."""
    batches = [b for b in await neighbouring_batches(conn, day) if b != batch_id]
    if not batches:
        return False
    found = await conn.execute(sa.select(L.c.line_no).where(
        L.c.batch_id.in_(batches), L.c.kind == kind, L.c.key == key).limit(1))
    return found.first() is not None
