"""MariaDB connections as the pool hands them out: a connection back from a request a moment ago is used
as it is (no ping round trip per request), one that sat idle is pinged first and replaced if the server
dropped it, and neither a read in autocommit nor a committed write sends a ROLLBACK when it ends -- while
a write that fails is still rolled back."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.errors import DatabaseUnavailable
from gateway.store import db as db_module
from gateway.store.db import Database
from tests.conftest import MYSQL_URL

pytestmark = pytest.mark.skipif(not MYSQL_URL, reason="the pool's pings and resets are MariaDB's")


@pytest.fixture(params=["aiomysql", "asyncmy"])
def url(mysql_schema: str, request: pytest.FixtureRequest) -> str:
    """The test database over each async driver the gateway runs on."""
    return make_url(mysql_schema).set(drivername=f"mysql+{request.param}").render_as_string(hide_password=False)


async def _session(db: Database) -> tuple[int, int]:
    """The reader connection's id, and how many ROLLBACKs that connection has been sent."""
    async with db.read() as conn:
        conn_id = (await conn.execute(sa.text("SELECT CONNECTION_ID()"))).scalar_one()
        status = (await conn.execute(sa.text("SHOW SESSION STATUS LIKE 'Com_rollback'"))).one()
    return int(conn_id), int(status[1])


async def _kill(url: str, conn_id: int) -> None:
    other = Database(url)
    try:
        async with other.read() as conn:
            await conn.execute(sa.text(f"KILL {conn_id:d}"))
    finally:
        await other.dispose()


async def test_an_idle_connection_the_server_dropped_is_replaced_before_a_request_sees_it(
        url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(url)
    try:
        first, _ = await _session(db)
        await _kill(url, first)
        monkeypatch.setattr(db_module, "PING_IDLE_AFTER", 0.0)  # every connection back in the pool is "idle"
        second, _ = await _session(db)  # no error: the checkout's ping found it gone
        assert second != first
    finally:
        await db.dispose()


async def test_a_connection_in_use_a_moment_ago_is_not_pinged(url: str) -> None:
    db = Database(url)
    try:
        first, _ = await _session(db)
        await _kill(url, first)
        with pytest.raises(DatabaseUnavailable):  # used as it is: the statement finds it gone (503, retry)
            await _session(db)
        second, _ = await _session(db)  # and the pool has let it go
        assert second != first
    finally:
        await db.dispose()


async def test_a_read_ends_without_a_rollback(url: str) -> None:
    db = Database(url)
    try:
        first, rollbacks = await _session(db)
        for _ in range(3):
            again, now = await _session(db)
            assert again == first  # the same pooled connection each time
            assert now == rollbacks, "a read's end sent the server a ROLLBACK"
    finally:
        await db.dispose()


async def test_a_committed_write_ends_without_a_rollback_and_a_failed_one_is_rolled_back(url: str) -> None:
    db = Database(url)

    async def session(conn: AsyncConnection) -> tuple[int, int]:
        conn_id = (await conn.execute(sa.text("SELECT CONNECTION_ID()"))).scalar_one()
        status = (await conn.execute(sa.text("SHOW SESSION STATUS LIKE 'Com_rollback'"))).one()
        return int(conn_id), int(status[1])

    try:
        async with db.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE IF NOT EXISTS write_probe (id INT PRIMARY KEY)"))
            await conn.execute(sa.text("DELETE FROM write_probe"))
            first, rollbacks = await session(conn)
        async with db.begin() as conn:
            assert await session(conn) == (first, rollbacks)  # the same connection, no ROLLBACK since
        with pytest.raises(RuntimeError):
            async with db.begin() as conn:
                await conn.execute(sa.text("INSERT INTO write_probe VALUES (1)"))
                raise RuntimeError("the request failed")
        async with db.begin() as conn:
            again, now = await session(conn)
            assert (again, now) == (first, rollbacks + 1)
            assert (await conn.execute(sa.text("SELECT count(*) FROM write_probe"))).scalar_one() == 0
    finally:
        await db.dispose()
