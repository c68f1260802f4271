"""The daily reconciliation loop: a seed and a sweep, driven by ``recon_batches`` rows.

* seed -- from ``GATEWAY_RECON_TIME`` (Asia/Shanghai) on, every active channel account gets a batch for
  the previous day (the unique (account, day) key makes this idempotent across processes);
* sweep -- due batches (pending, not ready, failed, or left running by a process that died;
  ``next_attempt_at`` passed, lease free) are run; the run takes
  the batch's lease itself, so two processes never run one batch. A bill still not ready at
  ``GATEWAY_RECON_GIVE_UP`` the next day fails the batch (``never_ready``) with an error log to alert on;
  a failure is retried every 30 minutes, up to :data:`MAX_ATTEMPTS`.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta

from gateway.services.context import Services
from gateway.services.reconciliation import Options
from gateway.services.reconciliation import engine as recon
from gateway.services.reconciliation.days import SHANGHAI, today
from gateway.store import merchants as merchants_repo
from gateway.store import reconciliation as recon_repo
from gateway.store.base import utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 24
SWEEP = 4  # batches run per pass (one at a time: a bill may be large)


def _clock(value: str) -> time | None:
    if not value or value.lower() == "off":
        return None
    return time.fromisoformat(value)


async def tick(svc: Services, now: datetime | None = None) -> int:
    """One pass: seed yesterday's batches when it is time, run what is due. Returns batches run."""
    start = _clock(svc.settings.recon_time)
    if start is None:
        return 0
    now = now or utcnow()
    local = now.astimezone(SHANGHAI)
    if local.time() >= start:
        await seed(svc, today(now) - timedelta(days=1))
    return await sweep(svc, now)


async def seed(svc: Services, day: date) -> None:
    async with svc.db.read() as conn:
        have = await recon_repo.accounts_with_batch(conn, day)
    for account in await recon.accounts(svc):
        if account["id"] not in have:
            await recon.ensure_batch(svc, account, day)


async def sweep(svc: Services, now: datetime) -> int:
    async with svc.db.read() as conn:
        due = await recon_repo.due_batches(conn, now, SWEEP)
    give_up = _clock(svc.settings.recon_give_up) or time(23, 59)
    for row in due:
        async with svc.db.read() as conn:
            account = await merchants_repo.get_account(conn, row["account_id"])
        if account is None or not account["active"]:
            continue
        report = await recon.run(svc, dict(account), row["bill_date"], Options())
        status = report["status"]
        svc.metrics.recon_runs.labels(status).inc()
        deadline = datetime.combine(row["bill_date"] + timedelta(days=1), give_up, SHANGHAI)
        final = None
        if status == "not_ready" and now >= deadline:
            final = ("never_ready", f"the {row['bill_date']} bill was still not ready at {give_up} the next day")
        elif status == "failed" and row["attempts"] + 1 >= MAX_ATTEMPTS:
            final = (report["error_code"] or "failed", f"gave up after {MAX_ATTEMPTS} attempts")
        if final:
            async with svc.db.begin() as conn:
                await recon_repo.give_up(conn, row["id"], final[0], final[1])
            log.error("reconciliation of %s for %s abandoned: %s", row["account_id"], row["bill_date"], final[1])
        elif report["open"]:
            log.warning("reconciliation of %s for %s: %d open discrepancies", row["account_id"],
                        row["bill_date"], report["open"])
    return len(due)
