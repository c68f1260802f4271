"""Reconciliation tables (on the shared metadata) and their queries.

* ``recon_batches`` -- one per (channel account, bill day): the unit of idempotency. A re-run reuses the
  row; ``lease_until`` keeps two processes off the same batch, ``next_attempt_at`` schedules the daily
  loop's retries (bill not ready, a failure).
* ``recon_lines`` -- the bill's lines, staged: replaced wholesale on a re-run. Matching is set-wise SQL
  over them (never a map of the bill in memory).
* ``recon_discrepancies`` -- never deleted; one per (batch, type, key), updated in place by re-runs, so
  re-running a day finds the same discrepancies and keeps their resolution.

Amounts are integer fen; fees integer units of 1/1000 fen (0.00001 yuan, the finest a channel bills).
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from gateway.store.base import Row, all_rows, one, utcnow
from gateway.store.db import Database
from gateway.store.tables import ID, Money, UTCDateTime, metadata

log = logging.getLogger(__name__)


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


recon_batches = sa.Table(
    "recon_batches", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, nullable=False),
    sa.Column("account_id", ID, sa.ForeignKey("channel_accounts.id"), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("bill_date", sa.Date, nullable=False),
    # pending | running | done | no_bill | not_ready | failed
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("runs", sa.Integer, nullable=False, server_default="0"),
    _ts("next_attempt_at", True), _ts("lease_until", True),
    sa.Column("error_code", sa.String(64)),
    sa.Column("error_message", sa.String(512)),
    sa.Column("source", sa.String(16)),  # api | file
    sa.Column("file_path", sa.String(1024)),
    sa.Column("file_sha256", sa.String(64)),
    sa.Column("file_bytes", sa.BigInteger),
    sa.Column("channel_hash", sa.String(128)),
    sa.Column("bill_pay_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("bill_pay_amount", Money, nullable=False, server_default="0"),
    sa.Column("bill_refund_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("bill_refund_amount", Money, nullable=False, server_default="0"),
    sa.Column("bill_fee", sa.BigInteger, nullable=False, server_default="0"),  # 1/1000 fen
    sa.Column("foreign_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("local_pay_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("local_pay_amount", Money, nullable=False, server_default="0"),
    sa.Column("local_refund_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("local_refund_amount", Money, nullable=False, server_default="0"),
    sa.Column("matched", sa.Integer, nullable=False, server_default="0"),
    sa.Column("open_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("auto_resolved", sa.Integer, nullable=False, server_default="0"),
    sa.Column("fee_posted", Money, nullable=False, server_default="0"),  # fen posted to the ledger
    _ts("started_at", True), _ts("finished_at", True), _ts("created_at"), _ts("updated_at"),
    sa.UniqueConstraint("account_id", "bill_date", name="uq_recon_batches_account_day"),
    sa.Index("ix_recon_batches_due", "status", "next_attempt_at"),
    sa.Index("ix_recon_batches_merchant", "merchant_id", "bill_date"),
)

recon_lines = sa.Table(
    "recon_lines", metadata,
    sa.Column("batch_id", ID, nullable=False),
    sa.Column("line_no", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # payment | refund
    sa.Column("key", sa.String(64), nullable=False),  # our attempt id (payment) or refund id (refund)
    sa.Column("trade_no", sa.String(64), nullable=False),
    sa.Column("channel_no", sa.String(64), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("fee", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    _ts("occurred_at", True),
    sa.Column("ours", sa.Boolean, nullable=False),  # the trade number has our prefix
    sa.PrimaryKeyConstraint("batch_id", "line_no", name="pk_recon_lines"),
    sa.Index("ix_recon_lines_batch_kind_key", "batch_id", "kind", "key"),
    sa.Index("ix_recon_lines_kind_key", "kind", "key"),  # finds a line on another day (carry-over)
)

recon_discrepancies = sa.Table(
    "recon_discrepancies", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("batch_id", ID, sa.ForeignKey("recon_batches.id"), nullable=False),
    sa.Column("merchant_id", ID, nullable=False),
    sa.Column("account_id", ID, nullable=False),
    sa.Column("bill_date", sa.Date, nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("severity", sa.String(8), nullable=False),  # info | warn | high
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("payment_id", ID),
    sa.Column("attempt_id", ID),
    sa.Column("refund_id", ID),
    sa.Column("local_amount", Money),
    sa.Column("channel_amount", Money),
    sa.Column("local_status", sa.String(24)),
    sa.Column("channel_status", sa.String(24)),
    # open | carried | auto_resolved | resolved | ignored
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("action", sa.String(128)),
    sa.Column("note", sa.String(512)),
    sa.Column("expected_until", sa.Date),
    sa.Column("resolved_by", sa.String(64)),
    _ts("resolved_at", True), _ts("created_at"), _ts("updated_at"),
    sa.UniqueConstraint("batch_id", "type", "key", name="uq_recon_discrepancies_batch_type_key"),
    sa.Index("ix_recon_discrepancies_state", "account_id", "state"),
    sa.Index("ix_recon_discrepancies_merchant", "merchant_id", "bill_date"),
)

FEE_KIND = "channel_fee"  # ledger entry kind of a bill day's fees


def fee_ref(account_id: str, day: str) -> str:
    return f"fees:{account_id}:{day}"


def fee_account(account_id: str) -> str:
    return f"fees:{account_id}"


OPEN_STATES = ("open", "carried")
FINAL_STATES = ("resolved", "ignored")


async def get_batch(conn: AsyncConnection, batch_id: str, merchant_id: str | None = None) -> Row | None:
    stmt = sa.select(recon_batches).where(recon_batches.c.id == batch_id)
    if merchant_id is not None:
        stmt = stmt.where(recon_batches.c.merchant_id == merchant_id)
    return await one(conn, stmt)


async def batch_for(conn: AsyncConnection, account_id: str, day: date) -> Row | None:
    return await one(conn, sa.select(recon_batches).where(recon_batches.c.account_id == account_id,
                                                          recon_batches.c.bill_date == day))


async def take_lease(conn: AsyncConnection, batch_id: str, until: datetime, now: datetime) -> bool:
    """Hold the batch (``lease_until`` = our token) unless another process holds it."""
    result = await conn.execute(sa.update(recon_batches).where(
        recon_batches.c.id == batch_id,
        sa.or_(recon_batches.c.lease_until.is_(None), recon_batches.c.lease_until < now),
    ).values(lease_until=until, status="running", started_at=now, updated_at=now,
             runs=recon_batches.c.runs + 1))
    return result.rowcount == 1


async def finish(conn: AsyncConnection, batch_id: str, token: datetime, **values: Any) -> bool:
    result = await conn.execute(sa.update(recon_batches).where(
        recon_batches.c.id == batch_id, recon_batches.c.lease_until == token,
    ).values(lease_until=None, finished_at=utcnow(), updated_at=utcnow(), **values))
    return result.rowcount == 1


async def discrepancies_of(conn: AsyncConnection, batch_id: str) -> list[Row]:
    return await all_rows(conn, sa.select(recon_discrepancies)
                          .where(recon_discrepancies.c.batch_id == batch_id)
                          .order_by(recon_discrepancies.c.type, recon_discrepancies.c.key))


LINE_COLUMNS = ("batch_id", "line_no", "kind", "key", "trade_no", "channel_no", "amount", "fee", "status",
                "occurred_at", "ours")


async def stage(conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert bill lines (tuples in :data:`LINE_COLUMNS` order, ``occurred_at`` naive UTC) with the
    driver's own executemany: at a million lines, the Core's per-row parameter processing costs more
    than the database does."""
    if not rows:
        return
    dialect = conn.dialect
    names = ", ".join(dialect.identifier_preparer.quote(c) for c in LINE_COLUMNS)
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    if dialect.name == "sqlite":  # how UTCDateTime keeps it there: text with microseconds
        i = LINE_COLUMNS.index("occurred_at")
        rows = [(*r[:i], r[i].strftime("%Y-%m-%d %H:%M:%S.%f") if r[i] else None, *r[i + 1:]) for r in rows]
    await conn.exec_driver_sql(f"INSERT INTO recon_lines ({names}) VALUES ({', '.join([mark] * len(LINE_COLUMNS))})",
                               list(rows))


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


