"""SQLite for the async engines without a thread hop per statement.

aiosqlite runs every call (execute, fetch, commit) on a worker thread and wakes the event loop for each
answer: 0.1-0.4 ms per statement on a busy machine, while the statement itself takes microseconds (WAL
with ``synchronous=NORMAL``: a commit appends to the WAL and does not fsync, only checkpoints do). This
dialect is SQLAlchemy's own pysqlite dialect, marked async so that ``create_async_engine`` accepts it,
over a thin wrapper of the stdlib ``sqlite3`` connection: a statement runs **on the event loop's thread**
inside the greenlet SQLAlchemy already runs the sync engine in (no ``await``, no switch), and its rows
are fetched at once, as the aiosqlite adapter does.

Two things go to a thread (``asyncio.to_thread``, the greenlet awaits it), so the loop is never held:

* **Waiting for a lock.** Connections run with ``busy_timeout=0``; a statement refused with
  "database is locked" (another process writes, a WAL recovery) is run again on a thread with the
  configured wait (the ``timeout`` connect argument, seconds). Retrying is what SQLite's busy handler
  does; where SQLite would not wait (a deadlock), the retry fails at once with the same error.
* **Known-long work**: inside :func:`offloaded` (a context variable, seen through SQLAlchemy's
  greenlets) every statement, fetch, commit and rollback runs on a thread -- reconciliation's staging and
  matching over a million lines, the console's statistics, the ledger check, the daily rollup.

**Checkpoints** are the only part of a commit that writes to the database file and fsyncs. With
``checkpoint_every`` (a connect argument: N commits; the gateway's writer uses it) SQLite's automatic
checkpoint is off on that connection and a passive checkpoint starts on a thread, over a connection of
its own, after every N-th commit on the loop and after every offloaded commit: neither the loop nor the
writer waits for a disk flush (WAL lets a checkpoint run beside the writer), one runs at a time.

A connection is used by one task at a time (the pool), so a statement on a thread never overlaps
another on the same connection; a cancelled wait interrupts the statement and lets the thread finish
before the connection is handed back.
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.util import await_

T = TypeVar("T")
log = logging.getLogger(__name__)

DRIVER = "gateway_sync"

_offload: ContextVar[bool] = ContextVar("sqlite_offload", default=False)


@contextmanager
def offloaded() -> Iterator[None]:
    """Run the SQLite statements of this block (this task and the tasks it starts) on a thread: for
    work that may take longer than a request should wait for the loop."""
    token = _offload.set(True)
    try:
        yield
    finally:
        _offload.reset(token)


def _busy(exc: sqlite3.OperationalError) -> bool:
    return bool(exc.args) and exc.args[0] == "database is locked"


class Connection:
    """The DB-API connection SQLAlchemy sees: ``sqlite3.Connection``'s, over the loop or a thread."""

    def __init__(self, raw: sqlite3.Connection, wait_ms: int, checkpoint_every: int | None = None,
                 database: str | None = None, uri: bool = False) -> None:
        self._raw = raw
        self._wait_ms = wait_ms
        self._checkpoint_every = checkpoint_every
        self._commits = 0
        self._database, self._uri = database, uri
        self._checkpointing: asyncio.Future[None] | None = None

    def _run(self, fn: Callable[[], T], *, statement: bool = False) -> T:
        if _offload.get():
            return self._threaded(fn)
        try:
            result = fn()
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or not self._wait_ms:
                raise
            return self._threaded(fn)
        if statement:
            # SQLAlchemy's AsyncConnection.execute insists that a statement awaited something
            # (AwaitRequired): a coroutine that returns at once -- a greenlet switch, no loop iteration
            await_(_nothing())
        return result

    def _threaded(self, fn: Callable[[], T]) -> T:
        raw, wait_ms = self._raw, self._wait_ms

        def call() -> T:
            raw.execute(f"PRAGMA busy_timeout={wait_ms}")
            try:
                return fn()
            finally:
                raw.execute("PRAGMA busy_timeout=0")

        return await_(_finish(raw, asyncio.get_running_loop().run_in_executor(None, call)))

    # DB-API
    def cursor(self) -> Cursor:
        return Cursor(self)

    def commit(self) -> None:
        committed = self._raw.in_transaction
        self._run(self._raw.commit)
        if committed and self._checkpoint_every:
            self._commits += 1
            if self._commits >= self._checkpoint_every or _offload.get():
                self._commits = 0
                self._start_checkpoint()

    def _start_checkpoint(self) -> None:
        if self._checkpointing is not None and not self._checkpointing.done():
            return  # the running one takes this commit's pages too, or the next one will
        if not self._database or self._database == ":memory:":
            return
        self._checkpointing = asyncio.get_running_loop().run_in_executor(
            None, _checkpoint, self._database, self._uri)
        self._checkpointing.add_done_callback(_checkpoint_done)

    def begin_immediate(self) -> None:
        """``BEGIN IMMEDIATE``: take the write lock now (waiting on a thread if another process has it);
        refused as SQLAlchemy would raise it (a lock still held past the wait: ``OperationalError``)."""
        try:
            self._run(lambda: self._raw.execute("BEGIN IMMEDIATE"))
        except sqlite3.Error as exc:
            raise sa_exc.DBAPIError.instance("BEGIN IMMEDIATE", None, exc, sqlite3.Error) from exc

    def rollback(self) -> None:
        self._run(self._raw.rollback)

    def close(self) -> None:
        self._raw.close()

    # what SQLAlchemy's pysqlite dialect and the gateway's connect hook touch
    @property
    def isolation_level(self) -> str | None:
        return self._raw.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._raw.isolation_level = value  # type: ignore[assignment]

    @property
    def in_transaction(self) -> bool:
        return self._raw.in_transaction

    def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._raw.create_function(*args, **kwargs)

    def interrupt(self) -> None:
        self._raw.interrupt()


