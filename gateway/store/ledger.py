"""The money journal: append-only, double-entry. Each movement is one entry with a unique ``ref``
(written at most once, ever) whose postings sum to zero; balances are sums of postings.

Accounts:
* ``channel:<account_id>`` -- money held for us at a channel account (clearing). Debit = in.
* ``merchant:<merchant_id>`` -- what the gateway owes the merchant. Credit (negative) = owed.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.money import Money
from gateway.store.base import utcnow
from gateway.store.tables import ledger_entries, ledger_postings


class UnbalancedEntry(ValueError):
    pass


async def post(conn: AsyncConnection, *, ref: str, kind: str, merchant_id: str,
               postings: Sequence[tuple[str, Money]], payment_id: str | None = None,
               refund_id: str | None = None) -> None:
    """Write one balanced entry. Called inside the transaction of the state change it records."""
    currencies = {m.currency for _, m in postings}
    if len(currencies) != 1 or sum(m.minor for _, m in postings) != 0:
        raise UnbalancedEntry(f"entry {ref} does not balance")
    result = await conn.execute(sa.insert(ledger_entries).values(
        ref=ref, kind=kind, merchant_id=merchant_id, payment_id=payment_id, refund_id=refund_id,
        created_at=utcnow()))
    entry_id = result.inserted_primary_key[0]
    await conn.execute(sa.insert(ledger_postings), [
        {"entry_id": entry_id, "account": account, "amount": m.minor, "currency": m.currency}
        for account, m in postings])


async def balance(conn: AsyncConnection, account: str) -> dict[str, int]:
    rows = await conn.execute(
        sa.select(ledger_postings.c.currency, sa.func.sum(ledger_postings.c.amount))
        .where(ledger_postings.c.account == account).group_by(ledger_postings.c.currency))
    return {cur: int(total) for cur, total in rows}


def channel_account(account_id: str) -> str:
    return f"channel:{account_id}"


def merchant_account(merchant_id: str) -> str:
    return f"merchant:{merchant_id}"
