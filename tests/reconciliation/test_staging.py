"""Staging bill lines: what a bill's text holds comes back exactly, whichever way the backend loads it
(MariaDB: a tab-separated file through LOAD DATA LOCAL INFILE)."""
from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from gateway.store import reconciliation as store
from gateway.store.reconciliation import LINE_COLUMNS, recon_lines
from tests.factories import Gateway

AWKWARD = ["tab\there", "new\nline", "back\\slash", "\\N", "quote'\"", "商户退款`", "cr\rlf\r\n", "nul\0", ""]


async def test_staged_text_round_trips(gw: Gateway) -> None:
    batch = "rcb_staging_round_trip"
    at = datetime(2026, 11, 29, 23, 59, 59, 123456)
    rows = [(batch, i + 1, "refund", text, f"att_{i}", text, 100 + i, -i, text[:16], at if i % 2 else None,
             bool(i % 2)) for i, text in enumerate(AWKWARD)]
    async with store.stager(gw.svc.db) as stager:
        await stager.write(stager.prepare(rows[:4], 1))
        await stager.write(stager.prepare(rows[4:], 5))
        await stager.write(stager.prepare([], 10))
    async with gw.svc.db.read() as conn:
        got = (await conn.execute(sa.select(*[recon_lines.c[c] for c in LINE_COLUMNS])
                                  .where(recon_lines.c.batch_id == batch).order_by(recon_lines.c.line_no))).all()
    expected = [(*r[:9], r[9].replace(tzinfo=UTC) if r[9] else None, r[10]) for r in rows]
    assert [tuple(g) for g in got] == expected
    async with gw.svc.db.begin() as conn:
        await store.unstage(conn, batch)
