"""Writes of statements built once go straight to SQLite (``sqlite_sync.prepared_write``) inside the write
transaction: a row written that way must read back exactly as one written through SQLAlchemy's own
execution, a refused write must raise what SQLAlchemy raises (a duplicate is an ``IntegrityError`` the
callers recognise), and a transition must apply only from its expected states."""
from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import IntegrityError

from gateway.domain.money import Money
from gateway.domain.states import MARK_PAID, MARK_REFUNDED, PaymentStatus
from gateway.store import ledger, sqlite_sync
from gateway.store.base import insert, is_unique_violation, transition
from gateway.store.db import Database
from gateway.store.tables import metadata, payments

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
_numbers = itertools.count()
_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    path = tmp_path / "writes.sqlite3"
    engine = sa.create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    engine.dispose()
    database = Database(f"sqlite+aiosqlite:///{path}")
    async with database.begin() as conn:
        await conn.execute(sa.text(
            "INSERT INTO merchants (id, name, api_key_hash, api_key_hint, webhook_secret_sealed, return_domains,"
            " created_at) VALUES ('mch_1', 'M', 'h', 'k', 's', '[]', '2026-12-01 00:00:00.000000')"))
    try:
        yield database
    finally:
        await database.dispose()


def _payment(payment_id: str, **over: Any) -> dict[str, Any]:
    return {"id": payment_id, "merchant_id": "mch_1", "out_trade_no": payment_id, "amount": 1999, "currency": "CNY",
            "subject": "s", "description": None, "status": "pending", "pay_method": None, "return_url": None,
            "notify_url": None, "metadata": "{}", "link_id": None, "risk": None, "capture_method": "automatic",
            "expires_at": NOW + timedelta(minutes=30), "created_at": NOW, "updated_at": NOW, **over}


async def _read(db: Database, payment_id: str) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """The row as SQLAlchemy reads it, and as stored (what SQL compares and orders: the text of a time)."""
    async with db.read() as conn:
        row = (await conn.execute(sa.select(payments).where(payments.c.id == payment_id))).mappings().one()
        stored = (await conn.exec_driver_sql("SELECT * FROM payments WHERE id = ?", (payment_id,))).one()
    return ({k: (type(v), v) for k, v in row.items() if k not in ("id", "out_trade_no")},
            tuple(v for k, v in zip(row.keys(), stored, strict=True) if k not in ("id", "out_trade_no")))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amount=st.integers(1, 2**62), subject=_text.filter(bool), description=st.none() | _text,
       pay_method=st.none() | st.sampled_from(["alipay_qr", "wechat_native"]),
       expires=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
       metadata_json=st.dictionaries(st.text(max_size=5), st.integers()).map(lambda d: str(d)))
async def test_a_row_written_straight_reads_back_as_sqlalchemys(
        db: Database, amount: int, subject: str, description: str | None, pay_method: str | None,
        expires: datetime, metadata_json: str) -> None:
    values = {"amount": amount, "subject": subject, "description": description, "pay_method": pay_method,
              "expires_at": expires, "metadata": metadata_json}
    ids = [f"pay_{n}_{next(_numbers)}" for n in ("fast", "slow")]
    async with db.begin() as conn:
        assert sqlite_sync.prepared_write(conn, sa.insert(payments), _payment(ids[0], **values),
                                          columns=tuple(_payment(ids[0]))) is not None
        await conn.execute(sa.insert(payments), _payment(ids[1], **values))
    assert await _read(db, ids[0]) == await _read(db, ids[1])


async def test_a_duplicate_is_the_integrity_error_callers_know(db: Database) -> None:
    async with db.begin() as conn:
        await insert(conn, payments, _payment("pay_dup"))
    with pytest.raises(IntegrityError) as refused:
        async with db.begin() as conn:
            await insert(conn, payments, _payment("pay_other"))  # written, then rolled back with the duplicate
            await insert(conn, payments, _payment("pay_dup"))
    assert is_unique_violation(refused.value)
    async with db.read() as conn:
        ids = sorted((await conn.execute(sa.select(payments.c.id))).scalars())
    assert ids == ["pay_dup"]
    posted = [("channel:acc", Money(100, "CNY")), ("merchant:mch_1", Money(-100, "CNY"))]
    async with db.begin() as conn:
        entry = await ledger.post(conn, ref="att_1:received", kind=ledger.RECEIVED, merchant_id="mch_1",
                                  postings=posted, payment_id="pay_dup")
        assert entry >= 1
    with pytest.raises(ledger.DuplicateEntry):
        async with db.begin() as conn:
            await ledger.post(conn, ref="att_1:received", kind=ledger.RECEIVED, merchant_id="mch_1",
                              postings=posted, payment_id="pay_dup")
    async with db.read() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM ledger_postings"))).scalar_one() == 2


async def test_a_transition_applies_only_from_its_states(db: Database) -> None:
    async with db.begin() as conn:
        await insert(conn, payments, _payment("pay_t"))
        await insert(conn, payments, _payment("pay_closed", status="closed"))
    async with db.begin() as conn:
        assert await transition(conn, payments, MARK_PAID, "pay_t", paid_attempt_id="att_1", late=False)
        assert not await transition(conn, payments, MARK_PAID, "pay_t", paid_attempt_id="att_2", late=False)
        assert not await transition(conn, payments, MARK_PAID, "pay_closed", paid_attempt_id="att_3", late=False)
        assert not await transition(conn, payments, MARK_REFUNDED, "pay_closed", refundable_amount=0)
        assert await transition(conn, payments, MARK_REFUNDED, "pay_t", refundable_amount=0)  # from one of two
    async with db.read() as conn:
        rows = {r["id"]: r for r in (await conn.execute(sa.select(payments))).mappings()}
        # outside a write transaction nothing goes straight to the driver
        assert sqlite_sync.prepared_write(conn, sa.insert(payments), _payment("pay_x"),
                                          columns=tuple(_payment("pay_x"))) is None
    assert (rows["pay_t"]["status"], rows["pay_t"]["paid_attempt_id"]) == (PaymentStatus.REFUNDED, "att_1")
    assert rows["pay_t"]["updated_at"] > NOW and rows["pay_closed"]["status"] == "closed"
