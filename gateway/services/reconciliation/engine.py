"""One reconciliation run of one channel account's bill day, phase by phase.

lease the batch → fetch the bill to a file (or take the stored one, or an uploaded one) → parse it line
by line into ``recon_lines`` (10,000 lines a chunk) while summing and counting → refuse the whole bill if its sums
disagree with its own summary → match in SQL → record discrepancies → remedy them through
:mod:`.remedy` → post the day's fees → release the batch with its totals.

Discrepancies are written (open) before any remedy and updated after each, so a crash between the
steps leaves nothing half-told: the next run finds the state the remedy left and records the same
discrepancies again (remedies are idempotent in the settlement itself).
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import operator
import shutil
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError

from gateway.channels.base import BillFile, BillLine, BillTotals, BillUnavailable
from gateway.domain.ids import new_id
from gateway.services.context import Services
from gateway.services.reconciliation import match, remedy
from gateway.services.reconciliation.days import is_over, today
from gateway.services.reconciliation.match import ATTEMPT_PREFIX, Finding
from gateway.store import reconciliation as store
from gateway.store import reconciliation_match as match_queries
from gateway.store.base import Row, utcnow
from gateway.store.db import offloaded

log = logging.getLogger(__name__)

CHUNK = 10_000
RETRY = timedelta(minutes=30)
DOWNLOAD_FAILURES = frozenset({"hash_mismatch", "malformed", "network", "unknown"})
Progress = Callable[..., None]
T = TypeVar("T")


@dataclass
class Options:
    file: Path | None = None      # a bill file to use instead of asking the channel
    rerun: bool = False           # run a day that already finished
    refetch: bool = False         # on a re-run, download again instead of using the stored file
    dry_run: bool = False         # match and report; no remedy, no fee posting
    progress: Progress = field(default=lambda *a, **k: None)


class Failed(Exception):
    def __init__(self, code: str, message: str = "", *, not_ready: bool = False) -> None:
        super().__init__(message or code)
        self.code, self.message, self.not_ready = code, message or code, not_ready


async def accounts(svc: Services, *, channel: str | None = None, account_id: str | None = None) -> list[Row]:
    async with svc.db.read() as conn:
        rows = await store.active_accounts(conn, channel=channel, account_id=account_id)
    # In-process channels (stored value) have no bill: their books are ours, held by check-ledger.
    return [r for r in rows if not svc.registry.channel(r["channel"]).in_process]


async def ensure_batch(svc: Services, account: Row, day: date) -> Row:
    async with svc.db.read() as conn:
        batch = await store.batch_for(conn, account["id"], day)
    if batch is not None:
        return batch
    now = utcnow()
    try:
        async with svc.db.begin() as conn:
            await store.insert_batch(conn, new_id("rcb"), account, day, now)
    except IntegrityError:
        pass  # created meanwhile by another process
    async with svc.db.read() as conn:
        batch = await store.batch_for(conn, account["id"], day)
    assert batch is not None
    return batch


async def run(svc: Services, account: Row, day: date, opts: Options) -> dict[str, Any]:
    """Reconcile one account's day; returns the batch report (see :func:`report`)."""
    with offloaded():  # SQLite: staging and matching a million lines run on a thread, not on the loop
        return await _run(svc, account, day, opts)


