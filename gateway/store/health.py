"""Operational figures read from the database for the metrics scrape and the built-in alert evaluator:
small aggregate queries, each served by an existing index's leading column (``status`` /
``delivery_status``), never a scan of settled history."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.states import PaymentStatus, RefundStatus
from gateway.store.base import utcnow
from gateway.store.reconciliation import recon_batches, recon_discrepancies
from gateway.store.tables import events, payments, refunds

STUCK_AFTER = timedelta(minutes=10)  # a pending payment this long past its expiry: the expiry job is not working
BANDS = ((300, "lt_5m"), (1800, "5m_30m"), (7200, "30m_2h"), (86400, "2h_1d"))


@dataclass
class Figures:
    pending_by_band: dict[str, int] = field(default_factory=dict)
    stuck_pending: int = 0
    webhook_backlog: dict[str, int] = field(default_factory=dict)  # pending | retrying | failed
    webhook_oldest_age: float = 0.0  # seconds since the oldest undelivered event was written
    recon_batches: dict[str, int] = field(default_factory=dict)  # by status, batches of the last 3 days
    recon_open: dict[str, int] = field(default_factory=dict)  # open discrepancies by severity
    recon_last_done: datetime | None = None


async def figures(conn: AsyncConnection, now: datetime | None = None) -> Figures:
    now = now or utcnow()
    out = Figures()
    age = sa.case(*((payments.c.created_at > now - timedelta(seconds=s), name) for s, name in BANDS),
                  else_="ge_1d").label("band")
    pending = payments.c.status == PaymentStatus.PENDING.value
    rows = await conn.execute(sa.select(age, sa.func.count()).where(pending).group_by(age))
    out.pending_by_band = {name: 0 for _, name in BANDS} | {"ge_1d": 0} | {b: int(n) for b, n in rows.all()}
    out.stuck_pending = int((await conn.execute(sa.select(sa.func.count()).select_from(payments).where(
        pending, payments.c.expires_at < now - STUCK_AFTER))).scalar_one())

    state = sa.case((events.c.delivery_status == "failed", "failed"), (events.c.attempts > 0, "retrying"),
                    else_="pending").label("state")
    rows = await conn.execute(sa.select(state, sa.func.count(), sa.func.min(events.c.created_at))
                              .where(events.c.delivery_status.in_(("pending", "failed"))).group_by(state))
    out.webhook_backlog = {"pending": 0, "retrying": 0, "failed": 0}
    for name, count, oldest in rows.all():
        out.webhook_backlog[name] = int(count)
        if name != "failed" and oldest is not None:
            out.webhook_oldest_age = max(out.webhook_oldest_age, (now - _aware(oldest)).total_seconds())

    rows = await conn.execute(sa.select(recon_batches.c.status, sa.func.count())
                              .where(recon_batches.c.bill_date >= (now - timedelta(days=3)).date())
                              .group_by(recon_batches.c.status))
    out.recon_batches = {s: int(n) for s, n in rows.all()}
    rows = await conn.execute(sa.select(recon_discrepancies.c.severity, sa.func.count())
                              .where(recon_discrepancies.c.state == "open")
                              .group_by(recon_discrepancies.c.severity))
    out.recon_open = {"info": 0, "warn": 0, "high": 0} | {s: int(n) for s, n in rows.all()}
    last = (await conn.execute(sa.select(sa.func.max(recon_batches.c.finished_at))
                               .where(recon_batches.c.status == "done"))).scalar_one()
    out.recon_last_done = _aware(last) if last is not None else None
    return out


async def refund_results_since(conn: AsyncConnection, since: datetime) -> dict[str, int]:
    """Refunds that finished (succeeded or failed) since ``since``, by status."""
    rows = await conn.execute(sa.select(refunds.c.status, sa.func.count()).where(
        refunds.c.status.in_((RefundStatus.SUCCEEDED.value, RefundStatus.FAILED.value)),
        refunds.c.updated_at >= since).group_by(refunds.c.status))
    return {RefundStatus.SUCCEEDED.value: 0, RefundStatus.FAILED.value: 0} | {s: int(n) for s, n in rows.all()}


async def paid_between(conn: AsyncConnection, start: datetime, end: datetime) -> int:
    """Payments paid in ``[start, end)``."""
    return int((await conn.execute(sa.select(sa.func.count()).select_from(payments).where(
        payments.c.paid_at >= start, payments.c.paid_at < end))).scalar_one())


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
