"""The outbox's delivery side: leasing due events fairly between merchants, the delivery log, resend.

Events are written by :func:`gateway.store.events.emit` in the transaction of the change they report;
this module only moves them from ``pending`` to ``delivered`` or ``failed``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store import leases
from gateway.store.base import Row, all_rows, insert, utcnow
from gateway.store.tables import deliveries, events, merchants

PENDING, DELIVERED, FAILED, NONE = "pending", "delivered", "failed", "none"


def _delivery_due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(events.c.delivery_status == PENDING, events.c.next_attempt_at <= now)


# Events to deliver; claimed by :func:`claim_due` (fairly between merchants), released like any queue.
DELIVERY = leases.Queue("webhooks", events, _delivery_due, events.c.next_attempt_at)


async def claim_due(conn: AsyncConnection, *, limit: int, per_merchant: int, until: datetime) -> list[Row]:
    """Lease up to ``limit`` due events until ``until`` (:func:`leases.token`), at most ``per_merchant``
    in flight per merchant across every process (counted from unexpired leases, so nothing is kept in
    memory).

    Candidates are taken oldest first; a merchant at its limit is left out of the next round, so a dead
    endpoint's backlog at the head of the queue does not hide the events of other merchants.
    """
    c = events.c
    now = utcnow()
    taken: list[str] = []
    saturated: set[str] = set()
    for _ in range(3):
        stmt = (sa.select(c.id, c.merchant_id)
                .where(DELIVERY.due(now), leases.free(events, now))
                .order_by(DELIVERY.order).limit(limit * 2))
        if saturated:
            stmt = stmt.where(c.merchant_id.not_in(sorted(saturated)))
        candidates = (await conn.execute(leases.skip_locked(conn, stmt))).all()
        if not candidates:
            break
        owners = sorted({m for _, m in candidates})
        if conn.dialect.name != "sqlite":  # serialise the count-then-take per merchant between processes
            await conn.execute(sa.select(merchants.c.id).where(merchants.c.id.in_(owners))
                               .order_by(merchants.c.id).with_for_update())
        busy: dict[str, int] = dict((await conn.execute(
            sa.select(c.merchant_id, sa.func.count()).where(
                c.delivery_status == PENDING, c.lease_until >= now, c.merchant_id.in_(owners))
            .group_by(c.merchant_id))).all())
        batch: list[str] = []
        for event_id, merchant_id in candidates:
            if len(taken) + len(batch) >= limit:
                break
            if busy.get(merchant_id, 0) >= per_merchant:
                saturated.add(merchant_id)
                continue
            busy[merchant_id] = busy.get(merchant_id, 0) + 1
            batch.append(event_id)
        if batch:
            await conn.execute(sa.update(events).where(c.id.in_(batch), leases.free(events, now))
                               .values(lease_until=until))
            taken += batch
        if len(taken) >= limit or len(candidates) < limit * 2:
            break
        saturated.update(m for m, n in busy.items() if n >= per_merchant)
    if not taken:
        return []
    return await all_rows(conn, sa.select(events).where(c.id.in_(taken), c.lease_until == until)
                          .order_by(c.next_attempt_at))


@dataclass(frozen=True)
class AttemptRecord:
    """One delivery attempt's result, to log and to move its event on (``outcome``: delivered | failed |
    pending, then due again at ``next_attempt_at``)."""
    event: Row
    url: str
    status_code: int | None
    latency_ms: int
    excerpt: str | None
    error: str | None
    outcome: str
    next_attempt_at: datetime | None


async def record_attempts(conn: AsyncConnection, records: Sequence[AttemptRecord]) -> list[bool]:
    """Log attempts and move each event on if we still hold its lease -- several in one transaction
    (one count, one multi-row insert, one UPDATE per outcome). The log rows are written either way: the
    attempts happened. Returns, per record, whether the lease was still ours."""
    if not records:
        return []
    now = utcnow()
    ids = sorted({r.event["id"] for r in records})
    numbers: dict[str, int] = dict((await conn.execute(
        sa.select(deliveries.c.event_id, sa.func.count()).where(deliveries.c.event_id.in_(ids))
        .group_by(deliveries.c.event_id))).all())
    rows = []
    for r in records:
        numbers[r.event["id"]] = number = numbers.get(r.event["id"], 0) + 1
        rows.append({"event_id": r.event["id"], "attempt": number, "url": r.url[:2048], "status_code": r.status_code,
                     "latency_ms": r.latency_ms, "response_excerpt": r.excerpt,
                     "error": (r.error or None) and r.error[:256], "attempted_at": now})
    await insert(conn, deliveries, rows)
    # Whose lease is still ours (locked until commit), then one UPDATE per kind of change: a claim gives
    # its whole batch one lease token, and most attempts end the same way (delivered).
    tokens = sorted({r.event["lease_until"] for r in records})
    ours = {(event_id, token) for event_id, token in await conn.execute(leases.lock(
        conn, sa.select(events.c.id, events.c.lease_until).where(events.c.id.in_(ids),
                                                                  events.c.lease_until.in_(tokens))))}
    held = [(r.event["id"], r.event["lease_until"]) in ours for r in records]
    same: dict[tuple[str, datetime | None], list[str]] = {}
    for r, mine in zip(records, held, strict=True):
        if mine:
            due = r.next_attempt_at if r.outcome == PENDING else None
            same.setdefault((r.outcome, due), []).append(r.event["id"])
    for (outcome, due), event_ids in same.items():
        values: dict[str, Any] = {"attempts": events.c.attempts + 1, "delivery_status": outcome,
                                  "next_attempt_at": due, "lease_until": None}
        if outcome == DELIVERED:
            values["delivered_at"] = now
        await conn.execute(sa.update(events).where(events.c.id.in_(event_ids)).values(**values))
    return held


async def deliveries_of(conn: AsyncConnection, event_id: str) -> list[Row]:
    return await all_rows(conn, sa.select(deliveries).where(deliveries.c.event_id == event_id)
                          .order_by(deliveries.c.id))


async def resend(conn: AsyncConnection, merchant_id: str, event_id: str) -> bool:
    """Deliver again from now, with a fresh retry schedule (the log keeps counting attempts)."""
    result = await conn.execute(sa.update(events).where(
        events.c.id == event_id, events.c.merchant_id == merchant_id,
    ).values(delivery_status=PENDING, attempts=0, next_attempt_at=utcnow(), delivered_at=None))
    return result.rowcount == 1