async def _run(svc: Services, account: Row, day: date, opts: Options) -> dict[str, Any]:
    batch = await ensure_batch(svc, account, day)
    if batch["status"] in ("done", "no_bill") and not (opts.rerun or opts.file):
        return await report(svc, batch["id"])
    now = utcnow()
    token = now + timedelta(seconds=max(svc.settings.task_lease, 600))
    async with svc.db.begin() as conn:
        if not await store.take_lease(conn, batch["id"], token, now):
            return {**await report(svc, batch["id"]), "status": "busy",
                    "error_code": "busy", "error_message": "another process is reconciling this day"}
    try:
        values = await _phases(svc, account, batch, day, opts)
    except Failed as exc:
        async with svc.db.begin() as conn:
            await store.unstage(conn, batch["id"])  # nothing stays from a broken parse
            await store.finish(conn, batch["id"], token, status="not_ready" if exc.not_ready else "failed",
                               error_code=exc.code[:64], error_message=exc.message[:512],
                               count_attempt=True, next_attempt_at=utcnow() + RETRY)
        log.warning("reconciliation %s %s: %s %s", account["id"], day, exc.code, exc.message)
    except BaseException as exc:
        async with svc.db.begin() as conn:
            await store.finish(conn, batch["id"], token, status="failed", error_code="crashed",
                               error_message=repr(exc)[:512], count_attempt=True,
                               next_attempt_at=utcnow() + RETRY)
        raise
    else:
        async with svc.db.begin() as conn:
            await store.finish(conn, batch["id"], token, error_code=None, error_message=None,
                               next_attempt_at=None, **values)
    return await report(svc, batch["id"])


async def _phases(svc: Services, account: Row, batch: Row, day: date, opts: Options) -> dict[str, Any]:
    values: dict[str, Any] = {}
    bill = await _obtain(svc, account, batch, day, opts)
    if bill is None and not is_over(day):  # "no bill" for a day not over yet says nothing
        raise Failed("bill_not_ready", f"{day} is not over in Asia/Shanghai", not_ready=True)
    if bill is not None:
        values.update(source="file" if opts.file else "api", file_path=str(bill.path), file_sha256=bill.sha256,
                      file_bytes=bill.size, channel_hash=bill.channel_hash)
    staged = await _stage(svc, account, batch["id"], bill, opts.progress)
    parsed = staged.totals
    values.update(bill_pay_count=parsed.pay_count, bill_pay_amount=parsed.pay_amount,
                  bill_refund_count=parsed.refund_count, bill_refund_amount=parsed.refund_amount,
                  bill_fee=parsed.fee)

    opts.progress("matching")
    now_day = today()
    # The matching queries are independent reads: each on its own connection, at once (the server
    # works on them in parallel; at a million lines each is seconds of index probes).
    dups, disagreeing, refunds, missing = await asyncio.gather(
        _read(svc, match.duplicates, batch["id"]),
        _read(svc, match.payments_disagreeing, batch["id"], account["id"]),
        _read(svc, match.refunds_disagreeing, batch["id"], account["id"]),
        _read(svc, match.local_missing, batch["id"], account["id"], day, now_day))
    findings = [*dups, *disagreeing, *refunds, *missing]
    await _record(svc, account, batch, day, findings)
    if not opts.dry_run:
        opts.progress("remediating", rows=len([f for f in findings if f.remedy]))
        for f in findings:
            if f.remedy and f.state in ("open", "carried"):
                await _remedy(svc, account, batch, day, f, now_day)
        await _recheck_carried(svc, account, batch["id"], now_day)
        if parsed.fee or batch["fee_posted"]:
            async with svc.db.begin() as conn:
                values["fee_posted"] = await remedy.post_fees(conn, account, day.isoformat(),
                                                              remedy.fee_fen(parsed.fee))
    values.update(await _read(svc, match.local_totals, account["id"], day))
    lines = staged.lines
    async with svc.db.read() as conn:
        values["matched"] = await match_queries.matched_count(conn, batch["id"], account["id"],
                                                      {f.key for f in disagreeing}, lines.get(("payment", True), 0))
        rows = await store.discrepancies_of(conn, batch["id"])
    values["foreign_count"] = sum(n for (_, ours), n in lines.items() if not ours)
    values["open_count"] = sum(1 for r in rows if r["state"] == "open")
    values["auto_resolved"] = sum(1 for r in rows if r["state"] == "auto_resolved")
    values["status"] = "done" if bill is not None else "no_bill"
    return values


async def _read(svc: Services, query: Callable[..., Awaitable[T]], *args: Any) -> T:
    async with svc.db.read() as conn:
        return await query(conn, *args)


