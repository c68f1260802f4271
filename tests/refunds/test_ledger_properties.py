"""Property tests: the ledger's invariants and the refund arithmetic, on a real (SQLite) database.

Random sequences of refund create / succeed / fail (with repeats, as retries and duplicate callbacks
bring) never break the checker, and the payment's amounts always equal those of a plain model. The
checker itself is shown to catch each kind of corruption it promises to."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.domain.errors import GatewayError
from gateway.domain.ids import new_id
from gateway.domain.money import Money
from gateway.services import settlement
from gateway.store import ledger
from gateway.store import refunds as refunds_repo
from gateway.store.base import utcnow
from gateway.store.db import Database
from gateway.store.ledger_check import check_database
from gateway.store.migrate import upgrade
from gateway.store.tables import attempts, channel_accounts, merchants, payments
from tests.factories import sqlite_at_head

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.sqlite3'}"
    upgrade(url)
    return url


async def _paid(db: Database, amount: int) -> tuple[str, str, dict]:
    """A merchant, a channel account and a payment confirmed paid through settle_paid."""
    now = utcnow()
    mid, acc, pid, aid = new_id("mch"), new_id("acc"), new_id("pay"), new_id("att")
    async with db.begin() as conn:
        await conn.execute(sa.insert(merchants).values(id=mid, name="m", api_key_hash=new_id("h"), api_key_hint="x",
                                                       webhook_secret_sealed="-", created_at=now))
        await conn.execute(sa.insert(channel_accounts).values(id=acc, merchant_id=mid, channel="alipay",
                                                              account_ref="a", credentials_sealed="-",
                                                              pay_methods="[]", created_at=now))
        await conn.execute(sa.insert(payments).values(
            id=pid, merchant_id=mid, out_trade_no=pid, amount=amount, currency="CNY", subject="s", status="pending",
            expires_at=now, created_at=now, updated_at=now))
        attempt = dict(id=aid, payment_id=pid, merchant_id=mid, account_id=acc, channel="alipay",
                       pay_method="alipay_qr", amount=amount, currency="CNY", status="pending", created_at=now,
                       updated_at=now)
        await conn.execute(sa.insert(attempts).values(**attempt))
        await settlement.settle_paid(conn, attempt, Money(amount), channel_trade_no="t", paid_at=None, base_url="")
    return mid, pid, attempt


Op = st.one_of(
    st.tuples(st.just("open"), st.integers(min_value=1, max_value=600)),
    st.tuples(st.sampled_from(["succeed", "fail"]), st.integers(min_value=0, max_value=30)),
)


@FAST
@given(amount=st.integers(min_value=1, max_value=1000), ops=st.lists(Op, max_size=25))
def test_random_refund_sequences_keep_the_books(db_url: str, amount: int, ops: list[tuple[str, int]]) -> None:
    asyncio.run(_sequence(db_url, amount, ops))


async def _sequence(db_url: str, amount: int, ops: list[tuple[str, int]]) -> None:
    db = Database(db_url)
    try:
        mid, pid, _ = await _paid(db, amount)
        opened: list[str] = []
        model: dict[str, tuple[int, str]] = {}  # refund id -> (amount, status)
        for op, arg in ops:
            if op == "open":
                live = sum(a for a, s in model.values() if s != "failed")
                try:
                    async with db.begin() as conn:
                        row = await settlement.open_refund(conn, mid, pid, amount=arg, out_refund_no=new_id("r"))
                    opened.append(row["id"])
                    model[row["id"]] = (arg, "pending")
                    assert live + arg <= amount
                except GatewayError as exc:
                    assert exc.code in ("refund_exceeds_refundable", "invalid_state")
                    assert live + arg > amount  # refused only when it would over-refund
            elif opened:
                rid = opened[arg % len(opened)]  # repeats on purpose: a settlement applies once
                async with db.begin() as conn:
                    row = await refunds_repo.get_refund(conn, rid)
                    assert row is not None
                    if op == "succeed":
                        applied, _ = await settlement.settle_refund_succeeded(conn, row, None, "")
                    else:
                        applied = await settlement.settle_refund_failed(conn, row, "x", None)
                assert applied == (model[rid][1] == "pending")
                if applied:
                    model[rid] = (model[rid][0], "succeeded" if op == "succeed" else "failed")
        async with db.read() as conn:
            p = (await conn.execute(sa.select(payments).where(payments.c.id == pid))).mappings().one()
            merchant_balance = await ledger.balance(conn, ledger.merchant_account(mid))
        done = sum(a for a, s in model.values() if s == "succeeded")
        live = sum(a for a, s in model.values() if s != "failed")
        assert (p["refunded_amount"], p["refundable_amount"]) == (done, amount - live)
        assert p["status"] == ("paid" if done == 0 else "refunded" if done == amount else "partially_refunded")
        assert merchant_balance == {"CNY": -(amount - done)}  # owed: what was paid, less what went back
        report = await check_database(db)
        assert report.ok, report.as_json()["violations"]
    finally:
        await db.dispose()


Posting = st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(min_value=-10**12, max_value=10**12),
                    st.sampled_from(["CNY", "USD"]))


@given(st.lists(Posting, max_size=6))
def test_an_entry_is_accepted_only_when_it_balances(lines: list[tuple[str, int, str]]) -> None:
    postings = [(acc, Money(v, cur)) for acc, v, cur in lines]
    per_currency: dict[str, int] = {}
    for _, v, cur in lines:
        per_currency[cur] = per_currency.get(cur, 0) + v
    valid = len(lines) >= 2 and all(v for _, v, _ in lines) and not any(per_currency.values())
    try:
        ledger.check_balanced("e", postings)
        assert valid
    except ledger.UnbalancedEntry:
        assert not valid


@st.composite
def balanced_entries(draw: st.DrawFn) -> list[tuple[str, int]]:
    """Two to five non-zero postings over a few accounts, the last one balancing the others."""
    accounts = [f"x:{i}" for i in range(4)]
    lines = [(draw(st.sampled_from(accounts)), draw(st.integers(1, 10**9) | st.integers(-10**9, -1)))
             for _ in range(draw(st.integers(1, 4)))]
    rest = -sum(v for _, v in lines)
    if rest == 0:
        lines.append((accounts[0], 1))
        lines.append((accounts[1], -1))
    else:
        lines.append((draw(st.sampled_from(accounts)), rest))
    return lines


@FAST
@given(st.lists(balanced_entries(), min_size=1, max_size=8), st.data())
def test_balances_are_sums_of_postings_and_reversals_cancel(db_url: str, entries: list, data: st.DataObject) -> None:
    async def run() -> None:
        db = Database(db_url)
        try:
            async with db.begin() as conn:
                prefix = new_id("t")
                before = await ledger.balances(conn)
                refs = []
                for n, lines in enumerate(entries):
                    ref = f"{prefix}:{n}"
                    await ledger.post(conn, ref=ref, kind="test", merchant_id="m",
                                      postings=[(a, Money(v)) for a, v in lines])
                    refs.append(ref)
                after = await ledger.balances(conn)
                expected = dict(before)
                for lines in entries:
                    for a, v in lines:
                        expected[(a, "CNY")] = expected.get((a, "CNY"), 0) + v
                assert {k: v for k, v in after.items() if v} == {k: v for k, v in expected.items() if v}
                assert sum(after.values()) == sum(before.values()) == 0
                with pytest.raises(ledger.DuplicateEntry):
                    await ledger.post(conn, ref=refs[0], kind="test", merchant_id="m",
                                      postings=[(a, Money(v)) for a, v in entries[0]])
                for ref in refs:
                    await ledger.reverse(conn, ref)
                assert {k: v for k, v in (await ledger.balances(conn)).items() if v} == \
                    {k: v for k, v in before.items() if v}
                raise _Rollback  # test entries of kind "test" must not stay for the checker
        except _Rollback:
            pass
        finally:
            await db.dispose()

    asyncio.run(run())


class _Rollback(Exception):
    pass


@pytest.mark.parametrize("corruption, check", [
    ("UPDATE payments SET refundable_amount = refundable_amount - 1 WHERE id = :pid", "payment_refundable"),
    ("UPDATE payments SET refunded_amount = refunded_amount + 1, refundable_amount = refundable_amount - 1 "
     "WHERE id = :pid", "payment_refunded"),
    ("UPDATE ledger_postings SET amount = amount + 1 WHERE id = (SELECT MIN(p.id) FROM ledger_postings p "
     "JOIN ledger_entries e ON e.id = p.entry_id WHERE e.payment_id = :pid)", "entry_unbalanced"),
    ("UPDATE refunds SET status = 'succeeded' WHERE payment_id = :pid AND status = 'pending'", "refund_entry"),
    ("DELETE FROM ledger_postings WHERE entry_id IN (SELECT id FROM ledger_entries WHERE refund_id IS NOT NULL "
     "AND payment_id = :pid)", "refund_entry"),
    ("UPDATE payments SET status = 'paid' WHERE id = :pid", "payment_status"),
    ("UPDATE payment_attempts SET status = 'closed' WHERE payment_id = :pid", "attempt_entry"),
])
async def test_the_checker_catches_corruption(tmp_path: Path, corruption: str, check: str) -> None:
    db = Database(await asyncio.to_thread(sqlite_at_head, tmp_path / "c.sqlite3"))
    try:
        mid, pid, _ = await _paid(db, 1000)
        async with db.begin() as conn:
            done = await settlement.open_refund(conn, mid, pid, amount=300, out_refund_no="a")
            await settlement.open_refund(conn, mid, pid, amount=200, out_refund_no="b")  # stays pending
            await settlement.settle_refund_succeeded(conn, await refunds_repo.get_refund(conn, done["id"]), None, "")
        assert (await check_database(db)).ok
        async with db.begin() as conn:
            await conn.execute(sa.text(corruption), {"pid": pid})
        report = await check_database(db)
        assert not report.ok and check in {v.check for v in report.violations}, report.as_json()
    finally:
        await db.dispose()
