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


async def _off_the_bills(conn: AsyncConnection, stmt: sa.Select[Any], source: sa.FromClause, kind: str,
                         key: sa.ColumnElement[Any], batch_id: str, others: Sequence[str]) -> list[Found]:
    """The rows of ``stmt`` over ``source`` whose ``key`` (its column ``key``) is on no line of the batch
    ``batch_id``, nor of the ``others`` (the neighbouring days': a line there is a timing difference).

    First an anti-join on the batch itself -- one probe of ``ix_recon_lines_batch_kind_key`` per row,
    an equality on every part of the index -- then the few rows it leaves are looked for on the other
    batches by key. Neither step is ``NOT EXISTS`` (MariaDB caches a dependent subquery's result per
    outer key, and with a million keys that cache goes to disk) nor a join on ``batch_id IN (…)``
    (MariaDB cannot probe an index by a list in a join: it scans every listed batch per row). The
    index is forced on MariaDB: a plan that reads the batch's lines through a join buffer instead
    examines billions of rows."""
    line = L.alias("on_bill")
    rows = list(await conn.execute(
        stmt.select_from(source.outerjoin(line, sa.and_(line.c.batch_id == batch_id, line.c.kind == kind,
                                                        line.c.key == key)))
        .where(line.c.line_no.is_(None)).with_hint(line, "FORCE INDEX (ix_recon_lines_batch_kind_key)", "mysql")))
    if not rows or not others:
        return rows
    elsewhere: set[str] = set()
    keys = sorted({r.key for r in rows})
    for i in range(0, len(keys), 500):
        elsewhere.update((await conn.execute(sa.select(L.c.key).where(
            L.c.batch_id.in_(others), L.c.kind == kind, L.c.key.in_(keys[i:i + 500])))).scalars())
    return [r for r in rows if r.key not in elsewhere]


async def paid_attempts_off_the_bills(conn: AsyncConnection, account_id: str, start: datetime, end: datetime,
                                      batch_id: str, others: Sequence[str]) -> list[Found]:
    """(id, key, payment_id, amount, status) of the account's attempts paid in ``[start, end)`` that are
    on no line of the batch ``batch_id`` or of ``others``."""
    stmt = (sa.select(A.c.id, A.c.id.label("key"), A.c.payment_id, A.c.amount, A.c.status)
            .where(A.c.account_id == account_id, A.c.status == "succeeded", A.c.paid_at >= start,
                   A.c.paid_at < end).order_by(A.c.id))
    return await _off_the_bills(conn, stmt, A, "payment", A.c.id, batch_id, others)


async def refunds_off_the_bills(conn: AsyncConnection, account_id: str, start: datetime, end: datetime,
                                batch_id: str, others: Sequence[str]) -> list[Found]:
    """(id, key, payment_id, attempt_id, amount, status) of the account's refunds succeeded in
    ``[start, end)`` that are on no line of the batch ``batch_id`` or of ``others`` (a portal refund's
    key is the channel's number)."""
    key = sa.case((R.c.automatic == PORTAL, R.c.out_refund_no), else_=R.c.id)
    stmt = (sa.select(R.c.id, key.label("key"), R.c.payment_id, R.c.attempt_id, R.c.amount, R.c.status)
            .where(A.c.account_id == account_id, R.c.status == "succeeded", R.c.succeeded_at >= start,
                   R.c.succeeded_at < end).order_by(R.c.id))
    return await _off_the_bills(conn, stmt, R.join(A, A.c.id == R.c.attempt_id), "refund", key, batch_id, others)


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