def _checkpoint(database: str, uri: bool) -> None:
    """A passive checkpoint over a connection of its own (on a thread): it copies what it can of the WAL
    into the database file without waiting for, or blocking, the writer or the readers."""
    conn = sqlite3.connect(database, timeout=0, uri=uri, check_same_thread=False)
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        conn.close()


def _checkpoint_done(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled() and (exc := fut.exception()) is not None:  # the next one tries again
        log.warning("WAL checkpoint failed: %s", exc)


async def _finish(raw: sqlite3.Connection, fut: asyncio.Future[T]) -> T:
    """``fut``'s result; if cancelled, the statement is interrupted and its thread waited for, so the
    connection is free when the cancellation goes on."""
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        raw.interrupt()
        while not fut.done():
            try:
                await asyncio.shield(fut)
            except asyncio.CancelledError:
                continue
            except Exception:  # interrupted: the cancellation is what goes on
                break
        raise


async def _nothing() -> None:
    return None


_NO_ROWS: list[Any] = []


class Cursor:
    """A buffered cursor: the statement runs and its rows are fetched in one step."""

    arraysize = 1

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._cursor = conn._raw.cursor()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = _NO_ROWS
        self._pos = 0

    def _step(self, sql: str, params: Any, many: bool) -> list[Any]:
        c = self._cursor
        if many:
            c.executemany(sql, params)
        elif params is None:
            c.execute(sql)
        else:
            c.execute(sql, params)
        return c.fetchall() if c.description is not None else _NO_ROWS

    def _execute(self, sql: str, params: Any, many: bool) -> None:
        self._rows = self._conn._run(lambda: self._step(sql, params, many), statement=True)
        self._pos = 0
        c = self._cursor
        self.description, self.rowcount, self.lastrowid = c.description, c.rowcount, c.lastrowid

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Cursor:
        self._execute(sql, params, False)
        return self

    def executemany(self, sql: str, params: Sequence[Any]) -> Cursor:
        self._execute(sql, params, True)
        return self

    def fetchone(self) -> Any:
        if self._pos < len(self._rows):
            self._pos += 1
            return self._rows[self._pos - 1]
        return None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        end = self._pos + (size or self.arraysize)
        rows = self._rows[self._pos:end]
        self._pos += len(rows)
        return rows

    def fetchall(self) -> list[Any]:
        rows = self._rows[self._pos:]
        self._pos = len(self._rows)
        return rows

    def close(self) -> None:
        self._rows = _NO_ROWS
        self._cursor.close()

    async def _async_soft_close(self) -> None:
        """Called by SQLAlchemy's asyncio extension once a result is buffered: the rows and the
        description are ours already, the sqlite3 cursor can go."""
        self._cursor.close()

    def setinputsizes(self, *args: Any) -> None:
        pass

    def setoutputsize(self, *args: Any) -> None:
        pass


class _DBAPI:
    """``sqlite3`` as a DB-API module, with :func:`connect` answering a :class:`Connection`."""

    def __getattr__(self, name: str) -> Any:
        return getattr(sqlite3, name)

    @staticmethod
    def connect(database: str, timeout: float = 5.0, checkpoint_every: int | None = None,
                **kwargs: Any) -> Connection:
        kwargs["check_same_thread"] = False  # a statement may run on a thread (see the module's doc)
        raw = sqlite3.connect(database, timeout=0, **kwargs)
        if checkpoint_every:
            raw.execute("PRAGMA wal_autocheckpoint=0")
        return Connection(raw, int(timeout * 1000), checkpoint_every, database, bool(kwargs.get("uri")))


class SQLiteDialect_sync(SQLiteDialect_pysqlite):
    driver = DRIVER
    is_async = True  # used by create_async_engine: statements run inside its greenlets
    has_terminate = True
    supports_statement_cache = True
    supports_server_side_cursors = False

    @classmethod
    def import_dbapi(cls) -> Any:
        return _DBAPI()

    def do_terminate(self, dbapi_connection: Any) -> None:
        dbapi_connection.close()


registry.register(f"sqlite.{DRIVER}", __name__, "SQLiteDialect_sync")


# -- prepared reads ------------------------------------------------------------------------------------

class Prepared:
    """A SELECT built once (its parameters ``bindparam`` s, :func:`gateway.store.base.by`), compiled once
    for SQLite and run on the connection's ``sqlite3`` cursor with its rows converted by the same type
    processors SQLAlchemy would apply: a read of one row costs tens of microseconds instead of the
    couple of hundred SQLAlchemy's execution spends around it."""

    __slots__ = ("binds", "defaults", "keys", "names", "processors", "sql")

    def __init__(self, compiled: Any) -> None:
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self.binds: dict[str, Callable[[Any], Any]] = dict(compiled._bind_processors)
        # values written into the statement (``status = 'paid'``), bound like the caller's parameters
        self.defaults: dict[str, Any] = {name: b.effective_value for name, b in compiled.binds.items()
                                         if not b.required}
        dialect = compiled.dialect
        columns = compiled._result_columns
        self.keys: tuple[str, ...] = tuple(c.keyname for c in columns)
        self.processors = tuple(c.type._cached_result_processor(dialect, None) for c in columns)

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        out = []
        for name in self.names:
            value = params[name] if name in params else self.defaults[name]
            process = self.binds.get(name)
            out.append(value if process is None or value is None else process(value))
        return out

    def rows(self, raw_rows: list[Any]) -> list[dict[str, Any]]:
        keys, processors = self.keys, self.processors
        if not any(processors):
            return [dict(zip(keys, r, strict=True)) for r in raw_rows]
        return [{k: (v if p is None else p(v)) for k, p, v in zip(keys, processors, r, strict=True)}
                for r in raw_rows]


_PREPARED: dict[tuple[int, tuple[str, ...] | None], tuple[Any, Prepared | None]] = {}


def _prepared(stmt: Any, dialect: Any, columns: tuple[str, ...] | None = None) -> Prepared | None:
    """``stmt`` compiled once (an INSERT once per set of ``columns`` given), or None if it does not
    prepare."""
    key = (id(stmt), columns)
    hit = _PREPARED.get(key)
    if hit is not None and hit[0] is stmt:
        return hit[1]
    compiled = stmt.compile(dialect=dialect, column_keys=None if columns is None else list(columns))
    # An IN list expanded at execution, a literal rendered late, a bind without a parameter name: not here.
    ok = (not compiled.literal_execute_params and not compiled.post_compile_params
          and compiled.positiontup is not None and "POSTCOMPILE" not in compiled.string)
    prepared = Prepared(compiled) if ok else None
    if len(_PREPARED) > 1000:  # only statements built once belong here; a stray per-call one is dropped
        _PREPARED.clear()
    _PREPARED[key] = (stmt, prepared)
    return prepared


def _driver(conn: Any) -> Connection | None:
    """The :class:`Connection` under the async connection ``conn``, if it is ours and may run a
    statement on the loop now."""
    if conn.dialect.driver != DRIVER or _offload.get():
        return None
    sync = conn.sync_connection
    if sync is None or sync.closed or sync.invalidated:
        return None
    driver = sync.connection.dbapi_connection
    return driver if isinstance(driver, Connection) else None


def prepared_rows(conn: Any, stmt: Any, params: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The rows of the built SELECT ``stmt`` with ``params``, read straight from SQLite -- or None when
    this connection or statement is not for it (another database, :func:`offloaded` work, a statement
    that does not prepare, a lock to wait for): the caller then executes it through SQLAlchemy."""
    driver = _driver(conn)
    if driver is None:
        return None
    prepared = _prepared(stmt, conn.dialect)
    if prepared is None:
        return None
    try:
        raw_rows = driver._raw.execute(prepared.sql, prepared.args(params)).fetchall()
    except sqlite3.OperationalError as exc:
        if _busy(exc):  # SQLAlchemy's path waits for the lock on a thread
            return None
        raise
    return prepared.rows(raw_rows)


def prepared_write(conn: Any, stmt: Any, params: Mapping[str, Any] | Sequence[Mapping[str, Any]], *,
                   columns: tuple[str, ...] | None = None) -> sqlite3.Cursor | None:
    """Run the built INSERT, UPDATE or DELETE ``stmt`` with ``params`` (a list: once per item) straight
    on SQLite, inside the write transaction ``conn`` is in; its cursor (``rowcount``, ``lastrowid``). None when not
    for it (as :func:`prepared_rows`; also outside a transaction): the caller executes it through
    SQLAlchemy. ``columns``: an INSERT's columns, those of each item of ``params``. A refused
    statement raises as SQLAlchemy would (``IntegrityError`` for a duplicate key)."""
    driver = _driver(conn)
    if driver is None or not driver._raw.in_transaction:
        return None
    prepared = _prepared(stmt, conn.dialect, columns)
    if prepared is None:
        return None
    try:
        if isinstance(params, Mapping):
            cursor = driver._raw.execute(prepared.sql, prepared.args(params))
        else:
            cursor = driver._raw.executemany(prepared.sql, [prepared.args(p) for p in params])
    except sqlite3.Error as exc:
        # a lock to wait for (not while this transaction holds the write lock): SQLAlchemy's path waits
        if isinstance(exc, sqlite3.OperationalError) and _busy(exc):
            return None
        raise sa_exc.DBAPIError.instance(prepared.sql, params, exc, sqlite3.Error) from exc
    return cursor
