"""SQLite's data path (issue 14, ``gateway.store.sqlite_sync``): statements run on the event loop's thread,
work marked ``offloaded`` and waits for another process's lock on a thread -- and the transaction rules
stay: BEGIN IMMEDIATE held for the whole write, everything rolled back on an exception, a writer of
another process waited for and, past the timeout, answered as ``DatabaseUnavailable`` (retry)."""
from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import nullcontext
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.errors import DatabaseUnavailable
from gateway.store.db import CHECKPOINT_EVERY, Database, offloaded

# A writer in another process: BEGIN IMMEDIATE, "held" on stdout, COMMIT when its stdin has a line.
_HOLDER = """
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
c.execute("INSERT INTO probe (v) VALUES (100)")
print("held", flush=True)
sys.stdin.readline()
c.execute("COMMIT")
"""


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'path.sqlite3'}", busy_timeout=0.5)
    async with database.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE probe (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)"))
    try:
        yield database
    finally:
        await database.dispose()


def _path(db: Database) -> str:
    return str(sa.make_url(db.url).database)


async def _values(db: Database) -> list[int]:
    async with db.read() as conn:
        return list((await conn.execute(sa.text("SELECT v FROM probe ORDER BY id"))).scalars())


async def _thread_of_statement(conn: AsyncConnection) -> int:
    """The thread a statement ran on, told by a SQL function of ours."""
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    raw.create_function("thread_id", 0, threading.get_ident)
    return int((await conn.execute(sa.text("SELECT thread_id()"))).scalar_one())


async def test_statements_run_on_the_loop_and_offloaded_work_on_a_thread(db: Database) -> None:
    loop_thread = threading.get_ident()
    async with db.begin() as conn:
        assert await _thread_of_statement(conn) == loop_thread
    async with db.read() as conn:
        assert await _thread_of_statement(conn) == loop_thread
    with offloaded():
        async with db.begin() as conn:
            assert await _thread_of_statement(conn) != loop_thread
            await conn.execute(sa.text("INSERT INTO probe (v) VALUES (1)"))
        async with db.snapshot() as conn:
            assert await _thread_of_statement(conn) != loop_thread
    assert await _values(db) == [1]


async def test_an_exception_rolls_the_whole_write_back_and_the_writer_is_free(db: Database) -> None:
    for mode in (False, True):
        with pytest.raises(RuntimeError):
            with offloaded() if mode else nullcontext():
                async with db.begin() as conn:
                    await conn.execute(sa.text("INSERT INTO probe (v) VALUES (1)"))
                    await conn.execute(sa.text("INSERT INTO probe (v) VALUES (2)"))
                    raise RuntimeError("after two inserts")
        assert await _values(db) == []
    with pytest.raises(sa.exc.IntegrityError):  # a refused statement: the transaction goes with it
        async with db.begin() as conn:
            await conn.execute(sa.text("INSERT INTO probe (v) VALUES (3)"))
            await conn.execute(sa.text("INSERT INTO probe (v) VALUES (NULL)"))
    async with db.begin() as conn:  # the single writer connection came back clean
        await conn.execute(sa.text("INSERT INTO probe (v) VALUES (4)"))
    assert await _values(db) == [4]


async def test_begin_immediate_holds_the_write_lock_for_the_whole_transaction(db: Database) -> None:
    other = sqlite3.connect(_path(db), isolation_level=None, timeout=0)
    try:
        async with db.begin() as conn:
            # before any statement of ours: BEGIN IMMEDIATE already took the write lock
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                other.execute("BEGIN IMMEDIATE")
            await conn.execute(sa.text("INSERT INTO probe (v) VALUES (1)"))
            assert other.execute("SELECT count(*) FROM probe").fetchone() == (0,)  # WAL: readers go on
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert await _values(db) == [1]


