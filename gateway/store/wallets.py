"""Customers' wallets, recharge packages and recharges: rows, lookups, and the one way a balance changes.

:func:`move` is that way: a conditional ``UPDATE wallets SET cash = cash + :d … WHERE cash + :d >= 0 …``
(a debit of a frozen wallet does not apply), then the ``wallet_movements`` row with the balances after,
then its balanced ledger entry -- both under the same unique ``ref`` -- in the caller's transaction. The
``CHECK (cash >= 0 AND …)`` backs the condition: no code path can overdraw a wallet.

Ledger accounts (debit +, credit −; a wallet's parts are credits: what is owed to the customer):
* ``wallet:<wallet_id>:cash|bonus|held`` (CNY) and ``wallet:<wallet_id>:points`` (PTS);
* counters: ``merchant:<m>`` (a recharge's cash moves from the merchant's balance into the wallet; a
  captured hold moves back to it),
  ``promo:<m>`` (the merchant's cost of bonus), ``points_issued:<m>`` (PTS), ``adjustments:<m>`` (an
  operator's corrections of cash), ``channel:<account>`` (clearing of the stored-value channel: a payment
  from balance moves wallet → clearing, its receipt clearing → merchant, like any channel).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypedDict, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.ids import new_id
from gateway.domain.money import POINTS, Money
from gateway.domain.wallet import PARTS, Parts
from gateway.store import ledger
from gateway.store.base import Row, all_rows, by, is_unique_violation, newest_first, one, utcnow
from gateway.store.tables import recharge_packages, recharges, wallet_holds, wallet_movements, wallets

WALLET = "wallet"  # the ledger entry kind of every wallet movement
ACTIVE, FROZEN = "active", "frozen"


class WalletRow(TypedDict):
    id: str
    merchant_id: str
    customer_id: str
    currency: str
    cash: int
    bonus: int
    held: int
    points: int
    status: str  # active | frozen
    created_at: datetime
    updated_at: datetime


class MovementRow(TypedDict):
    id: str
    ref: str
    wallet_id: str
    merchant_id: str
    kind: str
    cash: int
    bonus: int
    held: int
    points: int
    cash_after: int
    bonus_after: int
    held_after: int
    points_after: int
    payment_id: str | None
    refund_id: str | None
    trade_no: str | None
    reason: str | None
    created_at: datetime


class DuplicateMovement(ValueError):
    """A movement with this ``ref`` exists: the caller's transaction must roll back (its UPDATE too)."""


def part_account(wallet_id: str, part: str) -> str:
    return f"wallet:{wallet_id}:{part}"


def promo_account(merchant_id: str) -> str:
    return f"promo:{merchant_id}"


def points_issued_account(merchant_id: str) -> str:
    return f"points_issued:{merchant_id}"


def adjustments_account(merchant_id: str) -> str:
    return f"adjustments:{merchant_id}"


def part_currency(part: str, currency: str) -> str:
    return POINTS if part == "points" else currency


def parts_of(row: Mapping[str, Any]) -> Parts:
    return Parts(row["cash"], row["bonus"], row["held"], row["points"])


# -- wallets --------------------------------------------------------------------------------------------

async def get_wallet(conn: AsyncConnection, merchant_id: str, customer_id: str, *,
                     lock: bool = False) -> WalletRow | None:
    stmt = sa.select(wallets).where(wallets.c.merchant_id == merchant_id, wallets.c.customer_id == customer_id)
    return cast(WalletRow | None, await one(conn, stmt.with_for_update() if lock else stmt))


async def list_wallets(conn: AsyncConnection, merchant_id: str, *, limit: int,
                       after: tuple[datetime, str] | None = None, customer_prefix: str = "") -> list[WalletRow]:
    """A merchant's wallets, newest first (the console's list), optionally those whose customer id starts
    with ``customer_prefix``."""
    stmt = sa.select(wallets).where(wallets.c.merchant_id == merchant_id)
    if customer_prefix:
        escaped = customer_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(wallets.c.customer_id.like(escaped + "%", escape="\\"))
    return cast(list[WalletRow], await all_rows(conn, newest_first(stmt, wallets, after, limit)))


async def wallet_by_id(conn: AsyncConnection, wallet_id: str, *, lock: bool = False) -> WalletRow | None:
    stmt = sa.select(wallets).where(wallets.c.id == wallet_id)
    return cast(WalletRow | None, await one(conn, stmt.with_for_update() if lock else stmt))


