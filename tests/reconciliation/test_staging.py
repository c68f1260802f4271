"""Staging bill lines: what a bill's text holds comes back exactly, whichever way the backend loads it
(MariaDB: a tab-separated file through LOAD DATA LOCAL INFILE)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from gateway.store import reconciliation as store
from gateway.store.reconciliation import LINE_COLUMNS, recon_lines
from tests.factories import Gateway

AWKWARD = ["tab\there", "new\nline", "back\\slash", "\\N", "quote'\"", "商户退款`", "cr\rlf\r\n", "nul\0", ""]


async def test_staged_text_round_trips(gw: Gateway) -> None:
    batch = "rcb_staging_round_trip"
    rows = [(batch, i + 1, "refund", text, f"att_{i}" + text, 100 + i, text[:16], bool(i % 2))
            for i, text in enumerate(AWKWARD)]
    async with store.stager(gw.svc.db) as stager:
        await stager.write(stager.prepare(rows[:4], 1))
        await stager.write(stager.prepare(rows[4:], 5))
        await stager.write(stager.prepare([], 10))
    async with gw.svc.db.read() as conn:
        got = (await conn.execute(sa.select(*[recon_lines.c[c] for c in LINE_COLUMNS])
                                  .where(recon_lines.c.batch_id == batch).order_by(recon_lines.c.line_no))).all()
    assert [tuple(g) for g in got] == rows
    async with gw.svc.db.begin() as conn:
        await store.unstage(conn, batch)


async def test_a_server_refusing_local_files_gets_inserts(gw: Gateway, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """MySQL 8 ships with ``local_infile=OFF``: staging still works (slower), with a warning."""
    if gw.svc.db.is_sqlite:
        pytest.skip("SQLite stages with executemany only")
    import pymysql  # type: ignore[import-untyped]

    async def refuse(conn: object, path: object) -> None:
        raise sa.exc.OperationalError("LOAD DATA", {}, pymysql.err.OperationalError(3948, "disabled"))

    monkeypatch.setattr(store.Stager, "_load", staticmethod(refuse))
    batch = "rcb_staging_refused"
    rows = [(batch, i, "payment", f"att_{i}", f"att_{i}", 100, "SUCCESS", True) for i in (1, 2, 3)]
    async with store.stager(gw.svc.db) as stager:
        first = stager.prepare(rows[:2], 1)
        assert first.path is not None
        await stager.write(first)
        later = stager.prepare(rows[2:], 3)
        assert later.path is None  # no more files once refused
        await stager.write(later)
    assert "LOAD DATA LOCAL INFILE" in caplog.text
    async with gw.svc.db.begin() as conn:
        got = (await conn.execute(sa.select(recon_lines.c.line_no).where(recon_lines.c.batch_id == batch)
                                  .order_by(recon_lines.c.line_no))).scalars().all()
        await store.unstage(conn, batch)
    assert got == [1, 2, 3]