async def test_a_writer_in_another_process_is_waited_for_off_the_loop(db: Database) -> None:
    holder = await asyncio.create_subprocess_exec(sys.executable, "-c", _HOLDER, _path(db),
                                                  stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert (await asyncio.wait_for(holder.stdout.readline(), 30)).strip() == b"held"
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        started = time.monotonic()
        try:
            with pytest.raises(DatabaseUnavailable) as refused:  # past busy_timeout (0.5 s): retry later
                async with db.begin() as conn:
                    await conn.execute(sa.text("INSERT INTO probe (v) VALUES (1)"))
        finally:
            ticker.cancel()
        assert time.monotonic() - started >= 0.4  # it waited ...
        assert ticks >= 10  # ... and the loop went on meanwhile
        assert "busy" in str(refused.value) and refused.value.extra["retry_after"] == 1

        async def release_soon() -> None:
            await asyncio.sleep(0.1)
            holder.stdin.write(b"\n")  # type: ignore[union-attr]
            await holder.stdin.drain()  # type: ignore[union-attr]

        releasing = asyncio.create_task(release_soon())
        async with db.begin() as conn:  # waits for the other writer's commit, then writes after it
            await conn.execute(sa.text("INSERT INTO probe (v) VALUES (2)"))
        await releasing
        assert await asyncio.wait_for(holder.wait(), 10) == 0
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
    assert await _values(db) == [100, 2]


async def test_a_cancelled_offloaded_statement_is_interrupted_and_the_connection_reused(db: Database) -> None:
    endless = sa.text("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n")

    async def long_read() -> None:
        with offloaded():
            async with db.read() as conn:
                await conn.execute(endless)

    for _ in range(5):  # more than the reader pool's 4 connections: each came back usable
        task = asyncio.create_task(long_read())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
    async with db.begin() as conn:
        await conn.execute(sa.text("INSERT INTO probe (v) VALUES (1)"))
    assert await _values(db) == [1]


async def test_the_writer_checkpoints_the_wal_every_so_many_commits(tmp_path: Path) -> None:
    """In WAL mode the database file is written only by checkpoints: it stays as it is for
    CHECKPOINT_EVERY - 1 commits and has the rows soon after the CHECKPOINT_EVERY-th (run on a thread,
    over a connection of its own, while the writer goes on)."""
    path = tmp_path / "checkpoint.sqlite3"
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with db.begin() as conn:  # commit 1
            await conn.execute(sa.text("CREATE TABLE probe (id INTEGER PRIMARY KEY, v BLOB NOT NULL)"))
            assert (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar() == 0
        size = path.stat().st_size
        for _ in range(CHECKPOINT_EVERY - 2):
            async with db.begin() as conn:
                await conn.execute(sa.text("INSERT INTO probe (v) VALUES (zeroblob(8000))"))
        assert path.stat().st_size == size
        async with db.begin() as conn:
            await conn.execute(sa.text("INSERT INTO probe (v) VALUES (zeroblob(8000))"))
        async with db.begin() as conn:  # the writer is not held by the checkpoint
            await conn.execute(sa.text("INSERT INTO probe (v) VALUES (1)"))
        for _ in range(100):
            if path.stat().st_size > size + (CHECKPOINT_EVERY - 1) * 8000:
                break
            await asyncio.sleep(0.05)
        assert path.stat().st_size > size + (CHECKPOINT_EVERY - 1) * 8000
    finally:
        await db.dispose()


async def test_a_short_transaction_never_leaves_the_loop_nor_holds_its_connection_past_its_block(
        db: Database) -> None:
    """Statements on the loop and the connection handed back as the block ends: concurrent requests'
    reads and writes each run from checkout to check-in in one step, so no two hold connections at once
    and none waits for the pool (SQLAlchemy's ``async with`` would give it back a loop turn later). Plain
    reads all run on the one reader kept out of the pool; a snapshot takes one pooled reader more."""
    most = {"read": 0, "snapshot": 0, "writer": 0}
    held: set[int] = set()

    async def request(i: int) -> None:
        async with db.read() as conn:
            await conn.execute(sa.text("SELECT count(*) FROM probe"))
            held.add(id(conn))
            most["read"] = max(most["read"], db.pool_use()["reader"][0])
        async with db.begin() as conn:
            await conn.execute(sa.text("INSERT INTO probe (v) VALUES (:v)"), {"v": i})
            most["writer"] = max(most["writer"], db.pool_use()["writer"][0])
        async with db.snapshot() as conn:
            await conn.execute(sa.text("SELECT count(*) FROM probe"))
            most["snapshot"] = max(most["snapshot"], db.pool_use()["reader"][0])

    await asyncio.gather(*(request(i) for i in range(32)))
    assert most == {"read": 1, "snapshot": 2, "writer": 1}
    assert len(held) == 1
    assert await _values(db) == list(range(32))


async def test_the_kept_reader_serves_one_read_at_a_time_and_comes_back_clean(db: Database) -> None:
    """A read that holds its connection across an await keeps the loop's reader to itself: a read
    meanwhile takes a pooled one. A read through SQLAlchemy's execution leaves no transaction behind, and
    after an error the next read gets a fresh connection."""
    inside, done = asyncio.Event(), asyncio.Event()
    seen: dict[str, AsyncConnection] = {}

    async def holder() -> None:
        async with db.read() as conn:
            seen["holder"] = conn
            inside.set()
            await done.wait()
            assert (await conn.execute(sa.text("SELECT 1"))).scalar() == 1

    async def meanwhile() -> None:
        await inside.wait()
        async with db.read() as conn:
            seen["meanwhile"] = conn
            assert (await conn.execute(sa.text("SELECT 2"))).scalar() == 2
        done.set()

    await asyncio.gather(holder(), meanwhile())
    assert seen["holder"] is not seen["meanwhile"]

    async with db.read() as conn:
        assert conn is seen["holder"] and not conn.in_transaction()
        first = conn
    with pytest.raises(ZeroDivisionError):
        async with db.read() as conn:
            assert conn is first
            raise ZeroDivisionError
    async with db.read() as conn:
        assert conn is not first and (await conn.execute(sa.text("SELECT 3"))).scalar() == 3
