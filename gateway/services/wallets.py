"""Customers' stored value: the wallet book the stored-value channel is handed (:class:`WalletBook`, the
:class:`~gateway.domain.wallet.StoredValue` port), the recharge hooks the settlement calls in its own
transaction, adjustments, freezing, holds, and the merchant's views.

Rules, in one place:
* a payment from balance takes bonus first, then cash; its refunds go back cash first, then bonus, never
  more of a part than it took (:mod:`gateway.domain.wallet`);
* a recharge is an ordinary payment; when it becomes paid (the settlement's paid path, same transaction)
  its amount is credited as cash, plus its package's bonus and points -- once: the recharge row's
  ``pending → credited`` transition and the movement's unique ref both guard it;
* a hold moves bonus first, then cash into ``held``; a capture (before expiry) moves it to the merchant,
  a release or the expiry loop back to the parts it came from -- each once (the hold's conditional
  ``held → captured | released | expired``);
* refunding a recharge takes the refunded amount back out of cash when the refund is opened (refused
  with ``insufficient_balance`` if that much is no longer there: what is spent is not refundable; with
  ``wallet_frozen`` while the wallet is frozen), and
  the package's bonus and points in proportion, as far as they are unspent; a refund that fails gives
  exactly that back.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.errors import InsufficientBalance, InvalidState, NotFound, ValidationFailed, WalletFrozen
from gateway.domain.ids import new_id
from gateway.domain.money import POINTS, Money
from gateway.domain.wallet import Decline, Declined, Moved, Parts, give_back, spend
from gateway.services.views import iso
from gateway.store import events, ledger
from gateway.store import merchants as merchants_repo
from gateway.store import payments as payments_repo
from gateway.store import wallets as store
from gateway.store.base import utcnow
from gateway.store.db import Database
from gateway.store.rows import AttemptRow
from gateway.store.wallets import MovementRow, WalletRow, parts_of

PAY, REFUND, RECHARGE, RECHARGE_REFUND, RECHARGE_REFUND_BACK, ADJUSTMENT = (
    "pay", "refund", "recharge", "recharge_refund", "recharge_refund_back", "adjustment")


# -- views and events ---------------------------------------------------------------------------------

def wallet_view(customer_id: str, wallet: WalletRow | None) -> dict[str, Any]:
    w: Any = wallet or {}
    return {"object": "wallet", "customer_id": customer_id, "currency": w.get("currency", "CNY"),
            "cash": w.get("cash", 0), "bonus": w.get("bonus", 0), "held": w.get("held", 0),
            "available": w.get("cash", 0) + w.get("bonus", 0), "points": w.get("points", 0),
            "status": w.get("status", store.ACTIVE)}


def movement_view(m: MovementRow, customer_id: str) -> dict[str, Any]:
    return {"id": m["id"], "object": "wallet_movement", "customer_id": customer_id, "kind": m["kind"],
            "cash": m["cash"], "bonus": m["bonus"], "held": m["held"], "points": m["points"],
            "ending_balance": {"cash": m["cash_after"], "bonus": m["bonus_after"], "held": m["held_after"],
                               "points": m["points_after"]},
            "payment_id": m["payment_id"], "refund_id": m["refund_id"], "reason": m["reason"],
            "created_at": iso(m["created_at"])}


async def _emit(conn: AsyncConnection, wallet: WalletRow, moved: MovementRow) -> None:
    """``wallet.credited`` or ``wallet.debited`` (by the movement's net), in the movement's transaction."""
    delta = parts_of(moved)
    type_ = "wallet.credited" if delta.cash + delta.bonus + delta.points > 0 else "wallet.debited"  # available
    merchant = await merchants_repo.get_merchant(conn, wallet["merchant_id"])
    await events.emit(conn, wallet["merchant_id"], type_, movement_view(moved, wallet["customer_id"]),
                      deliver=bool(merchant and merchant["webhook_url"]))


async def _move(conn: AsyncConnection, wallet: WalletRow, **kw: Any) -> MovementRow | None:
    moved = await store.move(conn, wallet, **kw)
    if moved is not None:
        await _emit(conn, wallet, moved)
    return moved


def _moved(m: MovementRow, currency: str) -> Moved:
    return Moved(m["id"], parts_of(m), currency, m["created_at"])


# -- the port the stored-value channel is handed --------------------------------------------------------

async def _payer(conn: AsyncConnection, trade_no: str, customer_id: str,
                 amount: Money) -> tuple[AttemptRow, WalletRow | None] | Declined:
    """The attempt ``trade_no`` -- for exactly ``amount`` -- and the customer's wallet, locked (``None``:
    the customer has none yet); or why the wallet may not pay it."""
    attempt = await payments_repo.get_attempt(conn, trade_no)
    if attempt is None:
        return Declined(Decline.UNKNOWN_TRADE, f"no attempt {trade_no}")
    if (attempt["amount"], attempt["currency"]) != (amount.minor, amount.currency):
        return Declined(Decline.AMOUNT_MISMATCH, f"attempt {trade_no} is not for {amount}")
    wallet = await store.get_wallet(conn, attempt["merchant_id"], customer_id, lock=True)
    if wallet is not None and wallet["status"] != store.ACTIVE:
        return Declined(Decline.FROZEN, f"the wallet of customer {customer_id} is frozen")
    return attempt, wallet


class WalletBook:
    """:class:`~gateway.domain.wallet.StoredValue` over the database: each call its own transaction,
    idempotent by its ref (``<attempt>:pay``, ``<refund>:refund``). The attempt and the refund rows say
    which merchant, which channel account and how much -- the channel only names them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def pay(self, trade_no: str, customer_id: str, amount: Money) -> Moved | Declined:
        try:
            async with self.db.begin() as conn:
                return await self._pay(conn, trade_no, customer_id, amount)
        except store.DuplicateMovement:  # the same attempt paid concurrently: the first one stands
            found = await self.paid(trade_no)
            assert found is not None
            return found

    async def _pay(self, conn: AsyncConnection, trade_no: str, customer_id: str, amount: Money) -> Moved | Declined:
        ref = f"{trade_no}:pay"
        if (done := await store.movement(conn, ref)) is not None:
            return _moved(done, amount.currency)
        found = await _payer(conn, trade_no, customer_id, amount)
        if isinstance(found, Declined):
            return found
        attempt, wallet = found
        if amount.currency == POINTS:
            delta = Parts(points=-amount.minor) if wallet and wallet["points"] >= amount.minor else None
        else:
            delta = spend(amount.minor, cash=wallet["cash"], bonus=wallet["bonus"]) if wallet else None
        if wallet is None or delta is None:
            have = wallet_view(customer_id, wallet)
            return Declined(Decline.INSUFFICIENT, f"customer {customer_id} has {have['points']} points"
                            if amount.currency == POINTS else f"customer {customer_id} has {have['available']} "
                            f"available (cash {have['cash']}, bonus {have['bonus']})")
        clearing = ledger.channel_account(attempt["account_id"])
        moved = await _move(conn, wallet, ref=ref, kind=PAY, delta=delta, payment_id=attempt["payment_id"],
                            trade_no=trade_no, counters={"cash": clearing, "bonus": clearing, "points": clearing})
        if moved is None:  # cannot happen under the row lock; the conditional update is the guard anyway
            return Declined(Decline.INSUFFICIENT, "the balance changed")
        return _moved(moved, amount.currency)

    async def paid(self, trade_no: str) -> Moved | None:
        async with self.db.read() as conn:
            found = await store.movement(conn, f"{trade_no}:pay")
            attempt = await payments_repo.get_attempt(conn, trade_no) if found else None
        return _moved(found, attempt["currency"]) if found and attempt else None

    async def refund(self, refund_no: str, trade_no: str, amount: Money) -> Moved | Declined:
        try:
            async with self.db.begin() as conn:
                return await self._refund(conn, refund_no, trade_no, amount)
        except store.DuplicateMovement:
            found = await self.refunded(refund_no)
            assert found is not None
            return found

    async def _refund(self, conn: AsyncConnection, refund_no: str, trade_no: str, amount: Money) -> Moved | Declined:
        ref = f"{refund_no}:refund"
        if (done := await store.movement(conn, ref)) is not None:
            return _moved(done, amount.currency)
        debit = await store.movement(conn, f"{trade_no}:pay")
        attempt = await payments_repo.get_attempt(conn, trade_no)
        if debit is None or attempt is None:
            return Declined(Decline.UNKNOWN_TRADE, f"nothing was paid from a wallet for {trade_no}")
        wallet = await store.wallet_by_id(conn, debit["wallet_id"], lock=True)  # serialises its refunds
        assert wallet is not None
        returned = Parts()
        for m in await store.movements_of_trade(conn, trade_no):
            if m["kind"] == REFUND:
                returned = returned + parts_of(m)
        if amount.currency == POINTS:
            left = -debit["points"] - returned.points
            delta = Parts(points=amount.minor) if 0 < amount.minor <= left else None
        else:
            delta = give_back(amount.minor, taken=parts_of(debit), returned=returned)
        if delta is None:
            return Declined(Decline.AMOUNT_MISMATCH, f"{amount} exceeds what {trade_no} took and has not had back")
        clearing = ledger.channel_account(attempt["account_id"])
        moved = await _move(conn, wallet, ref=ref, kind=REFUND, delta=delta, payment_id=debit["payment_id"],
                            refund_id=refund_no, trade_no=trade_no,
                            counters={"cash": clearing, "bonus": clearing, "points": clearing})
        assert moved is not None  # a credit always applies
        return _moved(moved, amount.currency)

    async def refunded(self, refund_no: str) -> Moved | None:
        async with self.db.read() as conn:
            found = await store.movement(conn, f"{refund_no}:refund")
        if found is None:
            return None
        return _moved(found, POINTS if found["points"] else "CNY")

    # -- a payment authorized now, captured later: a hold tied to its attempt ------------------------------

    async def authorize(self, trade_no: str, customer_id: str, amount: Money, expires_at: datetime) -> Moved | Declined:
        if amount.currency == POINTS:
            return Declined(Decline.AMOUNT_MISMATCH, "points are paid at once, not held")
        try:
            async with self.db.begin() as conn:
                if (done := await store.movement(conn, f"{trade_no}:hold")) is not None:
                    return _moved(done, amount.currency)
                found = await _payer(conn, trade_no, customer_id, amount)
                if isinstance(found, Declined):
                    return found
                attempt, wallet = found
                taken = spend(amount.minor, cash=wallet["cash"], bonus=wallet["bonus"]) if wallet else None
                if wallet is None or taken is None:
                    have = wallet_view(customer_id, wallet)
                    return Declined(Decline.INSUFFICIENT, f"customer {customer_id} has {have['available']} available")
                now = utcnow()
                await store.insert_hold(conn, {
                    "id": new_id("hold"), "merchant_id": attempt["merchant_id"], "wallet_id": wallet["id"],
                    "amount": amount.minor, "cash": -taken.cash, "bonus": -taken.bonus, "status": "held",
                    "reason": f"payment {attempt['payment_id']}", "trade_no": trade_no, "expires_at": expires_at,
                    "created_at": now, "updated_at": now})
                moved = await _move(conn, wallet, ref=f"{trade_no}:hold", kind="hold",
                                    delta=taken + Parts(held=amount.minor), counters={},
                                    payment_id=attempt["payment_id"], trade_no=trade_no)
                assert moved is not None  # under the row lock, with the parts just read
                return _moved(moved, amount.currency)
        except store.DuplicateMovement:  # the same attempt authorized concurrently: the first one stands
            async with self.db.read() as conn:
                held = await store.movement(conn, f"{trade_no}:hold")
            assert held is not None
            return _moved(held, amount.currency)

    async def capture(self, trade_no: str) -> Moved | Declined:
        """The hold goes back to its parts and the same parts are debited for the attempt, in one
        transaction: the debit is then an ordinary one (``<attempt>:pay``), refunded like any other."""
        try:
            async with self.db.begin() as conn:
                if (done := await store.movement(conn, f"{trade_no}:pay")) is not None:
                    return _moved(done, "CNY")
                h = await store.hold_of_trade(conn, trade_no)
                attempt = await payments_repo.get_attempt(conn, trade_no)
                if h is None or attempt is None:
                    return Declined(Decline.UNKNOWN_TRADE, f"nothing is held for {trade_no}")
                wallet = await store.wallet_by_id(conn, h["wallet_id"], lock=True)
                assert wallet is not None
                if wallet["status"] != store.ACTIVE:
                    return Declined(Decline.FROZEN, f"the wallet of customer {wallet['customer_id']} is frozen")
                ended = not await store.end_hold(conn, h["id"], "captured", unexpired=True)
                if not ended:
                    parts = Parts(cash=h["cash"], bonus=h["bonus"])
                    back = await store.move(conn, wallet, ref=f"{h['id']}:release", kind="release",
                                            delta=parts + Parts(held=-h["amount"]), counters={}, frozen_ok=True,
                                            payment_id=attempt["payment_id"], trade_no=trade_no)
                    clearing = ledger.channel_account(attempt["account_id"])
                    moved = await _move(conn, wallet, ref=f"{trade_no}:pay", kind=PAY, delta=-parts,
                                        payment_id=attempt["payment_id"], trade_no=trade_no,
                                        counters={"cash": clearing, "bonus": clearing})
                    assert back is not None and moved is not None  # the parts were just given back, under the lock
                    return _moved(moved, attempt["currency"])
        except store.DuplicateMovement:
            pass
        # Not held any more: captured by a concurrent call (its debit is the answer), or released/expired.
        found = await self.paid(trade_no)
        return found if found is not None else Declined(
            Decline.AUTHORIZATION_ENDED, f"the hold for {trade_no} was released or expired")

    async def release(self, trade_no: str) -> bool:
        async with self.db.begin() as conn:
            h = await store.hold_of_trade(conn, trade_no)
            if h is None:
                return True  # never held
            if await store.end_hold(conn, h["id"], "released"):
                wallet = await store.wallet_by_id(conn, h["wallet_id"])
                assert wallet is not None
                await _settle_hold(conn, wallet, h, capture=False)
                return True
            fresh = await store.hold_of_trade(conn, trade_no)
        return fresh is not None and fresh["status"] != "captured"