# -- bill file --------------------------------------------------------------------------------------

def _bill_dir(svc: Services, account: Row) -> Path:
    return svc.settings.data_dir / "bills" / account["channel"] / account["id"]


async def _obtain(svc: Services, account: Row, batch: Row, day: date, opts: Options) -> BillFile | None:
    if opts.file:
        return await asyncio.to_thread(_adopt, opts.file, _bill_dir(svc, account) / f"{day}.upload")
    stored = Path(batch["file_path"]) if batch["file_path"] else None
    if batch["status"] == "no_bill" and opts.rerun and not opts.refetch:
        return None
    if stored is not None and not opts.refetch and stored.exists():
        # A re-run does not depend on the channel: the file kept from the first run, if unchanged.
        sha = await asyncio.to_thread(_sha256, stored)
        if sha != batch["file_sha256"]:
            raise Failed("stored_file_changed", f"{stored} no longer has sha256 {batch['file_sha256']}")
        return BillFile(stored, sha, stored.stat().st_size, batch["channel_hash"])
    opts.progress("downloading")
    channel = svc.pool.get(account)
    try:
        return await channel.bill_download(day, _bill_dir(svc, account) / f"{day}.bill")
    except BillUnavailable as exc:
        # The channels refuse a day not over yet: not ready. A bill that came and did not check out
        # (hash, format, transport) failed, whatever the day.
        refused = not (exc.code.lower() in DOWNLOAD_FAILURES or exc.code.lower().startswith("http_"))
        raise Failed(exc.code, str(exc), not_ready=exc.not_ready or (refused and not is_over(day))) from None


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _adopt(source: Path, dest: Path) -> BillFile:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if source.resolve() != dest.resolve():
        shutil.copyfile(source, dest)
    return BillFile(dest, _sha256(dest), dest.stat().st_size)


@dataclass
class Staged:
    """What parsing the bill learnt beside the staged lines: its totals, and its lines counted by
    ``(kind, ours)`` (no query over a million staged lines to count them again)."""
    totals: BillTotals = field(default_factory=BillTotals)
    lines: Counter[tuple[str, bool]] = field(default_factory=Counter)


async def _stage(svc: Services, account: Row, batch_id: str, bill: BillFile | None,
                 progress: Progress) -> Staged:
    """Parse and stage the bill in chunks (parsing off the event loop); check its own totals."""
    async with svc.db.begin() as conn:
        await store.unstage(conn, batch_id)
    staged, stated = Staged(), BillTotals()
    parsed, lines = staged.totals, staged.lines
    if bill is None:
        return staged
    reader = svc.registry.channel(account["channel"]).read_bill(bill.path, stated)
    progress("parsing", total=bill.size)
    line_no = 0
    async with store.stager(svc.db) as stager:

        def parse_next(first: int) -> tuple[int, Any]:
            # Off the event loop, one chunk at a time (the reader is never used by two threads at once),
            # prepared for the database there too (MariaDB: written as a file to load).
            rows = []
            for i, line in enumerate(itertools.islice(reader, CHUNK), start=first):
                parsed.add(line)
                rows.append(_row(batch_id, i, line))
            lines.update(map(_KIND_OURS, rows))  # counted in C
            return len(rows), stager.prepare(rows, first)

        # The next chunk is parsed while the current one is written.
        ahead = asyncio.ensure_future(asyncio.to_thread(parse_next, 1))
        try:
            while True:
                try:
                    count, chunk = await ahead
                except ValueError as exc:  # Malformed and friends: the whole bill is refused
                    raise Failed("malformed", str(exc)) from None
                if not count:
                    break
                line_no += count
                ahead = asyncio.ensure_future(asyncio.to_thread(parse_next, line_no + 1))
                await stager.write(chunk)
                progress("parsing", rows=line_no)
        finally:
            if not ahead.done():
                ahead.cancel()
            with contextlib.suppress(BaseException):
                await ahead  # its file is in the stager's folder, removed with it
    if line_no and not stated.stated:
        raise Failed("summary_missing", "the bill has lines but no summary to check them against")
    if line_no and (diff := parsed.differences(stated)):
        raise Failed("totals_mismatch", "; ".join(diff))
    return staged