_TSV_NULL = "\\N"


def _tsv_line(row: tuple[Any, ...]) -> str:
    """A staged line (:data:`LINE_COLUMNS` order) as ``LOAD DATA`` reads it with ``ESCAPED BY '\\'``:
    ``\\N`` is NULL, and a tab, newline or backslash in a bill's text cannot end a field or a line.
    Written out column by column: at a million lines a generic per-value function costs seconds."""
    batch_id, line_no, kind, key, trade_no, channel_no, amount, fee, status, at, ours = row
    e = _TSV_ESCAPES
    when = at.isoformat(" ") if at is not None else _TSV_NULL
    return (f"{batch_id.translate(e)}\t{int(line_no)}\t{kind.translate(e)}\t{key.translate(e)}\t"
            f"{trade_no.translate(e)}\t{channel_no.translate(e)}\t{int(amount)}\t{int(fee)}\t"
            f"{status.translate(e)}\t{when}\t{1 if ours else 0}\n")


def _tsv_plain(row: tuple[Any, ...]) -> str:
    batch_id, line_no, kind, key, trade_no, channel_no, amount, fee, status, at, ours = row
    when = _TSV_NULL if at is None else at
    return f"{batch_id}\t{line_no}\t{kind}\t{key}\t{trade_no}\t{channel_no}\t{amount}\t{fee}\t{status}\t{when}\t{1 if ours else 0}\n"


