"""The wallets' part of the ledger check (:mod:`gateway.store.ledger_check` calls it on its snapshot).

What must hold:
* every ``wallet`` ledger entry has its ``wallet_movements`` row (same ref) and the other way round; the
  entry moves the wallet's own accounts by exactly the movement's parts (credit to the customer =
  negative posting), touches no other wallet, and its counters are the movement's merchant's accounts
  (or a channel clearing account);
* every wallet's cash, bonus, held and points equal the sum of its movements and minus the balance of
  its ledger accounts -- and are never negative; ``held`` is what its open holds reserve;
* a credited recharge has exactly its credit (cash = amount, its bonus and points), a pending one none;
  a payment from balance took exactly its attempt's amount.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.money import POINTS
from gateway.domain.wallet import PARTS
from gateway.store.tables import recharges, wallet_holds, wallet_movements, wallets
from gateway.store.wallets import WALLET, part_account, part_currency

Movement = dict[tuple[str, str], int]
Flag = Callable[[str, str, str], None]


@dataclass(frozen=True)
class WalletBooks:
    wallets: dict[str, sa.Row[Any]]
    movements: dict[str, sa.Row[Any]]  # by ref
    recharges: dict[str, sa.Row[Any]]  # by payment id
    open_holds: dict[str, int]          # wallet id -> the amount its unsettled holds reserve


async def load(conn: AsyncConnection) -> WalletBooks:
    return WalletBooks(
        wallets={r.id: r for r in (await conn.execute(sa.select(wallets))).all()},
        movements={r.ref: r for r in (await conn.execute(sa.select(wallet_movements))).all()},
        recharges={r.payment_id: r for r in (await conn.execute(sa.select(recharges))).all()},
        open_holds={w: int(total) for w, total in await conn.execute(
            sa.select(wallet_holds.c.wallet_id, sa.func.sum(wallet_holds.c.amount))
            .where(wallet_holds.c.status == "held").group_by(wallet_holds.c.wallet_id))})


def check(entries: Mapping[int, sa.Row[Any]], per_entry: Mapping[int, Movement], attempts: Mapping[str, sa.Row[Any]],
          books: WalletBooks, flag: Flag) -> dict[tuple[str, str], Movement]:
    """Flag what does not hold; returns the wallet entries' movements (for the balance check)."""
    moved: dict[tuple[str, str], Movement] = {}
    seen: set[str] = set()
    for entry_id, entry in entries.items():
        if entry.kind != WALLET:
            continue
        seen.add(entry.ref)
        lines = per_entry.get(entry_id, {})
        moved[("wallet", entry.ref)] = dict(lines)
        m = books.movements.get(entry.ref)
        if m is None:
            flag("wallet_movement", entry.ref, "a wallet ledger entry without its wallet movement")
            continue
        w = books.wallets.get(m.wallet_id)
        if w is None:
            flag("wallet_movement", entry.ref, f"movement of unknown wallet {m.wallet_id}")
            continue
        want = {(part_account(w.id, p), part_currency(p, w.currency)): -getattr(m, p) for p in PARTS if getattr(m, p)}
        got = {k: v for k, v in lines.items() if k[0].startswith("wallet:") and v}
        if want != got:
            flag("wallet_entry", entry.ref, f"wallet postings {sorted(got.items())}, the movement implies "
                 f"{sorted(want.items())}")
        for (account, _), _v in lines.items():
            if not account.startswith(("wallet:", "channel:")) and not account.endswith(f":{w.merchant_id}"):
                flag("wallet_counter", entry.ref, f"counter {account} is not merchant {w.merchant_id}'s")
    for ref in set(books.movements) - seen:
        flag("wallet_movement", ref, "a wallet movement without its ledger entry")
    _check_wallets(books, moved, flag)
    _check_subjects(books, attempts, flag)
    return moved


def _check_wallets(books: WalletBooks, moved: Mapping[tuple[str, str], Movement], flag: Flag) -> None:
    summed: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for m in books.movements.values():
        for p in PARTS:
            summed[m.wallet_id][p] += getattr(m, p)
    posted: dict[tuple[str, str], int] = defaultdict(int)
    for lines in moved.values():
        for key, v in lines.items():
            posted[key] += v
    for w in books.wallets.values():
        if w.held != books.open_holds.get(w.id, 0):
            flag("wallet_held", w.id, f"held {w.held}, its open holds reserve {books.open_holds.get(w.id, 0)}")
        for p in PARTS:
            have = getattr(w, p)
            if have < 0:
                flag("wallet_negative", w.id, f"{p} is {have}")
            if summed[w.id][p] != have:
                flag("wallet_movements_sum", w.id, f"{p} {have}, its movements sum to {summed[w.id][p]}")
            ledger_balance = -posted.get((part_account(w.id, p), POINTS if p == "points" else w.currency), 0)
            if ledger_balance != have:
                flag("wallet_balance", w.id, f"{p} {have}, its ledger account says {ledger_balance}")


def _check_subjects(books: WalletBooks, attempts: Mapping[str, sa.Row[Any]], flag: Flag) -> None:
    for r in books.recharges.values():
        credit = books.movements.get(f"{r.payment_id}:recharge")
        if r.status == "credited" and (credit is None or (credit.cash, credit.bonus, credit.points)
                                       != (r.amount, r.bonus, r.points)):
            flag("recharge_credit", r.payment_id, "credited, but not by exactly its amount, bonus and points")
        if r.status != "credited" and credit is not None:
            flag("recharge_credit", r.payment_id, f"{r.status}, yet credited")
    for m in books.movements.values():
        if m.kind == "pay":
            a = attempts.get(m.trade_no or "")
            took = -(m.points if a is not None and a.currency == POINTS else m.cash + m.bonus)
            if a is None or took != a.amount:
                flag("wallet_pay", m.ref, f"took {took}, its attempt is for {a.amount if a else '(none)'}")