_KIND_OURS = operator.itemgetter(2, 7)  # of a staged row


def _row(batch_id: str, line_no: int, line: BillLine) -> tuple[Any, ...]:
    """A staged line in :data:`store.LINE_COLUMNS` order."""
    key = line.trade_no if line.kind == "payment" else (line.refund_no or "")
    return (batch_id, line_no, line.kind, key[:64], line.trade_no[:64], line.amount.minor, line.status[:16],
            line.trade_no.startswith(ATTEMPT_PREFIX))


# -- discrepancies ----------------------------------------------------------------------------------

async def _record(svc: Services, account: Row, batch: Row, day: date, findings: list[Finding]) -> None:
    """Upsert this run's findings on (batch, type, key); a manual resolution is kept; what this run
    no longer finds is cleared (``auto_resolved``)."""
    now = utcnow()
    async with svc.db.begin() as conn:
        existing = {(r["type"], r["key"]): r for r in await store.discrepancies_of(conn, batch["id"])}
        for f in findings:
            values = dict(severity=f.severity, payment_id=f.payment_id, attempt_id=f.attempt_id,
                          refund_id=f.refund_id, local_amount=f.local_amount, channel_amount=f.channel_amount,
                          local_status=store.fit("local_status", f.local_status),
                          channel_status=store.fit("channel_status", f.channel_status),
                          expected_until=f.expected_until, updated_at=now)
            old = existing.pop((f.type, f.key), None)
            if old is None:
                await store.insert_discrepancy(
                    conn, id=new_id("dis"), batch_id=batch["id"], merchant_id=account["merchant_id"],
                    account_id=account["id"], bill_date=day, type=f.type, key=f.key, state=f.state,
                    action=f.action or (f"suggested: {f.remedy}" if f.remedy else None), created_at=now, **values)
            elif old["state"] in store.FINAL_STATES:
                await store.update_discrepancy(conn, old["id"], **values)
            else:
                keep_action = old["action"] if old["state"] == "auto_resolved" and f.state != "auto_resolved" \
                    else None
                await store.update_discrepancy(conn, old["id"], state=f.state,
                                               action=f.action or keep_action or old["action"], **values)
        for old in existing.values():
            if old["state"] in store.OPEN_STATES:
                await store.update_discrepancy(
                    conn, old["id"], state="auto_resolved",
                    action=(old["action"] or "") [:80] + " (cleared on re-run)", updated_at=now)


async def _set(svc: Services, batch_id: str, f: Finding, **values: Any) -> None:
    async with svc.db.begin() as conn:
        await store.update_open_finding(conn, batch_id, f.type, f.key, updated_at=utcnow(), **values)


async def _remedy(svc: Services, account: Row, batch: Row, day: date, f: Finding, now_day: date) -> None:
    if f.remedy == "settle" and f.attempt_id:
        done = await remedy.settle_by_query(svc, f.attempt_id)
        await _set(svc, batch["id"], f, state="auto_resolved" if done.applied else "open",
                   severity=f.severity if done.applied else "high", action=done.action[:128])
    elif f.remedy == "sync_refund" and f.refund_id:
        done = await remedy.sync_refund(svc, f.refund_id)
        await _set(svc, batch["id"], f, state="auto_resolved" if done.applied else "open", action=done.action[:128])
    elif f.remedy == "import_refund" and f.attempt_id and f.channel_amount is not None:
        done = await remedy.import_portal_refund(svc, account, f.attempt_id, f.key, f.channel_amount)
        await _set(svc, batch["id"], f, state="auto_resolved" if done.applied else "open", action=done.action[:128])
    elif f.remedy == "query_paid" and f.attempt_id:
        paid = await remedy.query_paid(svc, {"id": f.attempt_id, "account_id": account["id"]})
        if paid is False:  # we hold a success the channel denies: possibly a forged callback
            await _set(svc, batch["id"], f, state="open", severity="high", action="queried: channel says unpaid")
        else:
            await _set(svc, batch["id"], f, action="queried: paid at the channel, waiting for a later bill"
                       if paid else "queried: no answer")
    elif f.remedy == "query_trade":
        paid = await remedy.query_paid(svc, {"id": f.key, "account_id": account["id"]})
        await _set(svc, batch["id"], f, action={True: "queried: paid at the channel, unknown here",
                                                False: "queried: not paid at the channel",
                                                None: "queried: no answer"}[paid])


