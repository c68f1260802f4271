"""Helpers every repository uses: time, integrity errors, the conditional transition."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.states import Transition
from gateway.store import sqlite_sync

# A row as read: columns by name. Read-only on purpose -- a changed row is written back by a named
# function, never edited in place. The money tables have precise shapes in :mod:`gateway.store.rows`.
Row = Mapping[str, Any]
E = TypeVar("E", bound=sa.ClauseElement)


def utcnow() -> datetime:
    return datetime.now(UTC)


def is_unique_violation(exc: IntegrityError) -> bool:
    text = str(exc.orig).lower()
    return "unique" in text or "duplicate" in text or "1062" in text


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


async def insert(conn: AsyncConnection, table: sa.Table, rows: Row | Sequence[Row]) -> int | None:
    """INSERT one row, or several with the same columns, into ``table``; the new row's autoincrement
    id, if it has one (one row). On SQLite straight on the driver (:func:`sqlite_sync.prepared_write`):
    SQLAlchemy builds and processes an INSERT for hundreds of microseconds, SQLite runs it in a few."""
    if not rows:
        return None
    first = rows if isinstance(rows, Mapping) else rows[0]
    stmt = _INSERTS.get(table.name)
    if stmt is None:
        stmt = _INSERTS[table.name] = sa.insert(table)
    one_with_id = isinstance(rows, Mapping) and table.autoincrement_column is not None
    cursor = sqlite_sync.prepared_write(conn, stmt, rows, columns=tuple(first))
    if cursor is not None:
        return cursor.lastrowid if one_with_id else None
    result = await conn.execute(stmt, rows)
    key = result.inserted_primary_key if one_with_id else None
    return int(key[0]) if key else None


_INSERTS: dict[str, sa.Insert] = {}


async def write(conn: AsyncConnection, stmt: sa.Executable, params: Mapping[str, Any]) -> int:
    """Execute the built UPDATE or DELETE ``stmt`` with ``params``; how many rows it changed."""
    cursor = sqlite_sync.prepared_write(conn, stmt, params)
    if cursor is not None:
        return cursor.rowcount
    return (await conn.execute(stmt, params)).rowcount


async def transition(conn: AsyncConnection, table: sa.Table, t: Transition, row_id: str,
                     *, where: sa.ColumnElement[bool] | None = None, params: Mapping[str, Any] | None = None,
                     **values: Any) -> bool:
    """``UPDATE table SET status = <target> … WHERE id = :id AND status IN (<sources>)``.

    Returns whether it applied: the caller writes side effects only when it did. With plain values and
    :func:`shared` expressions (no extra ``where``), the statement is built once per table, transition
    and set of columns, and executed with the values -- and ``params``, the shared expressions' bind
    parameters -- as parameters.
    """
    if where is None and all(not isinstance(v, sa.ClauseElement) or id(v) in _SHARED for v in values.values()):
        key = (table.name, t, tuple(sorted((k, id(v) if isinstance(v, sa.ClauseElement) else 0)
                                           for k, v in values.items())))
        built = _TRANSITIONS.get(key)
        if built is None:
            built = _TRANSITIONS[key] = _transition(table, t, sa.bindparam("_id"), sa.bindparam("_at"), {
                k: v if isinstance(v, sa.ClauseElement) else sa.bindparam(f"_{k}") for k, v in values.items()})
        bound = {f"_{k}": v for k, v in values.items() if not isinstance(v, sa.ClauseElement)}
        return await write(conn, built, {"_id": row_id, "_at": utcnow(), **bound, **(params or {})}) == 1
    stmt = _transition(table, t, row_id, utcnow(), values)
    result = await conn.execute(stmt if where is None else stmt.where(where), params)
    return result.rowcount == 1


def shared(expression: E) -> E:
    """An SQL expression built once, at import, that :func:`transition` may build into a statement it
    keeps; its bind parameters are given to each call as ``params``. (Kept alive here: its identity is
    part of the kept statement's key.)"""
    _SHARED[id(expression)] = expression
    return expression


_SHARED: dict[int, sa.ClauseElement] = {}


def _transition(table: sa.Table, t: Transition, row_id: Any, at: Any, values: Mapping[str, Any]) -> sa.Update:
    # ``status = a OR status = b``, not ``IN (a, b)``: an IN list is expanded at each execution, which
    # keeps a built statement from being prepared once
    return (sa.update(table).where(table.c.id == row_id, sa.or_(*(table.c.status == s for s in sorted(t.sources))))
            .values(status=t.target, updated_at=at, **values))


_TRANSITIONS: dict[tuple[str, Transition, tuple[tuple[str, int], ...]], sa.Update] = {}


def newest_first(stmt: sa.Select, table: sa.Table, after: tuple[datetime, str] | None, limit: int) -> sa.Select:
    """``stmt`` newest first, keyset-paginated on ``(created_at, id)``: ``after`` is the last row seen (the
    API's cursor), ``limit`` how many to read."""
    c = table.c
    if after:
        stmt = stmt.where(sa.or_(c.created_at < after[0], sa.and_(c.created_at == after[0], c.id < after[1])))
    return stmt.order_by(c.created_at.desc(), c.id.desc()).limit(limit)


async def one(conn: AsyncConnection, stmt: sa.Select, params: Mapping[str, Any] | None = None) -> Row | None:
    """The first row of ``stmt`` (with ``params`` for its bind parameters, if any) as a dict. A statement
    built once and given its ``params`` is read through :func:`sqlite_sync.prepared_rows` on SQLite."""
    if params is not None:
        rows = sqlite_sync.prepared_rows(conn, stmt, params)
        if rows is not None:
            return rows[0] if rows else None
    row = (await conn.execute(stmt, params)).mappings().first()
    return dict(row) if row else None


async def all_rows(conn: AsyncConnection, stmt: sa.Select, params: Mapping[str, Any] | None = None) -> list[Row]:
    if params is not None:
        rows = sqlite_sync.prepared_rows(conn, stmt, params)
        if rows is not None:
            return list(rows)
    return [dict(r) for r in (await conn.execute(stmt, params)).mappings()]


def by(**columns: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """``column = :name`` for each, as the WHERE of a statement built once at import and executed with
    its parameters: building a statement costs tens of microseconds of SQLAlchemy's Python per request
    (and an INSERT's ``.values()`` hundreds), executing a built one costs none of that."""
    return sa.and_(*(column == sa.bindparam(name) for name, column in columns.items()))
