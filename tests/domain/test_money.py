"""Money is exact: property tests over the minor-unit type and the yuan-string conversions."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.money import MAX_AMOUNT, Money, MoneyError, format_major, parse_major

fen = st.integers(min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT)


@given(fen)
def test_format_then_parse_is_identity(minor: int) -> None:
    assert parse_major(format_major(minor)) == minor


@given(fen)
def test_format_has_exactly_two_decimals(minor: int) -> None:
    text = format_major(minor)
    assert text.split(".")[1].isdigit() and len(text.split(".")[1]) == 2
    assert Decimal(text) * 100 == minor


@given(st.integers(0, 10**12), st.integers(0, 99))
def test_parse_of_decimal_strings(whole: int, cents: int) -> None:
    assert parse_major(f"{whole}.{cents:02d}") == whole * 100 + cents
    assert parse_major(Decimal(f"{whole}.{cents:02d}")) == whole * 100 + cents


@pytest.mark.parametrize("bad", ["1.234", "1e2", "0x10", "", ".5", "1.", " 1", "NaN", "Infinity", "01.00", "--1",
                                 1.5, True, None])
def test_parse_rejects_inexact_or_odd_values(bad: object) -> None:
    with pytest.raises(MoneyError):
        parse_major(bad)  # type: ignore[arg-type]


@given(fen, fen)
def test_arithmetic_stays_integral(a: int, b: int) -> None:
    total = Money(a) + Money(b)
    assert total.minor == a + b and type(total.minor) is int
    assert (Money(a) - Money(b)).minor == a - b


@pytest.mark.parametrize("bad", [1.0, "1", True, Decimal("1")])
def test_money_refuses_non_int(bad: object) -> None:
    with pytest.raises(MoneyError):
        Money(bad)  # type: ignore[arg-type]


def test_currencies_do_not_mix() -> None:
    with pytest.raises(MoneyError):
        Money(1, "CNY") + Money(1, "HKD")
    with pytest.raises(MoneyError):
        Money(1, "ABC")
    assert format_major(5, "JPY") == "5" and parse_major("5", "JPY") == 5


@given(st.text(alphabet="0123456789.-+ e\n\t²٣", max_size=14), st.sampled_from(["CNY", "JPY"]))
def test_a_string_is_parsed_exactly_or_refused(text: str, currency: str) -> None:
    """What a channel sends is one canonical decimal (no sign but "-", no leading zero, at most the
    currency's decimals, nothing around it) converted exactly -- anything else is refused."""
    decimals = 2 if currency == "CNY" else 0
    fraction = r"(\.[0-9]{1,2})?" if decimals else ""
    canonical = re.fullmatch(r"-?(0|[1-9][0-9]{0,15})" + fraction, text)
    try:
        got = parse_major(text, currency)
    except MoneyError:
        assert canonical is None
        return
    assert canonical is not None and got == int(Decimal(text) * 10**decimals)
