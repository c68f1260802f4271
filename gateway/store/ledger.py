"""The money journal: append-only, double-entry. Each movement is one entry with a unique ``ref``
(written at most once, ever) whose postings sum to zero per currency; balances are sums of postings.
Nothing here updates or deletes: a mistake is corrected by a new entry (:func:`reverse`).

Accounts:
* ``channel:<account_id>`` -- money held for us at a channel account (clearing). Debit (positive) = in.
* ``merchant:<merchant_id>`` -- what the gateway owes the merchant. Credit (negative) = owed.
* ``fees:<account_id>`` -- what a channel charged (room for fee entries; nothing posts them yet).

Entry kinds and refs (one entry per movement; the unique ref is what makes retries harmless):
* ``payment_received`` ``<attempt_id>:received`` -- channel +amount, merchant −amount;
* ``refund`` ``<refund_id>:refunded`` -- merchant +amount, channel −amount;
* ``reversal`` ``<ref>:reversal`` -- the exact mirror of the entry ``<ref>``;
* ``wallet`` -- a movement of a customer's wallet, under its movement's ref (:mod:`gateway.store.wallets`).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.money import Money
from gateway.store.base import Row, all_rows, insert, is_unique_violation, one, utcnow
from gateway.store.tables import ledger_entries, ledger_postings

RECEIVED, REFUND, REVERSAL = "payment_received", "refund", "reversal"


class UnbalancedEntry(ValueError):
    """Postings that do not sum to zero per currency, or fewer than two, or a zero posting."""


class DuplicateEntry(ValueError):
    """An entry with this ``ref`` exists: the movement was already recorded."""


def check_balanced(ref: str, postings: Sequence[tuple[str, Money]]) -> None:
    if len(postings) < 2 or any(m.minor == 0 for _, m in postings):
        raise UnbalancedEntry(f"entry {ref}: at least two non-zero postings are needed")
    totals: dict[str, int] = defaultdict(int)
    for _, m in postings:
        totals[m.currency] += m.minor
    if any(totals.values()):
        raise UnbalancedEntry(f"entry {ref} does not balance: {dict(totals)}")


async def post(conn: AsyncConnection, *, ref: str, kind: str, merchant_id: str,
               postings: Sequence[tuple[str, Money]], payment_id: str | None = None,
               refund_id: str | None = None) -> int:
    """Write one balanced entry; returns its id. Called inside the transaction of the state change it
    records, after that change applied -- so a rolled-back change leaves no entry. A second entry with
    the same ``ref`` raises :class:`DuplicateEntry` (the unique index is the guard, not a lookup)."""
    check_balanced(ref, postings)
    try:  # no savepoint: a duplicate is a bug in the caller, whose transaction must roll back
        entry_id = await insert(conn, ledger_entries, dict(
            ref=ref, kind=kind, merchant_id=merchant_id, payment_id=payment_id, refund_id=refund_id,
            created_at=utcnow()))
    except IntegrityError as exc:
        if is_unique_violation(exc):
            raise DuplicateEntry(f"entry {ref} already recorded") from None
        raise
    assert entry_id is not None
    await insert(conn, ledger_postings, [
        {"entry_id": entry_id, "account": account, "amount": m.minor, "currency": m.currency}
        for account, m in postings])
    return entry_id


async def reverse(conn: AsyncConnection, ref: str, *, kind: str = REVERSAL) -> int:
    """Cancel the entry ``ref`` by posting its mirror (ref ``<ref>:reversal``), at most once."""
    entry = await one(conn, sa.select(ledger_entries).where(ledger_entries.c.ref == ref))
    if entry is None:
        raise LookupError(f"no ledger entry {ref}")
    lines = await postings_of(conn, entry["id"])
    return await post(conn, ref=f"{ref}:reversal", kind=kind, merchant_id=entry["merchant_id"],
                      payment_id=entry["payment_id"], refund_id=entry["refund_id"],
                      postings=[(p["account"], -Money(p["amount"], p["currency"])) for p in lines])


async def postings_of(conn: AsyncConnection, entry_id: int) -> list[Row]:
    return await all_rows(conn, sa.select(ledger_postings).where(ledger_postings.c.entry_id == entry_id)
                          .order_by(ledger_postings.c.id))


async def balance(conn: AsyncConnection, account: str) -> dict[str, int]:
    """One account's balance per currency, summed from its postings."""
    rows = await conn.execute(
        sa.select(ledger_postings.c.currency, sa.func.sum(ledger_postings.c.amount))
        .where(ledger_postings.c.account == account).group_by(ledger_postings.c.currency))
    return {cur: int(total) for cur, total in rows}


async def balances(conn: AsyncConnection) -> dict[tuple[str, str], int]:
    """Every account's balance per currency: ``{(account, currency): minor}``."""
    rows = await conn.execute(
        sa.select(ledger_postings.c.account, ledger_postings.c.currency, sa.func.sum(ledger_postings.c.amount))
        .group_by(ledger_postings.c.account, ledger_postings.c.currency))
    return {(account, cur): int(total) for account, cur, total in rows}


def channel_account(account_id: str) -> str:
    return f"channel:{account_id}"


def merchant_account(merchant_id: str) -> str:
    return f"merchant:{merchant_id}"
