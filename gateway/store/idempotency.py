"""Idempotency-Key records, with Stripe's semantics, kept in the database (the source of truth).

A key is claimed by inserting its row (``in_flight``, with a lock that expires so a crashed process's
key can be taken over); the finished response is stored on it and replayed for the same request.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.base import is_unique_violation, one, utcnow
from gateway.store.tables import idempotency_keys as t

KEEP = timedelta(hours=24)
LOCK = timedelta(seconds=60)


@dataclass(frozen=True)
class Claim:
    state: str  # "claimed" | "replay" | "in_flight" | "mismatch"
    status: int | None = None
    body: str | None = None


@dataclass(frozen=True)
class Wanted:
    """A key a request wants to run under; ``release_first``: a run of ours under it ended without a kept
    answer and its release was lost -- release it, then claim."""
    merchant_id: str
    key: str
    request_hash: str
    release_first: bool = False


async def claim_wanted(conn: AsyncConnection, wanted: Wanted) -> Claim:
    if wanted.release_first:
        await release(conn, wanted.merchant_id, wanted.key)
    return await claim(conn, wanted.merchant_id, wanted.key, wanted.request_hash)


async def claim(conn: AsyncConnection, merchant_id: str, key: str, request_hash: str) -> Claim:
    now = utcnow()
    try:
        async with conn.begin_nested():
            await conn.execute(sa.insert(t), dict(
                merchant_id=merchant_id, key=key, request_hash=request_hash, state="in_flight",
                locked_until=now + LOCK, created_at=now, expires_at=now + KEEP))
        return Claim("claimed")
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
    row = await one(conn, sa.select(t).where(t.c.merchant_id == merchant_id, t.c.key == key))
    if row is None:  # expired and purged between our insert and read: try once more
        return await claim(conn, merchant_id, key, request_hash)
    if row["expires_at"] <= now:
        await conn.execute(sa.delete(t).where(t.c.merchant_id == merchant_id, t.c.key == key,
                                              t.c.expires_at <= now))
        return await claim(conn, merchant_id, key, request_hash)
    if row["request_hash"] != request_hash:
        return Claim("mismatch")
    if row["state"] == "done":
        return Claim("replay", row["response_status"], row["response_body"])
    # In flight: ours to take over only if its holder's lock ran out (the process died).
    taken = await conn.execute(sa.update(t).where(
        t.c.merchant_id == merchant_id, t.c.key == key, t.c.state == "in_flight", t.c.locked_until < now,
    ).values(locked_until=now + LOCK))
    return Claim("claimed") if taken.rowcount == 1 else Claim("in_flight")


@dataclass(frozen=True)
class Answer:
    """A finished request's answer, kept on its key for replays."""
    merchant_id: str
    key: str
    status: int
    body: str


_COMPLETE = sa.update(t).where(t.c.merchant_id == sa.bindparam("w_merchant"), t.c.key == sa.bindparam("w_key")) \
    .values(state="done", response_status=sa.bindparam("v_status"), response_body=sa.bindparam("v_body"))


async def complete(conn: AsyncConnection, answers: Sequence[Answer]) -> None:
    """Keep the answers (several requests' at once: one statement, executed for each)."""
    await conn.execute(_COMPLETE, [{"w_merchant": a.merchant_id, "w_key": a.key, "v_status": a.status,
                                    "v_body": a.body} for a in answers])


async def release(conn: AsyncConnection, merchant_id: str, key: str) -> None:
    await conn.execute(sa.delete(t).where(t.c.merchant_id == merchant_id, t.c.key == key,
                                          t.c.state == "in_flight"))


async def purge_expired(conn: AsyncConnection, limit: int = 1000) -> int:
    now = utcnow()
    ids = (await conn.execute(sa.select(t.c.merchant_id, t.c.key).where(t.c.expires_at < now)
                              .limit(limit))).all()
    for merchant_id, key in ids:
        await conn.execute(sa.delete(t).where(t.c.merchant_id == merchant_id, t.c.key == key,
                                              t.c.expires_at < now))
    return len(ids)