# -- recharges: hooks of the settlement, in its transaction ---------------------------------------------

async def credit_recharge(conn: AsyncConnection, payment_id: str) -> MovementRow | None:
    """The payment became paid: if it is a recharge, credit it -- once."""
    recharge = await store.get_recharge(conn, payment_id)
    if recharge is None or not await store.recharge_credited(conn, payment_id):
        return None
    merchant_id = recharge["merchant_id"]
    wallet = await store.ensure_wallet(conn, merchant_id, recharge["customer_id"])
    return await _move(conn, wallet, ref=f"{payment_id}:recharge", kind=RECHARGE, payment_id=payment_id,
                       delta=Parts(cash=recharge["amount"], bonus=recharge["bonus"], points=recharge["points"]),
                       counters=_recharge_counters(merchant_id))


def _recharge_counters(merchant_id: str) -> dict[str, str]:
    return {"cash": ledger.merchant_account(merchant_id), "bonus": store.promo_account(merchant_id),
            "points": store.points_issued_account(merchant_id)}


async def take_back_recharge(conn: AsyncConnection, payment: Any, refund_id: str, amount: int) -> None:
    """A refund of ``amount`` is being opened on ``payment`` (its paid money): if it is a credited
    recharge, take that much cash back now, and the package's bonus and points in proportion as far as
    they are unspent. Raises :class:`InsufficientBalance` when the cash is spent -- the caller's
    transaction rolls back, the refund with it."""
    recharge = await store.get_recharge(conn, payment["id"])
    if recharge is None or recharge["status"] != "credited":
        return
    wallet = await store.get_wallet(conn, recharge["merchant_id"], recharge["customer_id"], lock=True)
    assert wallet is not None
    if wallet["status"] != store.ACTIVE:
        raise WalletFrozen(f"The wallet of customer {recharge['customer_id']} is frozen: its recharges cannot be "
                           "refunded until it is unfrozen")
    bonus = min(wallet["bonus"], recharge["bonus"] * amount // recharge["amount"])
    points = min(wallet["points"], recharge["points"] * amount // recharge["amount"])
    moved = await store.move(conn, wallet, ref=f"{refund_id}:recharge_refund", kind=RECHARGE_REFUND,
                             delta=Parts(cash=-amount, bonus=-bonus, points=-points), payment_id=payment["id"],
                             refund_id=refund_id, counters=_recharge_counters(recharge["merchant_id"]))
    if moved is None:
        raise InsufficientBalance(
            f"Only {wallet['cash']} of this recharge's cash is unspent; a refund of a recharge takes back "
            f"unspent cash only", unspent_amount=wallet["cash"],
            errors=[{"field": "amount", "message": f"at most {wallet['cash']}"}])
    await _emit(conn, wallet, moved)


async def return_recharge_take(conn: AsyncConnection, refund_id: str) -> None:
    """The refund failed: what :func:`take_back_recharge` took goes back, exactly."""
    taken = await store.movement(conn, f"{refund_id}:recharge_refund")
    if taken is None:
        return
    wallet = await store.wallet_by_id(conn, taken["wallet_id"])
    assert wallet is not None
    await _move(conn, wallet, ref=f"{refund_id}:recharge_refund_back", kind=RECHARGE_REFUND_BACK,
                delta=-parts_of(taken), payment_id=taken["payment_id"], refund_id=refund_id,
                counters=_recharge_counters(wallet["merchant_id"]))


# -- merchant operations --------------------------------------------------------------------------------

async def get_wallet(db: Database, merchant_id: str, customer_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        return wallet_view(customer_id, await store.get_wallet(conn, merchant_id, customer_id))


async def adjust(db: Database, merchant_id: str, customer_id: str, delta: Parts, reason: str) -> dict[str, Any]:
    """An operator's correction: signed amounts per part (no holds), against the merchant's adjustment
    (cash), promotion (bonus) and points-issued accounts. A debit past a part's balance is refused whole."""
    if delta.held:
        raise ValidationFailed("held cannot be adjusted", errors=[{"field": "held", "message": "not adjustable"}])
    if delta.zero:
        raise ValidationFailed("Nothing to adjust", errors=[{"field": "body", "message": "give cash, bonus or points"}])
    async with db.begin() as conn:
        wallet = await store.ensure_wallet(conn, merchant_id, customer_id)
        moved = await _move(conn, wallet, ref=f"{new_id('adj')}:adjustment", kind=ADJUSTMENT, delta=delta,
                            reason=reason, counters={"cash": store.adjustments_account(merchant_id),
                                                     "bonus": store.promo_account(merchant_id),
                                                     "points": store.points_issued_account(merchant_id)})
        if moved is None:
            if wallet["status"] != store.ACTIVE:
                raise WalletFrozen(f"The wallet of customer {customer_id} is frozen; it takes credits only")
            raise InsufficientBalance(f"The adjustment would take customer {customer_id}'s balance below zero",
                                      wallet=wallet_view(customer_id, wallet))
    return movement_view(moved, customer_id)


async def set_frozen(db: Database, merchant_id: str, customer_id: str, frozen: bool) -> dict[str, Any]:
    async with db.begin() as conn:
        wallet = await store.ensure_wallet(conn, merchant_id, customer_id)
        await store.set_status(conn, wallet["id"], from_=store.ACTIVE if frozen else store.FROZEN,
                               to=store.FROZEN if frozen else store.ACTIVE)
        return wallet_view(customer_id, await store.wallet_by_id(conn, wallet["id"]))


async def statement(db: Database, merchant_id: str, customer_id: str, *, limit: int,
                    after: tuple[datetime, str] | None) -> list[MovementRow]:
    async with db.read() as conn:
        wallet = await store.get_wallet(conn, merchant_id, customer_id)
        return [] if wallet is None else await store.statement(conn, wallet["id"], limit=limit, after=after)


async def create_package(db: Database, merchant_id: str, *, name: str, price: int, bonus: int, points: int,
                         sort_order: int) -> dict[str, Any]:
    row = {"id": new_id("pkg"), "merchant_id": merchant_id, "name": name, "price": price, "bonus": bonus,
           "points": points, "active": True, "sort_order": sort_order, "created_at": utcnow()}
    async with db.begin() as conn:
        await store.insert_package(conn, row)
    return package_view(row)


def package_view(p: Any) -> dict[str, Any]:
    return {"id": p["id"], "object": "recharge_package", "name": p["name"], "price": p["price"],
            "bonus": p["bonus"], "points": p["points"], "active": bool(p["active"]),
            "sort_order": p["sort_order"], "created_at": iso(p["created_at"])}


async def require_package(conn: AsyncConnection, merchant_id: str, package_id: str) -> Any:
    package = await store.get_package(conn, merchant_id, package_id)
    if package is None or not package["active"]:
        raise NotFound(f"No active recharge package {package_id}")
    return package


async def list_packages(db: Database, merchant_id: str) -> list[dict[str, Any]]:
    async with db.read() as conn:
        return [package_view(p) for p in await store.list_packages(conn, merchant_id)]


# -- holds (two-phase): reserve now, capture to the merchant or release later; expiry releases -----------

def hold_view(h: Any, customer_id: str) -> dict[str, Any]:
    return {"id": h["id"], "object": "wallet_hold", "customer_id": customer_id, "amount": h["amount"],
            "cash": h["cash"], "bonus": h["bonus"], "status": h["status"], "reason": h["reason"],
            "expires_at": iso(h["expires_at"]), "created_at": iso(h["created_at"])}


async def hold(db: Database, merchant_id: str, customer_id: str, amount: int, *, expires_in: int,
               reason: str | None) -> dict[str, Any]:
    """Move ``amount`` (bonus first, then cash) into ``held`` until captured, released or expired."""
    hold_id, now = new_id("hold"), utcnow()
    async with db.begin() as conn:
        wallet = await store.ensure_wallet(conn, merchant_id, customer_id)
        wallet = await store.wallet_by_id(conn, wallet["id"], lock=True) or wallet
        if wallet["status"] != store.ACTIVE:
            raise WalletFrozen(f"The wallet of customer {customer_id} is frozen")
        taken = spend(amount, cash=wallet["cash"], bonus=wallet["bonus"])
        if taken is None:
            raise InsufficientBalance(f"Customer {customer_id} has {wallet['cash'] + wallet['bonus']} available",
                                      wallet=wallet_view(customer_id, wallet))
        row = {"id": hold_id, "merchant_id": merchant_id, "wallet_id": wallet["id"], "amount": amount,
               "cash": -taken.cash, "bonus": -taken.bonus, "status": "held", "reason": reason,
               "expires_at": now + timedelta(seconds=expires_in), "created_at": now, "updated_at": now}
        await store.insert_hold(conn, row)
        moved = await _move(conn, wallet, ref=f"{hold_id}:hold", kind="hold", delta=taken + Parts(held=amount),
                            counters={}, reason=reason)
        if moved is None:
            raise InsufficientBalance(f"Customer {customer_id}'s balance changed")
    return hold_view(row, customer_id)


async def end_hold(db: Database, merchant_id: str, customer_id: str, hold_id: str, *, capture: bool) -> dict[str, Any]:
    """Capture (held → the merchant, before expiry) or release (held → the parts it came from)."""
    async with db.begin() as conn:
        found = await store.get_hold(conn, merchant_id, hold_id)
        wallet = await store.wallet_by_id(conn, found["wallet_id"]) if found else None
        if found is None or wallet is None or wallet["customer_id"] != customer_id:
            raise NotFound(f"No hold {hold_id}")
        if not await store.end_hold(conn, hold_id, "captured" if capture else "released", unexpired=capture):
            raise InvalidState(f"Hold {hold_id} is {found['status']}"
                               + (" or expired" if capture and found["status"] == "held" else ""))
        await _settle_hold(conn, wallet, found, capture=capture)
        fresh = await store.get_hold(conn, merchant_id, hold_id)
    return hold_view(fresh, customer_id)


async def _settle_hold(conn: AsyncConnection, wallet: WalletRow, h: Any, *, capture: bool) -> None:
    if capture:
        delta = Parts(held=-h["amount"])
        counters = {"held": ledger.merchant_account(h["merchant_id"])}
    else:
        delta, counters = Parts(cash=h["cash"], bonus=h["bonus"], held=-h["amount"]), {}
    moved = await _move(conn, wallet, ref=f"{h['id']}:{'capture' if capture else 'release'}",
                        kind="capture" if capture else "release", delta=delta, counters=counters, reason=h["reason"],
                        frozen_ok=not capture)
    if moved is None:
        raise WalletFrozen(f"The wallet of hold {h['id']} is frozen")


async def release_expired(db: Database, limit: int = 50) -> int:
    """Release every hold past its expiry (any process may run it: each release applies once)."""
    async with db.read() as conn:
        due = await store.expired_holds(conn, limit)
    for h in due:
        async with db.begin() as conn:
            if await store.end_hold(conn, h["id"], "expired"):
                wallet = await store.wallet_by_id(conn, h["wallet_id"])
                assert wallet is not None
                await _settle_hold(conn, wallet, h, capture=False)
    return len(due)
