"""The database's own commit ceiling: the gateway's driver and engine set-up (``gateway.store.db``)
doing the smallest write transaction there is -- one INSERT, COMMIT -- in a loop, from one process.

No gateway write can commit faster than this, so callback ingest is reported beside it. SQLite has a
single writer (the gateway queues writers in-process), so it is measured on one connection only;
MariaDB on one and on ``n`` concurrent connections (group commit lets several share a flush).
"""
from __future__ import annotations

import asyncio
import time

import sqlalchemy as sa

from gateway.store.db import Database

_meta = sa.MetaData()
_table = sa.Table("bench_commit_ceiling", _meta, sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                  sa.Column("v", sa.Integer, nullable=False))


async def commits_per_second(url: str, *, connections: int = 1, seconds: float = 3.0) -> float:
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
