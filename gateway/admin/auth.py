"""Operators' credentials: enrolment links, argon2id passwords, TOTP codes accepted once, lockout.

No HTTP here: the console's handlers and the ``create-operator`` command call these. Every answer to a
failed sign-in is the same :class:`SignInFailed` whatever failed (unknown e-mail, wrong password, wrong or
replayed code, locked, disabled), so the page reveals nothing about which accounts exist.
"""
from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.config import Settings
from gateway.crypto.secrets import seal, unseal
from gateway.domain.ids import new_id
from gateway.store import operators as repo
from gateway.store.base import Row, is_unique_violation, utcnow
from gateway.store.db import Database

ENROLL_FOR = timedelta(hours=24)
MIN_PASSWORD, MAX_PASSWORD = 12, 128
ISSUER = "Gateway Console"
_hasher = PasswordHasher()  # argon2id with the library's current defaults
# Verified when the e-mail is unknown, so a miss costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class SignInFailed(Exception):
    """Wrong e-mail, password or code; locked; disabled -- deliberately one answer."""


class EnrolmentInvalid(Exception):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(None, _hasher.hash, password)


async def password_matches(stored: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.get_running_loop().run_in_executor(None, check)


def totp_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step whose code ``code`` is (this one or either neighbour), or None."""
    code = code.strip().replace(" ", "")
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp, at = pyotp.TOTP(secret), time.time() if now is None else now
    for offset in (0, -1, 1):
        step = int(at // totp.interval) + offset
        if secrets.compare_digest(totp.at(step * totp.interval), code):
            return step
    return None


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


@dataclass(frozen=True)
class NewOperator:
    operator_id: str
    email: str
    role: str
    merchant_id: str | None
    enroll_token: str


async def create_operator(db: Database, *, email: str, role: str, merchant_id: str | None = None) -> NewOperator:
    """A new operator with a one-time enrolment token (valid :data:`ENROLL_FOR`)."""
    from sqlalchemy.exc import IntegrityError

    email = email.strip().lower()
    if role not in repo.ROLES:
        raise ValueError(f"role must be one of {', '.join(repo.ROLES)}")
    if "@" not in email or len(email) > 254:
        raise ValueError("email is not an e-mail address")
    token, now = secrets.token_urlsafe(32), utcnow()
    operator_id = new_id("op")
    try:
        async with db.begin() as conn:
            await repo.insert(conn, {"id": operator_id, "email": email, "role": role, "merchant_id": merchant_id,
                                     "enroll_token_hash": token_hash(token), "enroll_expires_at": now + ENROLL_FOR,
                                     "created_at": now})
    except IntegrityError as exc:
        if is_unique_violation(exc):
            raise ValueError(f"an operator {email} exists already") from None
        raise
    return NewOperator(operator_id, email, role, merchant_id, token)


async def new_enrolment_token(db: Database, operator_id: str) -> str:
    """Reset MFA and password: a fresh enrolment link."""
    token = secrets.token_urlsafe(32)
    async with db.begin() as conn:
        if not await repo.reset_enrolment(conn, operator_id, token_hash(token), utcnow() + ENROLL_FOR):
            raise LookupError(operator_id)
    return token


async def enrolling(db: Database, token: str) -> Row | None:
    async with db.read() as conn:
        return await repo.by_enroll_token(conn, token_hash(token), utcnow())


async def enroll(db: Database, settings: Settings, token: str, *, secret: str, password: str, code: str) -> Row:
    """Finish enrolment: the password and TOTP secret are set and the token dies, all at once."""
    operator = await enrolling(db, token)
    if operator is None:
        raise EnrolmentInvalid("token")
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise EnrolmentInvalid("password")
    step = totp_step(secret, code)
    if step is None:
        raise EnrolmentInvalid("code")
    password_hash = await hash_password(password)
    async with db.begin() as conn:
        if not await repo.enroll(conn, operator["id"], token_hash(token), password_hash=password_hash,
                                 totp_secret_sealed=seal(settings.secret_key, "totp", secret), step=step):
            raise EnrolmentInvalid("token")
        fresh = await repo.get(conn, operator["id"])
    assert fresh is not None
    return fresh


async def check_code(db: Database, settings: Settings, operator: Row, code: str) -> bool:
    """A TOTP code of this operator, never used before (a step-up uses this too)."""
    if not operator["totp_secret_sealed"]:
        return False
    step = totp_step(unseal(settings.secret_key, "totp", operator["totp_secret_sealed"]), code)
    if step is None:
        return False
    async with db.begin() as conn:
        return await repo.claim_totp_step(conn, operator["id"], step)


async def sign_in(db: Database, settings: Settings, email: str, password: str, code: str) -> Row:
    """Password and TOTP; counts failures and locks after :data:`repo.LOCK_AFTER` in a row."""
    now = utcnow()
    async with db.read() as conn:
        operator = await repo.by_email(conn, email)
    good_password = await password_matches(operator["password_hash"] if operator else None, password)
    if operator is None:
        raise SignInFailed("unknown")
    locked = operator["locked_until"] is not None and operator["locked_until"] > now
    usable = not operator["disabled"] and not locked and operator["password_hash"] is not None
    if usable and good_password and await check_code(db, settings, operator, code):
        async with db.begin() as conn:
            await repo.record_success(conn, operator["id"], now)
        return operator
    if not locked:  # failures while locked neither count nor extend the lock
        async with db.begin() as conn:
            await repo.record_failure(conn, operator["id"], now)
    raise SignInFailed("locked" if locked else "disabled" if operator["disabled"] else "credentials")
