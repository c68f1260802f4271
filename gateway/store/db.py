"""The database: one async engine for MySQL/MariaDB, a writer and a reader for SQLite.

SQLite allows one writer at a time. Write transactions start with ``BEGIN IMMEDIATE`` on a single pooled
connection, so writers queue in-process instead of failing with "database is locked" when a read turns
into a write; reads run in WAL mode on their own connections. SQLite's statements run on the event
loop (``gateway.store.sqlite_sync``: microseconds each in WAL, no thread hop); waiting for another
process's lock, and work marked :func:`offloaded`, run on a thread. On MySQL/MariaDB every
write transaction runs at READ COMMITTED: conditional updates and ``SKIP LOCKED`` leases do the rest.

Plain reads (:meth:`Database.read`) run in autocommit -- no BEGIN, no ROLLBACK round trips -- since each
answers from what is committed; on SQLite they share one connection kept out of the pool, one read at
a time (:meth:`Database._held_reader`). A read that needs one consistent view of several tables asks for
:meth:`Database.snapshot`.
"""
from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from gateway.domain.errors import DatabaseUnavailable
from gateway.store import sqlite_sync
from gateway.store.sqlite_sync import offloaded

__all__ = ["Database", "DatabaseUnavailable", "conflicted", "offloaded", "unreachable"]

# MySQL/MariaDB client errors that mean "no server to talk to": cannot connect, gone away, lost the
# connection, server shutting down, connection killed, read-only during a failover.
_UNREACHABLE_CODES = frozenset({1053, 1927, 2002, 2003, 2006, 2013, 2055, 1290, 1836})
# Errors that mean "another transaction held what this one needed": a deadlock victim, a lock wait
# timeout, SQLite's busy writer. The transaction was rolled back whole -- nothing was decided, retry.
_CONFLICT_CODES = frozenset({1205, 1213})


# SQLite's writer checkpoints the WAL on a thread every this many commits (SQLite's own automatic
# checkpoint, at 1000 WAL pages, would flush the disk on the event loop); a write transaction of the
# gateway touches a few to a few dozen pages.
CHECKPOINT_EVERY = 100


def _sqlite_engine(url: str, writer: bool, busy_timeout: float) -> AsyncEngine:
    # Whatever driver the URL names (``sqlite+aiosqlite`` by default), SQLite runs through
    # gateway.store.sqlite_sync: statements on the event loop, lock waits (up to ``busy_timeout``
    # seconds) and known-long work (``offloaded``) on a thread.
    engine = create_async_engine(make_url(url).set(drivername=f"sqlite+{sqlite_sync.DRIVER}"),
                                 poolclass=AsyncAdaptedQueuePool,
                                 pool_size=1 if writer else 5, max_overflow=0, pool_timeout=60,
                                 pool_reset_on_return="rollback" if writer else None,
                                 connect_args={"timeout": busy_timeout,
                                               **({"checkpoint_every": CHECKPOINT_EVERY} if writer else {})})

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    if writer:
        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn) -> None:  # type: ignore[no-untyped-def]
            conn.connection.dbapi_connection.begin_immediate()  # on the driver: no statement machinery

    return engine


# MySQL/MariaDB: a connection that came back to the pool less than this many seconds ago is used without
# a ping; one idle for longer is pinged at checkout and, if the server has dropped it, replaced before the
# request sees it. (SQLAlchemy's pool_pre_ping pings at every checkout: a round trip per request while
# the connection was in use a millisecond ago.) A server that went away meanwhile fails the statement
# instead -- unreachable, 503, retry -- and SQLAlchemy then discards every connection older than it.
PING_IDLE_AFTER = 1.0


