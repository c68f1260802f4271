"""Helpers every repository uses: time, integrity errors, the conditional transition."""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.states import Transition

# A row as read: columns by name. Read-only on purpose -- a changed row is written back by a named
# function, never edited in place. The money tables have precise shapes in :mod:`gateway.store.rows`.
Row = Mapping[str, Any]


def utcnow() -> datetime:
    return datetime.now(UTC)


def is_unique_violation(exc: IntegrityError) -> bool:
    text = str(exc.orig).lower()
    return "unique" in text or "duplicate" in text or "1062" in text


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


async def transition(conn: AsyncConnection, table: sa.Table, t: Transition, row_id: str,
                     *, where: sa.ColumnElement[bool] | None = None, **values: Any) -> bool:
    """``UPDATE table SET status = <target> … WHERE id = :id AND status IN (<sources>)``.

    Returns whether it applied: the caller writes side effects only when it did.
    """
    stmt = (sa.update(table)
            .where(table.c.id == row_id, table.c.status.in_(sorted(t.sources)))
            .values(status=t.target, updated_at=utcnow(), **values))
    if where is not None:
        stmt = stmt.where(where)
    result = await conn.execute(stmt)
    return result.rowcount == 1


def newest_first(stmt: sa.Select, table: sa.Table, after: tuple[datetime, str] | None, limit: int) -> sa.Select:
    """``stmt`` newest first, keyset-paginated on ``(created_at, id)``: ``after`` is the last row seen (the
    API's cursor), ``limit`` how many to read."""
    c = table.c
    if after:
        stmt = stmt.where(sa.or_(c.created_at < after[0], sa.and_(c.created_at == after[0], c.id < after[1])))
    return stmt.order_by(c.created_at.desc(), c.id.desc()).limit(limit)


async def one(conn: AsyncConnection, stmt: sa.Select) -> Row | None:
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row else None


async def all_rows(conn: AsyncConnection, stmt: sa.Select) -> list[Row]:
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]