async def _recheck_carried(svc: Services, account: Row, batch_id: str, now_day: date) -> None:
    """Carry-over: earlier days' carried lines found on a later bill are cleared; past D+2 they open."""
    async with svc.db.read() as conn:
        carried = await store.carried_elsewhere(conn, account["id"], batch_id)
    for d in carried:
        kind = "payment" if d["type"] == match.LOCAL_PAID_MISSING else "refund"
        async with svc.db.begin() as conn:
            if await match.found_later(conn, kind, d["key"], d["batch_id"], d["bill_date"]):
                await store.update_carried(conn, d["id"], state="auto_resolved",
                                           action="found on a neighbouring day's bill", updated_at=utcnow())
            elif d["expected_until"] is not None and d["expected_until"] < now_day:
                await store.update_carried(conn, d["id"], state="open", severity="high", updated_at=utcnow())


# -- report -----------------------------------------------------------------------------------------

def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def discrepancy_view(d: Row) -> dict[str, Any]:
    return {"id": d["id"], "type": d["type"], "severity": d["severity"], "state": d["state"], "key": d["key"],
            "payment_id": d["payment_id"], "attempt_id": d["attempt_id"], "refund_id": d["refund_id"],
            "channel": {"amount": d["channel_amount"], "status": d["channel_status"]},
            "local": {"amount": d["local_amount"], "status": d["local_status"]},
            "action": d["action"], "expected_until": _iso(d["expected_until"]), "note": d["note"],
            "resolved_by": d["resolved_by"], "resolved_at": _iso(d["resolved_at"]), "bill_date": _iso(d["bill_date"])}


def batch_view(b: Row) -> dict[str, Any]:
    return {
        "id": b["id"], "account_id": b["account_id"], "channel": b["channel"], "bill_date": _iso(b["bill_date"]),
        "status": b["status"], "error_code": b["error_code"], "error_message": b["error_message"],
        "runs": b["runs"], "source": b["source"],
        "file": {"sha256": b["file_sha256"], "bytes": b["file_bytes"], "channel_hash": b["channel_hash"]},
        "totals": {
            "bill": {"pay_count": b["bill_pay_count"], "pay_amount": b["bill_pay_amount"],
                     "refund_count": b["bill_refund_count"], "refund_amount": b["bill_refund_amount"],
                     "fee_units": b["bill_fee"], "fee_posted": b["fee_posted"]},
            "local": {"pay_count": b["local_pay_count"], "pay_amount": b["local_pay_amount"],
                      "refund_count": b["local_refund_count"], "refund_amount": b["local_refund_amount"]},
        },
        "matched": b["matched"], "foreign": b["foreign_count"], "open": b["open_count"],
        "auto_resolved": b["auto_resolved"], "started_at": _iso(b["started_at"]),
        "finished_at": _iso(b["finished_at"]),
    }


async def report(svc: Services, batch_id: str) -> dict[str, Any]:
    async with svc.db.read() as conn:
        batch = await store.get_batch(conn, batch_id)
        rows = await store.discrepancies_of(conn, batch_id)
    assert batch is not None
    return {**batch_view(batch), "discrepancies": [discrepancy_view(r) for r in rows]}
