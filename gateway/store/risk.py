"""Risk rules, lists and decisions (gateway.services.risk), and the totals some rules read."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.base import Row, all_rows, insert, newest_first, one, utcnow
from gateway.store.tables import payments, refunds, risk_decisions, risk_lists, risk_rules


def _mine(column: sa.ColumnElement[Any], merchant_id: str | None, *, with_global: bool) -> sa.ColumnElement[bool]:
    if merchant_id is None:
        return column.is_(None)
    return sa.or_(column == merchant_id, column.is_(None)) if with_global else column == merchant_id


# -- rules ---------------------------------------------------------------------------------------------

async def insert_rule(conn: AsyncConnection, row: Row) -> None:
    await conn.execute(sa.insert(risk_rules), row)


async def get_rule(conn: AsyncConnection, rule_id: str, merchant_id: str | None) -> Row | None:
    """A rule of this merchant (None: a global rule)."""
    return await one(conn, sa.select(risk_rules).where(risk_rules.c.id == rule_id,
                                                      _mine(risk_rules.c.merchant_id, merchant_id, with_global=False)))


async def rule_by_id(conn: AsyncConnection, rule_id: str) -> Row | None:
    """Any rule (the console checks the operator's scope)."""
    return await one(conn, sa.select(risk_rules).where(risk_rules.c.id == rule_id))


async def list_rules(conn: AsyncConnection, merchant_id: str | None, *, with_global: bool = False,
                     enabled_only: bool = False) -> list[Row]:
    stmt = sa.select(risk_rules).where(_mine(risk_rules.c.merchant_id, merchant_id, with_global=with_global))
    if enabled_only:
        stmt = stmt.where(risk_rules.c.enabled == sa.true())
    return await all_rows(conn, stmt.order_by(risk_rules.c.created_at, risk_rules.c.id))


async def list_all_rules(conn: AsyncConnection, scope: str | None) -> list[Row]:
    """The console: every rule (``scope`` None), or a merchant's and the global ones."""
    stmt = sa.select(risk_rules)
    if scope is not None:
        stmt = stmt.where(_mine(risk_rules.c.merchant_id, scope, with_global=True))
    return await all_rows(conn, stmt.order_by(risk_rules.c.merchant_id, risk_rules.c.created_at))


async def count_rules(conn: AsyncConnection, merchant_id: str) -> int:
    return int((await conn.execute(sa.select(sa.func.count()).select_from(risk_rules)
                                   .where(risk_rules.c.merchant_id == merchant_id))).scalar_one())


async def update_rule(conn: AsyncConnection, rule_id: str, **values: Any) -> None:
    await conn.execute(sa.update(risk_rules).where(risk_rules.c.id == rule_id).values(updated_at=utcnow(), **values))


async def delete_rule(conn: AsyncConnection, rule_id: str) -> bool:
    return (await conn.execute(sa.delete(risk_rules).where(risk_rules.c.id == rule_id))).rowcount == 1


# -- lists ---------------------------------------------------------------------------------------------

async def insert_entry(conn: AsyncConnection, row: Row) -> None:
    await conn.execute(sa.insert(risk_lists), row)


async def list_entries(conn: AsyncConnection, merchant_id: str | None, kind: str | None = None, *,
                       with_global: bool = False, now: datetime | None = None, limit: int = 1000) -> list[Row]:
    """Entries not expired (at ``now``), newest first."""
    c = risk_lists.c
    stmt = sa.select(risk_lists).where(_mine(c.merchant_id, merchant_id, with_global=with_global),
                                       sa.or_(c.expires_at.is_(None), c.expires_at > (now or utcnow())))
    if kind is not None:
        stmt = stmt.where(c.kind == kind)
    return await all_rows(conn, stmt.order_by(c.created_at.desc(), c.id.desc()).limit(limit))


async def all_entries(conn: AsyncConnection, scope: str | None, *, limit: int = 500) -> list[Row]:
    c = risk_lists.c
    stmt = sa.select(risk_lists).where(sa.or_(c.expires_at.is_(None), c.expires_at > utcnow()))
    if scope is not None:
        stmt = stmt.where(_mine(c.merchant_id, scope, with_global=True))
    return await all_rows(conn, stmt.order_by(c.created_at.desc(), c.id.desc()).limit(limit))


async def get_entry(conn: AsyncConnection, entry_id: str) -> Row | None:
    return await one(conn, sa.select(risk_lists).where(risk_lists.c.id == entry_id))


async def delete_entry(conn: AsyncConnection, entry_id: str) -> bool:
    return (await conn.execute(sa.delete(risk_lists).where(risk_lists.c.id == entry_id))).rowcount == 1


# -- decisions -----------------------------------------------------------------------------------------

async def insert_decision(conn: AsyncConnection, row: Row) -> None:
    await insert(conn, risk_decisions, row)


async def list_decisions(conn: AsyncConnection, merchant_id: str | None, *, limit: int,
                         after: tuple[datetime, str] | None = None, hook: str | None = None,
                         decision: str | None = None, object_id: str | None = None) -> list[Row]:
    """Newest first; ``merchant_id`` None = every merchant's (the console of an unscoped operator)."""
    c = risk_decisions.c
    stmt = sa.select(risk_decisions)
    if merchant_id is not None:
        stmt = stmt.where(c.merchant_id == merchant_id)
    for column, value in ((c.hook, hook), (c.decision, decision), (c.object_id, object_id)):
        if value:
            stmt = stmt.where(column == value)
    return await all_rows(conn, newest_first(stmt, risk_decisions, after, limit))


async def set_payment_risk(conn: AsyncConnection, payment_id: str, risk: str) -> None:
    """The payment's risk record, replaced (a later hook adds the rules it saw fire)."""
    await conn.execute(sa.update(payments).where(payments.c.id == payment_id).values(risk=risk))


# -- totals rules read ---------------------------------------------------------------------------------

async def created_totals(conn: AsyncConnection, merchant_id: str, since: datetime) -> tuple[int, int]:
    """(count, amount) of the merchant's payments created since ``since`` (the merchant/created index)."""
    c = payments.c
    row = (await conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(c.amount), 0))
                              .where(c.merchant_id == merchant_id, c.created_at >= since))).one()
    return int(row[0]), int(row[1])


async def paid_and_refunded(conn: AsyncConnection, merchant_id: str, since: datetime) -> tuple[int, int]:
    """(paid, refunded) amounts of the merchant since ``since``: payments by paid time, refunds (not
    failed) by creation time."""
    paid = (await conn.execute(sa.select(sa.func.coalesce(sa.func.sum(payments.c.amount), 0))
                               .where(payments.c.merchant_id == merchant_id, payments.c.paid_at >= since))).scalar_one()
    refunded = (await conn.execute(sa.select(sa.func.coalesce(sa.func.sum(refunds.c.amount), 0))
                                   .where(refunds.c.merchant_id == merchant_id, refunds.c.created_at >= since,
                                          refunds.c.status != "failed"))).scalar_one()
    return int(paid), int(refunded)
