"""Stored value in our terms: a wallet's parts, the rule for which part pays, and the port through which
an in-process channel moves it. Pure data, no I/O.

A customer's wallet (one per merchant) has four parts: ``cash`` (money the customer paid in), ``bonus``
(value the merchant gave, e.g. with a recharge package), ``held`` (reserved for a later capture) and
``points`` (a unit of their own, :data:`~gateway.domain.money.POINTS`, never mixed with money).

**The spending rule** (documented for merchants): a payment from balance takes **bonus first, then
cash** -- promotional value goes before the customer's own money, which stays refundable to its original
payment path as long as possible. A refund of such a payment goes back to the parts it came from,
**cash first** (up to the cash that payment took, less cash already given back), then bonus: never more
of a part than the payment took from it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from gateway.domain.money import POINTS, Money

PARTS = ("cash", "bonus", "held", "points")


@dataclass(frozen=True, slots=True)
class Parts:
    """Signed amounts per part, as the customer sees them: positive = credited to the wallet."""

    cash: int = 0
    bonus: int = 0
    held: int = 0
    points: int = 0

    def __post_init__(self) -> None:
        for name in PARTS:
            if type(getattr(self, name)) is not int:
                raise TypeError(f"{name} must be an int")

    def __neg__(self) -> Parts:
        return Parts(-self.cash, -self.bonus, -self.held, -self.points)

    def __add__(self, other: Parts) -> Parts:
        return Parts(self.cash + other.cash, self.bonus + other.bonus, self.held + other.held,
                     self.points + other.points)

    @property
    def money(self) -> int:
        """Cash and bonus together: what a payment from balance moved."""
        return self.cash + self.bonus

    @property
    def zero(self) -> bool:
        return not (self.cash or self.bonus or self.held or self.points)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in PARTS}


def spend(amount: int, *, cash: int, bonus: int) -> Parts | None:
    """The debit paying ``amount`` from a wallet holding ``cash`` and ``bonus``: bonus first, then cash;
    ``None`` when they do not cover it."""
    if amount <= 0 or amount > cash + bonus:
        return None
    from_bonus = min(bonus, amount)
    return Parts(cash=-(amount - from_bonus), bonus=-from_bonus)


def give_back(amount: int, *, taken: Parts, returned: Parts) -> Parts | None:
    """The credit refunding ``amount`` of a payment that ``taken`` (negative parts) paid, of which
    ``returned`` (positive parts) already went back: cash first, then bonus. ``None`` if more than was
    taken would go back."""
    cash_left, bonus_left = -taken.cash - returned.cash, -taken.bonus - returned.bonus
    if amount <= 0 or amount > cash_left + bonus_left:
        return None
    to_cash = min(cash_left, amount)
    return Parts(cash=to_cash, bonus=amount - to_cash)


class Decline(StrEnum):
    """Why a wallet refused a debit (stable codes, the API's error codes)."""

    INSUFFICIENT = "insufficient_balance"
    FROZEN = "wallet_frozen"
    UNKNOWN_TRADE = "unknown_trade"   # no such payment attempt, or not this wallet's merchant's
    AMOUNT_MISMATCH = "amount_mismatch"
    AUTHORIZATION_ENDED = "authorization_ended"  # the hold to capture was released or expired


@dataclass(frozen=True, slots=True)
class Moved:
    """One wallet movement that happened (or had already happened: movements are idempotent by ref)."""

    id: str
    parts: Parts
    currency: str
    at: datetime

    @property
    def amount(self) -> Money:
        """What it moved in its currency: points for a points movement, else cash and bonus."""
        return Money(abs(self.parts.points if self.currency == POINTS else self.parts.money), self.currency)


@dataclass(frozen=True, slots=True)
class Declined:
    code: Decline
    message: str = ""


class StoredValue(Protocol):
    """What an in-process stored-value channel may do with customers' wallets -- the port it is handed
    by the composition root (it never imports the store). Every method is idempotent by its reference
    (the attempt id of a payment, the refund id of a refund) and commits on its own: like a channel,
    the wallet is the system of record for what it did, and the gateway learns it through the channel."""

    async def pay(self, trade_no: str, customer_id: str, amount: Money) -> Moved | Declined:
        """Debit the customer's wallet for the attempt ``trade_no`` (bonus first, then cash; points
        for a points amount). Repeating it returns the first debit."""
        ...

    async def paid(self, trade_no: str) -> Moved | None:
        """The debit made for ``trade_no``, if any."""
        ...

    async def refund(self, refund_no: str, trade_no: str, amount: Money) -> Moved | Declined:
        """Credit back ``amount`` of the debit of ``trade_no`` to the parts it came from."""
        ...

    async def refunded(self, refund_no: str) -> Moved | None:
        """The credit made for ``refund_no``, if any."""
        ...

    async def authorize(self, trade_no: str, customer_id: str, amount: Money, expires_at: datetime) -> Moved | Declined:
        """Reserve ``amount`` (bonus first, then cash) in ``held`` for the attempt ``trade_no`` until
        :meth:`capture` or :meth:`release`, or ``expires_at``. Repeating it returns the first hold."""
        ...

    async def capture(self, trade_no: str) -> Moved | Declined:
        """Turn the attempt's hold into its debit -- the parts it reserved -- before the hold ends;
        afterwards :meth:`paid` finds it. Repeating it returns the debit."""
        ...

    async def release(self, trade_no: str) -> bool:
        """Give the attempt's hold back to the parts it came from; True once it is no longer held
        (released now or before, expired), False if it was captured."""
        ...
