"""The database's own commit ceiling: the smallest write transaction there is -- one INSERT, COMMIT -- in
a loop. No gateway write can commit faster than this, so callback ingest is reported beside it.

Measured with the **bare driver** (issue 14): stdlib ``sqlite3`` with the pragmas of the gateway's SQLite
engine (``gateway.store.db``: WAL, ``synchronous=NORMAL``, ``busy_timeout``, ``foreign_keys``; the
writer's ``BEGIN IMMEDIATE``), and PyMySQL with autocommit off (INSERT, COMMIT per transaction). SQLite has
one writer, so one connection only; MariaDB on one and on ``n`` connections, each its own PyMySQL
connection in its own thread (the threads wait on the server, not the GIL: group commit lets several
share a flush).

:func:`engine_commits_per_second` does the same through the gateway's own driver and engine set-up
(SQLite: stdlib sqlite3 on the event loop through gateway.store.sqlite_sync; MariaDB: aiomysql; both under
SQLAlchemy), to show what the async stack costs per commit.
"""
from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from gateway.store.db import Database

TABLE = "bench_commit_ceiling"
# gateway.store.db's SQLite engine, connection by connection (keep in step with it)
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=30000",
                  "PRAGMA foreign_keys=ON")


def sqlite_connect(path: str | Path) -> sqlite3.Connection:
    """A stdlib connection set up as the gateway sets up its own: transactions are begun explicitly."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in SQLITE_PRAGMAS:
        conn.execute(pragma)
    return conn


def pymysql_params(url: str) -> dict[str, Any]:
    """PyMySQL's connect() arguments for a SQLAlchemy MySQL URL (any driver name)."""
    u = make_url(url)
    return {"host": u.host or "127.0.0.1", "port": u.port or 3306, "user": u.username or "root",
            "password": u.password or "", "database": u.database, "autocommit": False}


def sqlite_commits_per_second(path: str | Path, *, seconds: float = 3.0) -> float:
    """BEGIN IMMEDIATE, INSERT, COMMIT in a loop on one ``sqlite3`` connection."""
    conn = sqlite_connect(path)
    try:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, v INTEGER NOT NULL)")
        done = 0
        started = time.perf_counter()
        stop_at = started + seconds
        while time.perf_counter() < stop_at:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(f"INSERT INTO {TABLE} (v) VALUES (1)")
            conn.execute("COMMIT")
            done += 1
        elapsed = time.perf_counter() - started
        conn.execute(f"DROP TABLE {TABLE}")
        return done / elapsed
    finally:
        conn.close()


def mysql_commits_per_second(url: str, *, connections: int = 1, seconds: float = 3.0) -> float:
    """INSERT, COMMIT in a loop on ``connections`` PyMySQL connections, one thread each."""
    import pymysql

    params = pymysql_params(url)
    setup = pymysql.connect(**params)
    try:
        with setup.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
            cur.execute(f"CREATE TABLE {TABLE} (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL) "
                        "ENGINE=InnoDB")
        setup.commit()
        conns = [pymysql.connect(**params) for _ in range(connections)]
        counts = [0] * connections
        ready = threading.Barrier(connections + 1)
        window: list[float] = []

        def loop(i: int) -> None:
            conn = conns[i]
            cur = conn.cursor()
            ready.wait()
            stop_at = window[0] + seconds
            n = 0
            while time.perf_counter() < stop_at:
                cur.execute(f"INSERT INTO {TABLE} (v) VALUES (1)")
                conn.commit()
                n += 1
            counts[i] = n

        threads = [threading.Thread(target=loop, args=(i,)) for i in range(connections)]
        for t in threads:
            t.start()
        window.append(time.perf_counter())
        ready.wait()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - window[0]
        for conn in conns:
            conn.close()
        with setup.cursor() as cur:
            cur.execute(f"DROP TABLE {TABLE}")
        setup.commit()
        return sum(counts) / elapsed
    finally:
        setup.close()


_meta = sa.MetaData()
_table = sa.Table(TABLE, _meta, sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                  sa.Column("v", sa.Integer, nullable=False))


async def engine_commits_per_second(url: str, *, connections: int = 1, seconds: float = 3.0) -> float:
    """The same loop through the gateway's engine set-up (``gateway.store.db.Database.begin``)."""
    db = Database(url)
    try:
        async with db.begin() as conn:
            await conn.run_sync(lambda c: _table.drop(c, checkfirst=True))
            await conn.run_sync(lambda c: _table.create(c))
        stop_at = time.perf_counter() + seconds
        done = 0

        async def loop() -> None:
            nonlocal done
            while time.perf_counter() < stop_at:
                async with db.begin() as conn:
                    await conn.execute(_table.insert().values(v=1))
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(connections)))
        elapsed = time.perf_counter() - started
        async with db.begin() as conn:
            await conn.run_sync(lambda c: _table.drop(c, checkfirst=True))
        return done / elapsed
    finally:
        await db.dispose()
