"""The ledger checker: recompute every balance from postings and hold the books against the payment and
refund states, in one consistent snapshot. ``python run.py check-ledger`` exits non-zero on any
violation; the test suite runs it over every database it used.

What must hold:
* every entry has at least two postings, none zero, summing to zero per currency;
* each entry's subject matches its state: a succeeded attempt has exactly its received movement
  (channel +amount, merchant −amount), a succeeded refund exactly its refund movement, anything else
  none (net of reversals); no entry of a kind nobody writes;
* every account's balance, summed from postings, equals the balance the states imply;
* per payment: ``refunded_amount`` = succeeded refunds of its paid attempt; ``refundable_amount`` =
  amount − pending and succeeded refunds when paid, 0 before; the status agrees with the amounts;
* per attempt: pending and succeeded refunds never exceed what it was paid; refunds only of paid money;
* the channels' fees: one entry per reconciled account and day, equal to the fee its batch posted;
* wallets: see :mod:`gateway.store.wallet_check`.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.states import AttemptStatus, PaymentStatus, RefundStatus
from gateway.store import ledger, wallet_check
from gateway.store.db import Database, offloaded
from gateway.store.reconciliation import FEE_KIND, fee_account, fee_ref, recon_batches
from gateway.store.tables import attempts, ledger_entries, ledger_postings, payments, refunds
from gateway.store.wallets import WALLET

Movement = dict[tuple[str, str], int]  # (account, currency) -> minor units


@dataclass(frozen=True)
class Violation:
    check: str
    subject: str
    detail: str


@dataclass
class Report:
    entries: int = 0
    postings: int = 0
    payments: int = 0
    refunds: int = 0
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "postings": self.postings, "payments": self.payments,
                "refunds": self.refunds, "violations": [asdict(v) for v in self.violations]}


async def check_database(db: Database) -> Report:
    with offloaded():  # SQLite: every entry and payment is read, on a thread rather than on the loop
        async with db.snapshot() as conn:  # a movement committed mid-check must not look half-done
            return await check(conn)


async def _rows(conn: AsyncConnection, stmt: sa.Select) -> list[sa.Row[Any]]:
    return list((await conn.execute(stmt)).all())


Flag = Callable[[str, str, str], None]


@dataclass(frozen=True)
class _Books:
    """Everything the checks read, from one snapshot."""

    entries: dict[int, sa.Row[Any]]
    lines: list[sa.Row[Any]]
    payments: dict[str, sa.Row[Any]]
    attempts: dict[str, sa.Row[Any]]
    refunds: dict[str, sa.Row[Any]]
    fees: list[sa.Row[Any]]  # reconciliation batches that posted fees


async def check(conn: AsyncConnection) -> Report:
    report = Report()

    def flag(check: str, subject: str, detail: str) -> None:
        report.violations.append(Violation(check, subject, detail))

    books = _Books(
        entries={r.id: r for r in await _rows(conn, sa.select(
            ledger_entries.c.id, ledger_entries.c.ref, ledger_entries.c.kind, ledger_entries.c.merchant_id))},
        lines=await _rows(conn, sa.select(ledger_postings.c.entry_id, ledger_postings.c.account,
                                          ledger_postings.c.amount, ledger_postings.c.currency)),
        payments={r.id: r for r in await _rows(conn, sa.select(payments))},
        attempts={r.id: r for r in await _rows(conn, sa.select(attempts))},
        refunds={r.id: r for r in await _rows(conn, sa.select(refunds))},
        fees=await _rows(conn, sa.select(recon_batches.c.account_id, recon_batches.c.bill_date,
                                         recon_batches.c.fee_posted).where(recon_batches.c.fee_posted != 0)))
    report.entries, report.postings = len(books.entries), len(books.lines)
    report.payments, report.refunds = len(books.payments), len(books.refunds)

    per_entry = _check_entries(books, flag)
    expected = _check_subjects(books, per_entry, flag)
    expected |= wallet_check.check(books.entries, per_entry, books.attempts, await wallet_check.load(conn), flag)
    _check_balances(books, expected, flag)
    _check_refunds(books, flag)
    return report


def _check_entries(books: _Books, flag: Flag) -> dict[int, Movement]:
    """1. Each entry balances on its own. Returns each entry's movement."""
    entries = books.entries
    per_entry: dict[int, Movement] = defaultdict(lambda: defaultdict(int))
    count: dict[int, int] = defaultdict(int)
    for line in books.lines:
        if line.entry_id not in entries:
            flag("orphan_posting", str(line.entry_id), "posting of an entry that does not exist")
            continue
        if line.amount == 0:
            flag("zero_posting", entries[line.entry_id].ref, f"zero posting on {line.account}")
        per_entry[line.entry_id][(line.account, line.currency)] += line.amount
        count[line.entry_id] += 1
    for entry_id, entry in entries.items():
        totals: dict[str, int] = defaultdict(int)
        for (_, currency), amount in per_entry[entry_id].items():
            totals[currency] += amount
        if count[entry_id] < 2:
            flag("entry_postings", entry.ref, f"{count[entry_id]} posting(s); an entry needs two or more")
        if any(totals.values()):
            flag("entry_unbalanced", entry.ref, f"postings sum to {dict(totals)}")
    return per_entry