def _mysql_engine(url: str, **options: object) -> AsyncEngine:
    engine = create_async_engine(url, pool_size=10, max_overflow=10, pool_recycle=1800, **options)

    @event.listens_for(engine.sync_engine, "checkin")
    def _checkin(_dbapi_conn, record) -> None:  # type: ignore[no-untyped-def]
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_conn, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_IDLE_AFTER:
            return  # new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # the pool replaces it and checks out again
            raise sa_exc.DisconnectionError(f"idle connection dropped: {type(exc).__name__}") from exc

    return engine


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached (as opposed to a query it refused)."""
    if isinstance(exc, DatabaseUnavailable | sa_exc.TimeoutError):  # TimeoutError: the pool's wait
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated or isinstance(exc, sa_exc.InterfaceError):
            return True
        if isinstance(exc, sa_exc.OperationalError):
            args: tuple[object, ...] = tuple(getattr(exc.orig, "args", ()))
            return bool(args) and args[0] in _UNREACHABLE_CODES
    return isinstance(exc, ConnectionError)


def conflicted(exc: BaseException) -> bool:
    """Whether ``exc`` says the transaction lost a lock conflict (and was rolled back whole)."""
    if not isinstance(exc, sa_exc.OperationalError):
        return False
    args: tuple[object, ...] = tuple(getattr(exc.orig, "args", ()))
    return bool(args) and (args[0] in _CONFLICT_CODES or args[0] == "database is locked")


@asynccontextmanager
async def _reachable() -> AsyncIterator[None]:
    """Turn "the database is not there" or "a conflicting transaction won" into
    :class:`DatabaseUnavailable` (503, retry): in both, nothing was decided."""
    try:
        yield
    except DatabaseUnavailable:
        raise
    except Exception as exc:
        if unreachable(exc):
            raise DatabaseUnavailable(f"database unreachable: {type(exc).__name__}") from exc
        if conflicted(exc):
            raise DatabaseUnavailable("database busy: a conflicting change won; retry", retry_after=1) from exc
        raise


class Database:
    def __init__(self, url: str, *, busy_timeout: float = 30.0) -> None:
        """``busy_timeout``: SQLite only, how long a transaction waits for another process's writer
        before it is refused (``DatabaseUnavailable``, retry)."""
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self._writer = _sqlite_engine(url, writer=True, busy_timeout=busy_timeout)
            self._reader = _sqlite_engine(url, writer=False, busy_timeout=busy_timeout)
        else:
            # Every writer connection goes back to the pool with its transaction ended (``begin``'s
            # block commits or rolls back): no reset ROLLBACK round trip on its return.
            self._writer = _mysql_engine(url, isolation_level="READ COMMITTED", pool_reset_on_return=None)
            # Reads in autocommit: nothing to roll back when one ends (no ROLLBACK round trip on close).
            self._reader = _mysql_engine(url, isolation_level="AUTOCOMMIT", pool_reset_on_return=None,
                                         skip_autocommit_rollback=True)
        self._held: AsyncConnection | None = None  # SQLite: the loop's reader (see _held_reader)
        self._held_busy = False

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: committed on exit, rolled back on an exception. An unreachable database
        raises :class:`DatabaseUnavailable`."""
        async with _reachable(), self._connection(self._writer, transaction=True) as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        if self.is_sqlite and not self._held_busy:
            async with _reachable(), self._held_reader() as conn:
                yield conn
            return
        async with _reachable(), self._connection(self._reader) as conn:
            yield conn

    @asynccontextmanager
    async def _held_reader(self) -> AsyncIterator[AsyncConnection]:
        """SQLite: one reader connection kept out of the pool for the loop's reads. A read's statements
        run on the loop without a switch (:mod:`~gateway.store.sqlite_sync`), so this one connection
        serves nearly every read, and each read saves the pool's checkout and return (60-150 µs of
        SQLAlchemy's work, more than the read itself). A read that finds it in use (one waiting on a
        thread: a lock, :func:`offloaded` work) takes a pooled connection instead, so it is never
        shared; after an error it is closed and the next read takes a fresh one."""
        self._held_busy = True
        try:
            conn = self._held
            if conn is None or conn.closed or conn.invalidated:
                conn = self._held = await self._reader.connect()
            try:
                yield conn
                if conn.in_transaction():  # a statement that went through SQLAlchemy began one: end it
                    await conn.rollback()
            except BaseException:
                self._held = None
                await conn.close()
                raise
        finally:
            self._held_busy = False

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction that sees one consistent state of every table."""
        async with _reachable(), self._connection(self._reader) as conn:
            if self.is_sqlite:
                await conn.exec_driver_sql("BEGIN")  # WAL: the snapshot is taken at the first read
            else:
                conn = await conn.execution_options(isolation_level="REPEATABLE READ")
                await conn.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            try:
                yield conn
            finally:
                await conn.exec_driver_sql("ROLLBACK")

    @asynccontextmanager
    async def _connection(self, engine: AsyncEngine, *, transaction: bool = False) -> AsyncIterator[AsyncConnection]:
        """A pooled connection (in a transaction, committed on exit), given back to the pool before this
        returns. SQLAlchemy's own ``async with`` closes the connection in a task of its own (so that a
        cancellation cannot abandon the close half-way), which hands it back to the pool only on a later
        turn of the loop: with SQLite's statements on the loop, each request then held its connection a
        turn longer than its work, 32 requests found the 4 readers (or the one writer) taken, and the
        pool's waiters were overtaken by newer requests (seconds of p99). On SQLite the close runs on
        the loop in one step (a rollback offloaded to a thread is waited for, even when cancelled)."""
        if not self.is_sqlite:
            async with engine.connect() as conn:
                if transaction:
                    async with conn.begin():
                        yield conn
                else:
                    yield conn
            return
        conn = await engine.connect()
        try:
            if transaction:
                async with conn.begin():
                    yield conn
            else:
                yield conn
        finally:
            await conn.close()

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.execute(sa.text("SELECT 1"))

    def pool_use(self) -> dict[str, tuple[int, int]]:
        """Connections (in use, pool size) of the writer and reader pools, for the metrics."""
        out = {}
        for name, engine in (("writer", self._writer), ("reader", self._reader)):
            pool = engine.pool
            checked_out, size = getattr(pool, "checkedout", None), getattr(pool, "size", None)
            out[name] = (checked_out() if callable(checked_out) else 0, size() if callable(size) else 0)
        return out

    async def dispose(self) -> None:
        held, self._held = self._held, None
        if held is not None and not held.closed:
            await held.close()
        await self._writer.dispose()
        if self._reader is not self._writer:
            await self._reader.dispose()