async def ensure_wallet(conn: AsyncConnection, merchant_id: str, customer_id: str,
                        currency: str = "CNY") -> WalletRow:
    """The customer's wallet, opened empty on first use (a concurrent opener's row wins the unique key)."""
    found = await get_wallet(conn, merchant_id, customer_id)
    if found is not None:
        return found
    now = utcnow()
    try:
        async with conn.begin_nested():
            await conn.execute(sa.insert(wallets), dict(
                id=new_id("wal"), merchant_id=merchant_id, customer_id=customer_id, currency=currency,
                status=ACTIVE, created_at=now, updated_at=now))
    except IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
    found = await get_wallet(conn, merchant_id, customer_id)
    assert found is not None
    return found


async def set_status(conn: AsyncConnection, wallet_id: str, *, from_: str, to: str) -> bool:
    """``active ↔ frozen``; reports whether it applied."""
    result = await conn.execute(sa.update(wallets).where(wallets.c.id == wallet_id, wallets.c.status == from_)
                                .values(status=to, updated_at=utcnow()))
    return result.rowcount == 1


async def move(conn: AsyncConnection, wallet: Mapping[str, Any], *, ref: str, kind: str, delta: Parts,
               counters: Mapping[str, str], payment_id: str | None = None, refund_id: str | None = None,
               trade_no: str | None = None, reason: str | None = None, frozen_ok: bool = False) -> MovementRow | None:
    """Apply ``delta`` to ``wallet`` (a row: its ``id``, ``merchant_id``, ``currency``): returns the
    movement, or ``None`` when it did not apply -- a part would go below zero, or it debits a frozen
    wallet. ``counters`` names, per changed part, the account on the other side of its postings (parts
    without one must balance each other, as a hold does). A ``ref`` already used raises
    :class:`DuplicateMovement`."""
    c = wallets.c
    conditions = [c.id == wallet["id"]]
    values: dict[str, object] = {"updated_at": utcnow()}
    for part in PARTS:
        d = getattr(delta, part)
        if d:
            values[part] = c[part] + d
        if d < 0:
            conditions.append(c[part] >= -d)
    if any(getattr(delta, p) < 0 for p in PARTS) and not frozen_ok:  # (a hold's release is not a debit)
        conditions.append(c.status == ACTIVE)
    if (await conn.execute(sa.update(wallets).where(*conditions).values(**values))).rowcount != 1:
        return None
    after = await wallet_by_id(conn, wallet["id"])
    assert after is not None
    row: MovementRow = {
        "id": new_id("wm"), "ref": ref, "wallet_id": wallet["id"], "merchant_id": wallet["merchant_id"],
        "kind": kind, **delta.as_dict(),  # type: ignore[typeddict-item]
        "cash_after": after["cash"], "bonus_after": after["bonus"], "held_after": after["held"],
        "points_after": after["points"], "payment_id": payment_id, "refund_id": refund_id,
        "trade_no": trade_no, "reason": reason, "created_at": utcnow()}
    try:
        await conn.execute(sa.insert(wallet_movements), row)
    except IntegrityError as exc:
        if is_unique_violation(exc):
            raise DuplicateMovement(f"wallet movement {ref} already recorded") from None
        raise
    await ledger.post(conn, ref=ref, kind=WALLET, merchant_id=wallet["merchant_id"], payment_id=payment_id,
                      refund_id=refund_id, postings=postings(wallet["id"], wallet["currency"], delta, counters))
    return row


def postings(wallet_id: str, currency: str, delta: Parts, counters: Mapping[str, str]) -> list[tuple[str, Money]]:
    """The ledger postings of a movement: each changed part on its wallet account (a credit to the
    customer is a credit, negative), the opposite on its counter; merged per account."""
    sums: dict[tuple[str, str], int] = defaultdict(int)
    for part in PARTS:
        d = getattr(delta, part)
        if not d:
            continue
        cur = part_currency(part, currency)
        sums[(part_account(wallet_id, part), cur)] -= d
        if part in counters:
            sums[(counters[part], cur)] += d
    return [(account, Money(v, cur)) for (account, cur), v in sums.items() if v]


# -- movements -------------------------------------------------------------------------------------------

