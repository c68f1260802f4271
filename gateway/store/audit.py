"""The audit log: append-only and hash-chained.

Each entry's ``hash`` is SHA-256 over the previous entry's hash and the entry's own fields (canonical
JSON), and ``seq`` is unique and gap-free: editing, deleting or reordering an entry breaks the chain at
that point, which :func:`verify` finds. There is no code path that updates or deletes an entry.
Concurrent appends race for the next ``seq``; the loser retries on the new head.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.base import Row, all_rows, is_unique_violation, utcnow
from gateway.store.db import Database
from gateway.store.tables import ID, UTCDateTime, metadata

GENESIS = "0" * 64
FIELDS = ("seq", "at", "actor", "ip", "action", "object_type", "object_id", "merchant_id", "outcome", "detail")

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(254), nullable=False),  # operator email, "system" or "cli"
    sa.Column("ip", sa.String(64)),
    sa.Column("action", sa.String(48), nullable=False),
    sa.Column("object_type", sa.String(32)),
    sa.Column("object_id", sa.String(64)),
    sa.Column("merchant_id", ID),
    sa.Column("outcome", sa.String(16), nullable=False),  # success | denied | failed
    sa.Column("detail", sa.Text, nullable=False, server_default="{}"),  # JSON: field names, masked values
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_log_at", "at"),
)
t = audit_log


def entry_hash(prev_hash: str, entry: Row) -> str:
    fields = {k: entry[k] for k in FIELDS}
    fields["at"] = entry["at"].isoformat(timespec="microseconds")
    canonical = json.dumps(fields, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


async def append(db: Database, *, actor: str, action: str, outcome: str = "success", ip: str | None = None,
                 object_type: str | None = None, object_id: str | None = None, merchant_id: str | None = None,
                 detail: dict[str, Any] | None = None) -> int:
    """Write one entry at the head of the chain (its own transaction); returns its ``seq``."""
    at = utcnow()
    entry: dict[str, Any] = {"at": at, "actor": actor[:254], "ip": ip, "action": action, "object_type": object_type,
                  "object_id": object_id, "merchant_id": merchant_id, "outcome": outcome,
                  "detail": json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))}
    for _ in range(20):
        try:
            async with db.begin() as conn:
                head = (await conn.execute(sa.select(t.c.seq, t.c.hash).order_by(t.c.seq.desc()).limit(1))).first()
                seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
                row = entry | {"seq": seq}
                await conn.execute(sa.insert(t), dict(**row, prev_hash=prev, hash=entry_hash(prev, row)))
            return seq
        except IntegrityError as exc:  # another append took this seq: retry on the new head
            if not is_unique_violation(exc):
                raise
    raise RuntimeError("audit log: could not append after 20 tries")


async def recent(conn: AsyncConnection, *, limit: int = 100, before: int | None = None, actor: str | None = None,
                 action: str | None = None, merchant_id: str | None = None, object_id: str | None = None) -> list[Row]:
    stmt = sa.select(t).order_by(t.c.seq.desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(t.c.seq < before)
    if actor:
        stmt = stmt.where(t.c.actor == actor)
    if action:
        stmt = stmt.where(t.c.action == action)
    if merchant_id is not None:
        stmt = stmt.where(t.c.merchant_id == merchant_id)
    if object_id is not None:
        stmt = stmt.where(t.c.object_id == object_id)
    return await all_rows(conn, stmt)


@dataclass
class ChainReport:
    checked: int
    ok: bool
    broken_at: int | None = None
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"checked": self.checked, "ok": self.ok, "broken_at": self.broken_at, "reason": self.reason}


async def _entries(db: Database, batch: int = 1000) -> AsyncIterator[Row]:
    after = 0
    while True:
        async with db.read() as conn:
            rows = await all_rows(conn, sa.select(t).where(t.c.seq > after).order_by(t.c.seq).limit(batch))
        if not rows:
            return
        for row in rows:
            yield row
        after = rows[-1]["seq"]


async def verify(db: Database) -> ChainReport:
    """Walk the chain from the first entry: every ``seq`` in order, every hash recomputed."""
    prev, expected_seq, checked = GENESIS, 1, 0
    async for row in _entries(db):
        if row["seq"] != expected_seq:
            return ChainReport(checked, False, expected_seq, "missing entry")
        if row["prev_hash"] != prev:
            return ChainReport(checked, False, row["seq"], "chain link broken")
        if entry_hash(prev, row) != row["hash"]:
            return ChainReport(checked, False, row["seq"], "entry edited")
        prev, expected_seq, checked = row["hash"], expected_seq + 1, checked + 1
    return ChainReport(checked, True)

