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
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from gateway.store.base import Row, all_rows, newest_first, one, utcnow
from gateway.store.db import Database
from gateway.store.tables import (
    ID,
    Money,
    UTCDateTime,
    channel_accounts,
    ledger_entries,
    ledger_postings,
    merchants,
    metadata,
)

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

# A bill's lines as matching reads them, and only that: the bill file is kept for the rest (times, the
# channel's numbers, fees -- the fees are summed while parsing). At a million lines a day every staged
# byte is written, indexed and read again.
recon_lines = sa.Table(
    "recon_lines", metadata,
    sa.Column("batch_id", ID, nullable=False),
    sa.Column("line_no", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # payment | refund
    sa.Column("key", sa.String(64), nullable=False),  # our attempt id (payment) or refund id (refund)
    sa.Column("trade_no", sa.String(64), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("ours", sa.Boolean, nullable=False),  # the trade number has our prefix
    sa.PrimaryKeyConstraint("batch_id", "line_no", name="pk_recon_lines"),
    # Also finds a line on a neighbouring day's bill (carry-over): one probe per batch of those days.
    sa.Index("ix_recon_lines_batch_kind_key", "batch_id", "kind", "key"),
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

PORTAL = "channel_portal"  # ``refunds.automatic`` of a refund made in the channel's merchant portal
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


async def finish(conn: AsyncConnection, batch_id: str, token: datetime, *, count_attempt: bool = False,
                 **values: Any) -> bool:
    """Release the batch we hold (lease ``token``) with ``values``; ``count_attempt`` adds one to its
    failed ``attempts``."""
    if count_attempt:
        values["attempts"] = recon_batches.c.attempts + 1
    result = await conn.execute(sa.update(recon_batches).where(
        recon_batches.c.id == batch_id, recon_batches.c.lease_until == token,
    ).values(lease_until=None, finished_at=utcnow(), updated_at=utcnow(), **values))
    return result.rowcount == 1


async def active_accounts(conn: AsyncConnection, *, channel: str | None = None,
                          account_id: str | None = None) -> list[Row]:
    """The active channel accounts (of ``channel``, or the one ``account_id``), by id."""
    stmt = sa.select(channel_accounts).where(channel_accounts.c.active == sa.true())
    if channel:
        stmt = stmt.where(channel_accounts.c.channel == channel)
    if account_id:
        stmt = stmt.where(channel_accounts.c.id == account_id)
    return await all_rows(conn, stmt.order_by(channel_accounts.c.id))


async def insert_batch(conn: AsyncConnection, batch_id: str, account: Row, day: date, now: datetime) -> None:
    """A pending batch for the account's day, due now. Raises ``IntegrityError`` if it exists."""
    await conn.execute(sa.insert(recon_batches), dict(
        id=batch_id, merchant_id=account["merchant_id"], account_id=account["id"],
        channel=account["channel"], bill_date=day, status="pending", next_attempt_at=now,
        created_at=now, updated_at=now))


async def accounts_with_batch(conn: AsyncConnection, day: date) -> set[str]:
    """The accounts that have a batch for ``day``."""
    return set((await conn.execute(sa.select(recon_batches.c.account_id)
                                   .where(recon_batches.c.bill_date == day))).scalars())


DUE_STATUSES = ("pending", "not_ready", "failed", "running")


async def due_batches(conn: AsyncConnection, now: datetime, limit: int) -> list[Row]:
    """(id, account_id, bill_date, attempts) of the batches of active accounts due at ``now`` with
    their lease free, the longest due first."""
    b, acct = recon_batches, channel_accounts
    return await all_rows(conn, sa.select(b.c.id, b.c.account_id, b.c.bill_date, b.c.attempts)
                          .select_from(b.join(acct, acct.c.id == b.c.account_id)).where(
        acct.c.active == sa.true(),
        # "running" with its lease run out: the process running it died; run it again.
        b.c.status.in_(list(DUE_STATUSES)), b.c.next_attempt_at <= now,
        sa.or_(b.c.lease_until.is_(None), b.c.lease_until < now))
        .order_by(b.c.next_attempt_at).limit(limit))


async def give_up(conn: AsyncConnection, batch_id: str, error_code: str, error_message: str) -> None:
    """Fail the batch for good (no next attempt), unless a process holds it."""
    b = recon_batches
    await conn.execute(sa.update(b).where(b.c.id == batch_id, b.c.lease_until.is_(None)).values(
        status="failed", error_code=error_code, error_message=error_message, next_attempt_at=None))


async def merchant_batches(conn: AsyncConnection, merchant_id: str, *, status: str | None = None,
                           day: date | None = None, after: tuple[datetime, str] | None = None,
                           limit: int) -> list[Row]:
    """A merchant's batches, newest first, from after the (created_at, id) cursor ``after``."""
    b = recon_batches
    stmt = sa.select(b).where(b.c.merchant_id == merchant_id)
    if status is not None:
        stmt = stmt.where(b.c.status == status)
    if day is not None:
        stmt = stmt.where(b.c.bill_date == day)
    return await all_rows(conn, newest_first(stmt, b, after, limit))


async def console_batches(conn: AsyncConnection, *, merchant_id: str | None = None, day: date | None = None,
                          account_id: str | None = None, status: str | None = None,
                          before: tuple[date | None, str] | None = None, limit: int) -> list[Row]:
    """Batches with their ``merchant_name``, newest bill day first, from before the (bill_date, id)
    cursor ``before``."""
    b = recon_batches
    stmt = (sa.select(b, merchants.c.name.label("merchant_name"))
            .select_from(b.join(merchants, merchants.c.id == b.c.merchant_id)))
    if merchant_id is not None:
        stmt = stmt.where(b.c.merchant_id == merchant_id)
    if day is not None:
        stmt = stmt.where(b.c.bill_date == day)
    if account_id is not None:
        stmt = stmt.where(b.c.account_id == account_id)
    if status:
        stmt = stmt.where(b.c.status == status)
    if before is not None:
        stmt = stmt.where(sa.tuple_(b.c.bill_date, b.c.id) < sa.tuple_(sa.literal(before[0]), sa.literal(before[1])))
    return await all_rows(conn, stmt.order_by(b.c.bill_date.desc(), b.c.id.desc()).limit(limit))


async def recount_open(conn: AsyncConnection, batch_id: str, now: datetime) -> None:
    """Set the batch's ``open_count`` from its open discrepancies."""
    D = recon_discrepancies
    open_count = sa.select(sa.func.count()).where(D.c.batch_id == batch_id, D.c.state == "open").scalar_subquery()
    await conn.execute(sa.update(recon_batches).where(recon_batches.c.id == batch_id).values(
        open_count=open_count, updated_at=now))


async def discrepancies_of(conn: AsyncConnection, batch_id: str) -> list[Row]:
    return await all_rows(conn, sa.select(recon_discrepancies)
                          .where(recon_discrepancies.c.batch_id == batch_id)
                          .order_by(recon_discrepancies.c.type, recon_discrepancies.c.key))


async def get_discrepancy(conn: AsyncConnection, discrepancy_id: str, merchant_id: str | None = None) -> Row | None:
    stmt = sa.select(recon_discrepancies).where(recon_discrepancies.c.id == discrepancy_id)
    if merchant_id is not None:
        stmt = stmt.where(recon_discrepancies.c.merchant_id == merchant_id)
    return await one(conn, stmt)


def fit(column: str, text: str | None) -> str | None:
    """Text cut to the discrepancies' ``column`` (``succeeded/partially_refunded`` is longer than a status
    column; MariaDB refuses what SQLite would keep)."""
    length = getattr(recon_discrepancies.c[column].type, "length", None)
    return text[:length] if text is not None and length else text


async def insert_discrepancy(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(sa.insert(recon_discrepancies), values)


async def update_discrepancy(conn: AsyncConnection, discrepancy_id: str, **values: Any) -> None:
    D = recon_discrepancies
    await conn.execute(sa.update(D).where(D.c.id == discrepancy_id).values(**values))


async def update_open_finding(conn: AsyncConnection, batch_id: str, type_: str, key: str, **values: Any) -> None:
    """Update the batch's (type, key) discrepancy if it is still open or carried."""
    D = recon_discrepancies
    await conn.execute(sa.update(D).where(D.c.batch_id == batch_id, D.c.type == type_, D.c.key == key,
                                          D.c.state.in_(OPEN_STATES)).values(**values))


async def resolve_discrepancy(conn: AsyncConnection, discrepancy_id: str, **values: Any) -> bool:
    """The conditional transition of a discrepancy from an open state; whether it applied."""
    D = recon_discrepancies
    result = await conn.execute(sa.update(D).where(D.c.id == discrepancy_id, D.c.state.in_(OPEN_STATES))
                                .values(**values))
    return result.rowcount == 1


async def carried_elsewhere(conn: AsyncConnection, account_id: str, batch_id: str) -> list[Row]:
    """The account's carried discrepancies of batches other than ``batch_id``."""
    D = recon_discrepancies
    return await all_rows(conn, sa.select(D).where(D.c.account_id == account_id, D.c.state == "carried",
                                                   D.c.batch_id != batch_id))


async def update_carried(conn: AsyncConnection, discrepancy_id: str, **values: Any) -> None:
    """Update the discrepancy if it is still carried."""
    D = recon_discrepancies
    await conn.execute(sa.update(D).where(D.c.id == discrepancy_id, D.c.state == "carried").values(**values))


async def fees_posted(conn: AsyncConnection, ref: str, account: str) -> tuple[int, int]:
    """(entries, fen): the ledger entries of a day's fees (ref ``ref`` or ``ref:<n>``) and what they
    posted to the fee ``account``."""
    entries = (await conn.execute(sa.select(ledger_entries.c.id).where(
        sa.or_(ledger_entries.c.ref == ref, ledger_entries.c.ref.like(ref + ":%"))))).scalars().all()
    posted = 0
    if entries:
        posted = int((await conn.execute(sa.select(sa.func.coalesce(sa.func.sum(ledger_postings.c.amount), 0)).where(
            ledger_postings.c.entry_id.in_(entries),
            ledger_postings.c.account == account))).scalar_one())
    return len(entries), posted


LINE_COLUMNS = ("batch_id", "line_no", "kind", "key", "trade_no", "amount", "status", "ours")


async def stage(conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert bill lines (tuples in :data:`LINE_COLUMNS` order) with the driver's own executemany: at a
    million lines, the Core's per-row parameter processing costs more than the database does."""
    if not rows:
        return
    dialect = conn.dialect
    names = ", ".join(dialect.identifier_preparer.quote(c) for c in LINE_COLUMNS)
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    await conn.exec_driver_sql(f"INSERT INTO recon_lines ({names}) VALUES ({', '.join([mark] * len(LINE_COLUMNS))})",
                               list(rows))


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def _tsv_line(row: tuple[Any, ...]) -> str:
    """A staged line (:data:`LINE_COLUMNS` order) as ``LOAD DATA`` reads it with ``ESCAPED BY '\\'``: a
    tab, newline or backslash in a bill's text cannot end a field or a line."""
    batch_id, line_no, kind, key, trade_no, amount, status, ours = row
    e = _TSV_ESCAPES
    return (f"{batch_id.translate(e)}\t{int(line_no)}\t{kind.translate(e)}\t{key.translate(e)}\t"
            f"{trade_no.translate(e)}\t{int(amount)}\t{status.translate(e)}\t{1 if ours else 0}\n")


def _tsv_plain(row: tuple[Any, ...]) -> str:
    batch_id, line_no, kind, key, trade_no, amount, status, ours = row
    return f"{batch_id}\t{line_no}\t{kind}\t{key}\t{trade_no}\t{amount}\t{status}\t{1 if ours else 0}\n"


def _tsv(rows: Sequence[tuple[Any, ...]]) -> str:
    """A chunk as TSV. Bills' text almost never holds a tab, newline or backslash: the chunk is written
    plainly and checked (tabs and newlines counted, no backslash, CR or NUL); only if the check fails is
    it written again escaped field by field (four times slower)."""
    text = "".join(map(_tsv_plain, rows))
    if (text.count("\t") == (len(LINE_COLUMNS) - 1) * len(rows) and text.count("\n") == len(rows)
            and "\\" not in text and "\r" not in text and "\0" not in text):
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
    # aiomysql whatever driver the gateway's URL names: asyncmy (0.2.18) breaks off LOAD DATA LOCAL INFILE
    # ("Packet sequence number wrong" after passing the file's name as bytes where it wants str).
    engine = create_async_engine(make_url(db.url).set(drivername="mysql+aiomysql"), poolclass=NullPool,
                                 isolation_level="READ COMMITTED", connect_args={"local_infile": True})
    try:
        async with engine.connect() as conn:
            yield Stager(db, folder, conn)
            # A million new lines: the optimizer's statistics are refreshed before the matching queries
            # plan their joins on them (InnoDB samples a few pages per index; milliseconds).
            await conn.exec_driver_sql("ANALYZE TABLE recon_lines")
    finally:
        await engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)


async def unstage(conn: AsyncConnection, batch_id: str) -> None:
    await conn.execute(sa.delete(recon_lines).where(recon_lines.c.batch_id == batch_id))