async def movement(conn: AsyncConnection, ref: str) -> MovementRow | None:
    return cast(MovementRow | None, await one(conn, sa.select(wallet_movements).where(wallet_movements.c.ref == ref)))


async def movements_of_trade(conn: AsyncConnection, trade_no: str) -> list[MovementRow]:
    """The debit of an attempt and every credit back of it (refunds), oldest first."""
    return cast(list[MovementRow], await all_rows(conn, sa.select(wallet_movements)
                                                  .where(wallet_movements.c.trade_no == trade_no)
                                                  .order_by(wallet_movements.c.created_at, wallet_movements.c.id)))


async def statement(conn: AsyncConnection, wallet_id: str, *, limit: int,
                    after: tuple[datetime, str] | None = None) -> list[MovementRow]:
    """A wallet's movements, newest first, keyset-paginated on ``(created_at, id)``."""
    c = wallet_movements.c
    stmt = sa.select(wallet_movements).where(c.wallet_id == wallet_id)
    return cast(list[MovementRow], await all_rows(conn, newest_first(stmt, wallet_movements, after, limit)))


# -- packages and recharges ------------------------------------------------------------------------------

async def insert_package(conn: AsyncConnection, row: Row) -> None:
    await conn.execute(sa.insert(recharge_packages), row)


async def get_package(conn: AsyncConnection, merchant_id: str, package_id: str) -> Row | None:
    return await one(conn, sa.select(recharge_packages).where(recharge_packages.c.id == package_id,
                                                              recharge_packages.c.merchant_id == merchant_id))


async def list_packages(conn: AsyncConnection, merchant_id: str) -> list[Row]:
    c = recharge_packages.c
    return await all_rows(conn, sa.select(recharge_packages).where(c.merchant_id == merchant_id)
                          .order_by(c.sort_order, c.created_at, c.id))


async def insert_recharge(conn: AsyncConnection, row: Row) -> None:
    await conn.execute(sa.insert(recharges), row)


_RECHARGE = sa.select(recharges).where(by(payment_id=recharges.c.payment_id))


async def get_recharge(conn: AsyncConnection, payment_id: str) -> Row | None:
    return await one(conn, _RECHARGE, {"payment_id": payment_id})


async def recharge_credited(conn: AsyncConnection, payment_id: str) -> bool:
    """``pending → credited``: the once-only gate of a recharge's credit."""
    result = await conn.execute(sa.update(recharges).where(recharges.c.payment_id == payment_id,
                                                           recharges.c.status == "pending")
                                .values(status="credited", credited_at=utcnow()))
    return result.rowcount == 1


# -- holds: cash and bonus reserved in ``held`` until captured, released or expired ---------------------

async def insert_hold(conn: AsyncConnection, row: Row) -> None:
    await conn.execute(sa.insert(wallet_holds), row)


async def get_hold(conn: AsyncConnection, merchant_id: str, hold_id: str) -> Row | None:
    """A hold made through the wallet API (a payment's hold is its payment's business)."""
    return await one(conn, sa.select(wallet_holds).where(wallet_holds.c.id == hold_id,
                                                         wallet_holds.c.merchant_id == merchant_id,
                                                         wallet_holds.c.trade_no.is_(None)))


async def hold_of_trade(conn: AsyncConnection, trade_no: str) -> Row | None:
    """The hold reserving for the payment attempt ``trade_no``, if any."""
    return await one(conn, sa.select(wallet_holds).where(wallet_holds.c.trade_no == trade_no))


async def end_hold(conn: AsyncConnection, hold_id: str, to: str, *, unexpired: bool = False) -> bool:
    """``held → captured | released | expired``, once; ``unexpired``: only before its expiry (a capture)."""
    stmt = sa.update(wallet_holds).where(wallet_holds.c.id == hold_id, wallet_holds.c.status == "held")
    if unexpired:
        stmt = stmt.where(wallet_holds.c.expires_at > utcnow())
    return (await conn.execute(stmt.values(status=to, updated_at=utcnow()))).rowcount == 1


async def expired_holds(conn: AsyncConnection, limit: int) -> list[Row]:
    c = wallet_holds.c
    return await all_rows(conn, sa.select(wallet_holds).where(c.status == "held", c.expires_at <= utcnow())
                          .order_by(c.expires_at).limit(limit))
