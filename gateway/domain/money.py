"""Money: integer minor units in one type, end to end.

A channel's own format (Alipay's ``"12.34"`` yuan strings, bills in yuan) is converted only at that
channel's edge, with :func:`format_major` and :func:`parse_major` -- exact string arithmetic, no float.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

POINTS = "PTS"  # customers' points (gateway.store.wallets): never money, never converted

# ISO 4217 codes with their minor-unit exponent. Only CNY is settled by the channels we speak; the
# others are known so that an unsupported currency gets a different answer from a made-up one.
CURRENCY_EXPONENTS: dict[str, int] = {
    "CNY": 2, "HKD": 2, "USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "KRW": 0, "SGD": 2, "AUD": 2,
    "CAD": 2, "CHF": 2, "MOP": 2, "TWD": 2, "THB": 2, "NZD": 2, "MYR": 2,
    POINTS: 0,  # not ISO: loyalty points, a unit of their own (the ledger balances each currency apart)
}
SUPPORTED_CURRENCIES = frozenset({"CNY"})
MAX_AMOUNT = 10_000_000_000  # 100,000,000.00 yuan: Alipay's ceiling for one trade

_MAJOR = re.compile(r"(-?)(0|[1-9][0-9]{0,15})(?:\.([0-9]{1,2}))?")  # whole string: fullmatch


class MoneyError(ValueError):
    """A value that is not an exact amount of money."""


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An amount in integer minor units (fen for CNY) and its ISO 4217 currency."""

    minor: int
    currency: str = "CNY"

    def __post_init__(self) -> None:
        if type(self.minor) is not int:  # bool and float are not money
            raise MoneyError(f"amount must be an integer number of minor units, got {type(self.minor).__name__}")
        if self.currency not in CURRENCY_EXPONENTS:
            raise MoneyError(f"unknown currency {self.currency!r}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money) or other.currency != self.currency:
            raise MoneyError("cannot combine amounts in different currencies")

    @property
    def major_str(self) -> str:
        return format_major(self.minor, self.currency)


def exponent(currency: str) -> int:
    return CURRENCY_EXPONENTS[currency]


def format_major(minor: int, currency: str = "CNY") -> str:
    """``1234`` fen → ``"12.34"``; exact, signed, always with the currency's decimals."""
    if type(minor) is not int:
        raise MoneyError("minor units must be an int")
    exp = exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exp)
    return f"{sign}{whole}.{frac:0{exp}d}" if exp else f"{sign}{whole}"


def parse_major(value: str | int | Decimal, currency: str = "CNY") -> int:
    """``"12.34"`` → ``1234``. Accepts a decimal string, an int or a Decimal (a JSON number parsed
    with ``parse_float=Decimal``); rejects anything with more decimals than the currency has.
    A string -- a bill's million cells, every callback's amount -- takes one regular-expression match."""
    if type(value) is not str:
        if isinstance(value, bool):
            raise MoneyError("not an amount")
        if isinstance(value, int):
            return value * 10 ** CURRENCY_EXPONENTS[currency]
        if not isinstance(value, Decimal):
            raise MoneyError("not an amount")
        value = format(value, "f")
    exp = CURRENCY_EXPONENTS[currency]
    m = _MAJOR.fullmatch(value)
    if m is None:
        raise MoneyError(f"not an exact amount: {value!r}")
    sign, whole, frac = m.groups()
    if frac is None:
        minor = int(whole) * 10**exp
    elif len(frac) > exp:
        raise MoneyError(f"not an exact amount: {value!r}")
    else:
        minor = int(whole) * 10**exp + int(frac) * 10 ** (exp - len(frac))
    return -minor if sign else minor
