"""Console operators (people who sign in to ``/admin``): credentials, the TOTP replay guard, lockout.

A TOTP code is accepted once: :func:`claim_totp_step` moves ``last_totp_step`` forward with a conditional
UPDATE, so a replayed code (same or older step) never applies, even from two requests at once. Failed
sign-ins count up in the row; :data:`LOCK_AFTER` in a row lock the operator for :data:`LOCK_FOR`.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.base import Row, all_rows, one
from gateway.store.tables import ID, UTCDateTime, metadata

LOCK_AFTER = 10
LOCK_FOR = timedelta(minutes=30)
ROLES = ("owner", "operator", "finance", "viewer")

operators = sa.Table(
    "operators", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("merchant_id", ID),  # set: this operator sees only that merchant
    sa.Column("password_hash", sa.String(255)),  # argon2id; NULL until enrolled
    sa.Column("totp_secret_sealed", sa.Text),
    sa.Column("last_totp_step", sa.BigInteger),
    sa.Column("failed_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", UTCDateTime()),
    sa.Column("enroll_token_hash", sa.String(64), unique=True),
    sa.Column("enroll_expires_at", UTCDateTime()),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_login_at", UTCDateTime()),
)
t = operators


async def insert(conn: AsyncConnection, row: Row) -> None:
    await conn.execute(sa.insert(t), row)


async def get(conn: AsyncConnection, operator_id: str) -> Row | None:
    return await one(conn, sa.select(t).where(t.c.id == operator_id))


async def by_email(conn: AsyncConnection, email: str) -> Row | None:
    return await one(conn, sa.select(t).where(t.c.email == email.strip().lower()))


async def by_enroll_token(conn: AsyncConnection, token_hash: str, now: datetime) -> Row | None:
    return await one(conn, sa.select(t).where(t.c.enroll_token_hash == token_hash, t.c.enroll_expires_at > now,
                                              t.c.disabled == sa.false()))


async def list_all(conn: AsyncConnection, merchant_id: str | None = None) -> list[Row]:
    stmt = sa.select(t).order_by(t.c.created_at)
    if merchant_id is not None:
        stmt = stmt.where(t.c.merchant_id == merchant_id)
    return await all_rows(conn, stmt)


async def enroll(conn: AsyncConnection, operator_id: str, token_hash: str, *, password_hash: str,
                 totp_secret_sealed: str, step: int) -> bool:
    """Finish enrolment once: the token dies with it."""
    result = await conn.execute(sa.update(t).where(t.c.id == operator_id, t.c.enroll_token_hash == token_hash)
                                .values(password_hash=password_hash, totp_secret_sealed=totp_secret_sealed,
                                        last_totp_step=step, enroll_token_hash=None, enroll_expires_at=None,
                                        failed_count=0, locked_until=None))
    return result.rowcount == 1


async def reset_enrolment(conn: AsyncConnection, operator_id: str, token_hash: str, expires_at: datetime) -> bool:
    """A new enrolment link; the old password and TOTP secret stop working now."""
    result = await conn.execute(sa.update(t).where(t.c.id == operator_id).values(
        password_hash=None, totp_secret_sealed=None, last_totp_step=None, enroll_token_hash=token_hash,
        enroll_expires_at=expires_at, failed_count=0, locked_until=None))
    return result.rowcount == 1


async def claim_totp_step(conn: AsyncConnection, operator_id: str, step: int) -> bool:
    """Accept the code of ``step`` once: only a step later than every step used before applies."""
    result = await conn.execute(sa.update(t).where(
        t.c.id == operator_id, sa.or_(t.c.last_totp_step.is_(None), t.c.last_totp_step < step),
    ).values(last_totp_step=step))
    return result.rowcount == 1


async def record_failure(conn: AsyncConnection, operator_id: str, now: datetime) -> bool:
    """Count a failed sign-in; returns True when this one locked the operator."""
    await conn.execute(sa.update(t).where(t.c.id == operator_id).values(failed_count=t.c.failed_count + 1))
    result = await conn.execute(sa.update(t).where(
        t.c.id == operator_id, t.c.failed_count >= LOCK_AFTER,
        sa.or_(t.c.locked_until.is_(None), t.c.locked_until <= now),
    ).values(locked_until=now + LOCK_FOR, failed_count=0))
    return result.rowcount == 1


async def record_success(conn: AsyncConnection, operator_id: str, now: datetime) -> None:
    await conn.execute(sa.update(t).where(t.c.id == operator_id).values(failed_count=0, last_login_at=now))


async def set_role(conn: AsyncConnection, operator_id: str, role: str) -> bool:
    result = await conn.execute(sa.update(t).where(t.c.id == operator_id).values(role=role))
    return result.rowcount == 1


async def set_disabled(conn: AsyncConnection, operator_id: str, disabled: bool) -> bool:
    result = await conn.execute(sa.update(t).where(t.c.id == operator_id).values(disabled=disabled))
    return result.rowcount == 1