def _tsv(rows: Sequence[tuple[Any, ...]]) -> str:
    """A chunk as TSV. Bills' text almost never holds a tab, newline or backslash: the chunk is written
    plainly and checked in one pass (fields, lines and backslashes counted); only if the check fails is
    it written again escaped field by field (four times slower)."""
    text = "".join(map(_tsv_plain, rows))
    nulls = sum(1 for row in rows if row[9] is None)
    if (text.count("\t") == 10 * len(rows) and text.count("\n") == len(rows) and text.count("\\") == nulls
            and "\r" not in text and "\0" not in text):
        return text
    return "".join(map(_tsv_line, rows))


LOCAL_INFILE_REFUSED = {1148, 2068, 3948}  # not allowed by this server / rejected / disabled (MySQL 8's default)


@dataclass(frozen=True)
class Chunk:
    rows: Sequence[tuple[Any, ...]]
    path: Path | None = None  # the rows as a TSV file to load, when the backend loads files


class Stager:
    """Stages chunks of bill lines, the fastest way the backend has.

    :meth:`prepare` runs in the parsing thread, :meth:`write` on the event loop. On SQLite a chunk is
    one ``executemany`` (:func:`stage`). On MySQL/MariaDB the chunk is written as a tab-separated file
    and sent with ``LOAD DATA LOCAL INFILE``: the server reads it without parsing a million-value
    statement, and the driver escapes nothing -- staging a 1,000,000-line bill that way takes a fraction
    of the multi-row INSERTs' time. It runs on a connection of its own, the only one opened with
    ``local_infile`` (a client that allows it sends the file the server names, so no other connection
    of the gateway does). A server that refuses local files (``local_infile=OFF``, MySQL 8's default)
    gets the multi-row INSERTs instead, with a warning."""

    def __init__(self, db: Database, folder: Path | None, conn: AsyncConnection | None = None) -> None:
        self.db, self.folder, self._conn = db, folder, conn

    def prepare(self, rows: Sequence[tuple[Any, ...]], n: int) -> Chunk:
        """Chunk ``n`` (rows in :data:`LINE_COLUMNS` order) in the form :meth:`write` takes."""
        if self.folder is None or not rows:
            return Chunk(rows)
        path = self.folder / f"chunk-{n}.tsv"
        path.write_text(_tsv(rows), encoding="utf-8", newline="")
        return Chunk(rows, path)

    async def write(self, chunk: Chunk) -> None:
        if chunk.path is not None and self._conn is not None and self.folder is not None:
            try:
                await self._load(self._conn, chunk.path)
                return
            except sa.exc.DBAPIError as exc:
                code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
                if code not in LOCAL_INFILE_REFUSED:
                    raise
                log.warning("the database refuses LOAD DATA LOCAL INFILE (%s): staging with INSERTs, slower; "
                            "allow it with local_infile=ON on the server", code)
                self.folder = None
            finally:
                chunk.path.unlink(missing_ok=True)
        if chunk.rows:
            async with self.db.begin() as conn:
                await stage(conn, chunk.rows)

    @staticmethod
    async def _load(conn: AsyncConnection, path: Path) -> None:
        names = ", ".join(f"`{c}`" for c in LINE_COLUMNS)
        async with conn.begin():
            await conn.exec_driver_sql(
                "LOAD DATA LOCAL INFILE %s INTO TABLE recon_lines CHARACTER SET utf8mb4 "
                "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
                f"({names})", (str(path),))


@asynccontextmanager
async def stager(db: Database) -> AsyncIterator[Stager]:
    """A :class:`Stager` for one bill (its files and connection, if any, released on exit)."""
    if db.is_sqlite:
        yield Stager(db, None)
        return
    folder = Path(tempfile.mkdtemp(prefix="recon-stage-"))
    engine = create_async_engine(db.url, poolclass=NullPool, isolation_level="READ COMMITTED",
                                 connect_args={"local_infile": True})
    try:
        async with engine.connect() as conn:
            yield Stager(db, folder, conn)
    finally:
        await engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)


async def unstage(conn: AsyncConnection, batch_id: str) -> None:
    await conn.execute(sa.delete(recon_lines).where(recon_lines.c.batch_id == batch_id))