def _check_subjects(books: _Books, per_entry: dict[int, Movement], flag: Flag) -> dict[tuple[str, str], Movement]:
    """2. Net movement per subject (an attempt's receipt, a refund), reversals folded into what they
    reverse, against what the subject's state implies. Returns the implied movements."""
    net = _net_movements(books, per_entry, flag)
    expected = _implied_movements(books, flag)
    for key in set(expected) | set(net):
        want = {k: v for k, v in expected.get(key, {}).items() if v}
        got = {k: v for k, v in net.get(key, {}).items() if v}
        if want != got:
            flag(f"{key[0]}_entry", key[1], f"ledger moved {_fmt(got)}, its state implies {_fmt(want)}")
    return expected


def _net_movements(books: _Books, per_entry: dict[int, Movement], flag: Flag) -> dict[tuple[str, str], Movement]:
    net: dict[tuple[str, str], Movement] = defaultdict(lambda: defaultdict(int))
    kinds = {ledger.RECEIVED: ("attempt", ":received"), ledger.REFUND: ("refund", ":refunded"),
             FEE_KIND: ("fees", "")}
    by_ref = {e.ref: e for e in books.entries.values()}
    for entry_id, entry in books.entries.items():
        if entry.kind == WALLET:
            continue  # checked against its wallet movement (gateway.store.wallet_check)
        target: sa.Row[Any] | None = entry
        while target is not None and target.kind == ledger.REVERSAL:
            target = by_ref.get(target.ref.removesuffix(":reversal"))
        if target is None or target.kind not in kinds:
            flag("entry_kind", entry.ref, f"kind {entry.kind!r} (or what it reverses) is not one we write")
            continue
        subject, suffix = kinds[target.kind]
        if not target.ref.endswith(suffix) or (target.kind == FEE_KIND and not target.ref.startswith("fees:")):
            flag("entry_ref", entry.ref, f"a {target.kind} entry's ref must end with {suffix}")
            continue
        name = ":".join(target.ref.split(":")[:3]) if target.kind == FEE_KIND else target.ref.removesuffix(suffix)
        for key, amount in per_entry[entry_id].items():
            net[(subject, name)][key] += amount
    return net


def _implied_movements(books: _Books, flag: Flag) -> dict[tuple[str, str], Movement]:
    expected: dict[tuple[str, str], Movement] = {}
    for a in books.attempts.values():
        if a.status == AttemptStatus.SUCCEEDED:
            expected[("attempt", a.id)] = {(ledger.channel_account(a.account_id), a.currency): a.amount,
                                           (ledger.merchant_account(a.merchant_id), a.currency): -a.amount}
    for r in books.refunds.values():
        paid = books.attempts.get(r.attempt_id)
        if paid is None:
            flag("refund_attempt", r.id, f"refund of unknown attempt {r.attempt_id}")
            continue
        if r.status == RefundStatus.SUCCEEDED:
            expected[("refund", r.id)] = {(ledger.merchant_account(r.merchant_id), r.currency): r.amount,
                                          (ledger.channel_account(paid.account_id), r.currency): -r.amount}
    # The channels' fees, posted by reconciliation once per account and bill day (``fees:<acct>:<day>``).
    for b in books.fees:
        expected[("fees", fee_ref(b.account_id, b.bill_date.isoformat()))] = {
            (fee_account(b.account_id), "CNY"): b.fee_posted,
            (ledger.channel_account(b.account_id), "CNY"): -b.fee_posted}
    return expected


