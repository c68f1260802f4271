"""Two transactions that each hold what the other needs: MariaDB rolls one back (a deadlock). Nothing was
decided in it, so the gateway answers it as it answers an outage -- ``DatabaseUnavailable`` (503 with
Retry-After on the API, a back-off in the loops) -- never a 500."""
from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from gateway.domain.errors import DatabaseUnavailable
from gateway.store.db import Database
from tests.conftest import MYSQL_URL

pytestmark = pytest.mark.skipif(not MYSQL_URL, reason="deadlocks are MariaDB's (SQLite has one writer)")


async def test_a_deadlock_victim_is_told_to_retry_and_the_winner_commits(mysql_schema: str) -> None:
    db = Database(mysql_schema)
    try:
        async with db.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE IF NOT EXISTS lock_probe (id INT PRIMARY KEY, v INT)"))
            await conn.execute(sa.text("DELETE FROM lock_probe"))
            await conn.execute(sa.text("INSERT INTO lock_probe VALUES (1, 0), (2, 0)"))
        both_hold = asyncio.Barrier(2)

        async def crosswise(first: int, second: int) -> None:
            async with db.begin() as conn:
                await conn.execute(sa.text("UPDATE lock_probe SET v = v + 1 WHERE id = :i"), {"i": first})
                await both_hold.wait()
                await conn.execute(sa.text("UPDATE lock_probe SET v = v + 10 WHERE id = :i"), {"i": second})

        outcomes = await asyncio.gather(crosswise(1, 2), crosswise(2, 1), return_exceptions=True)
        lost = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(lost) == 1 and isinstance(lost[0], DatabaseUnavailable), outcomes
        assert "busy" in str(lost[0]) and lost[0].extra["retry_after"] == 1
        async with db.read() as conn:  # the victim's first update was rolled back with it; the winner's both kept
            rows = sorted((await conn.execute(sa.text("SELECT v FROM lock_probe"))).scalars())
        assert rows == [1, 10]
    finally:
        async with db.begin() as conn:
            await conn.execute(sa.text("DROP TABLE IF EXISTS lock_probe"))
        await db.dispose()