def _check_balances(books: _Books, expected: dict[tuple[str, str], Movement], flag: Flag) -> None:
    """3. Balances: recomputed from postings vs implied by the states; every currency sums to zero."""
    posted: Movement = defaultdict(int)
    for line in books.lines:
        posted[(line.account, line.currency)] += line.amount
    implied: Movement = defaultdict(int)
    for movement in expected.values():
        for k, v in movement.items():
            implied[k] += v
    for key in set(posted) | set(implied):
        if posted.get(key, 0) != implied.get(key, 0):
            flag("balance", f"{key[0]} {key[1]}", f"postings sum to {posted.get(key, 0)}, "
                 f"states imply {implied.get(key, 0)}")
    for currency in {c for _, c in posted}:
        total = sum(v for (_, c), v in posted.items() if c == currency)
        if total:
            flag("trial_balance", currency, f"all accounts sum to {total}")


def _check_refunds(books: _Books, flag: Flag) -> None:
    """4. Refunds against what was paid, per attempt and per payment."""
    atts = books.attempts
    reserved: dict[str, int] = defaultdict(int)
    succeeded: dict[str, int] = defaultdict(int)
    for r in books.refunds.values():
        if r.status in (RefundStatus.PENDING, RefundStatus.SUCCEEDED):
            reserved[r.attempt_id] += r.amount
        if r.status == RefundStatus.SUCCEEDED:
            succeeded[r.attempt_id] += r.amount
        a = atts.get(r.attempt_id)
        if a is not None and r.status != RefundStatus.FAILED and a.status != AttemptStatus.SUCCEEDED:
            flag("refund_unpaid", r.id, f"{r.status} refund of attempt {a.id}, which is {a.status}")
        if a is not None and r.currency != a.currency:
            flag("refund_currency", r.id, f"{r.currency} refund of a {a.currency} payment")
    for attempt_id, total in reserved.items():
        a = atts.get(attempt_id)
        if a is not None and total > a.amount:
            flag("over_refund", attempt_id, f"pending+succeeded refunds {total} exceed the paid {a.amount}")
    for p in books.payments.values():
        _check_payment(p, atts.get(p.paid_attempt_id) if p.paid_attempt_id else None,
                       reserved[p.paid_attempt_id or ""], succeeded[p.paid_attempt_id or ""], flag)


def _check_payment(p: sa.Row[Any], paid: sa.Row[Any] | None, reserved: int, succeeded: int, flag: Flag) -> None:
    S = PaymentStatus
    if p.status in (S.PENDING, S.CLOSED):
        if p.refundable_amount or p.refunded_amount or p.paid_attempt_id:
            flag("payment_unpaid", p.id, f"{p.status} with refundable {p.refundable_amount}, refunded "
                 f"{p.refunded_amount}, paid attempt {p.paid_attempt_id}")
        return
    if paid is None or paid.status != AttemptStatus.SUCCEEDED or paid.amount != p.amount:
        flag("payment_paid_attempt", p.id, f"{p.status} but its paid attempt {p.paid_attempt_id} is not a "
             f"succeeded attempt of {p.amount}")
    if p.refunded_amount != succeeded:
        flag("payment_refunded", p.id, f"refunded_amount {p.refunded_amount}, succeeded refunds {succeeded}")
    if p.refundable_amount != p.amount - reserved:
        flag("payment_refundable", p.id, f"refundable_amount {p.refundable_amount}, amount {p.amount} − "
             f"pending+succeeded {reserved} = {p.amount - reserved}")
    want = S.PAID if p.refunded_amount == 0 else S.REFUNDED if p.refunded_amount == p.amount \
        else S.PARTIALLY_REFUNDED
    if p.status != want:
        flag("payment_status", p.id, f"{p.status} with refunded {p.refunded_amount} of {p.amount}: "
             f"should be {want}")


def _fmt(movement: dict[tuple[str, str], int]) -> str:
    return ", ".join(f"{a} {v:+d} {c}" for (a, c), v in sorted(movement.items())) or "nothing"
