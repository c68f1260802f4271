"""Which channel a payment code belongs to: by length and prefix alone (each channel's rule, from the
registry), the rules disjoint."""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.channels.registry import payment_code_rules
from gateway.domain import barcode

RULES = tuple(payment_code_rules())
digits = st.text(alphabet="0123456789", min_size=0, max_size=30)


@given(st.sampled_from(["10", "11", "12", "13", "14", "15"]), st.text(alphabet="0123456789", min_size=16, max_size=16))
def test_wechat_codes(prefix: str, rest: str) -> None:
    assert barcode.resolve("barcode", prefix + rest, RULES) == "wechat_barcode"


@given(st.sampled_from(["25", "26", "27", "28", "29", "30"]), st.text(alphabet="0123456789", min_size=14, max_size=22))
def test_alipay_codes(prefix: str, rest: str) -> None:
    assert barcode.resolve("barcode", prefix + rest, RULES) == "alipay_barcode"


@given(digits)
def test_at_most_one_rule_matches(code: str) -> None:
    assert sum(1 for rule in RULES if rule.pattern.fullmatch(code)) <= 1


@pytest.mark.parametrize("code", ["1012345678901234567", "16" + "0" * 16, "24" + "0" * 14, "31" + "0" * 14,
                                  "25" + "0" * 13, "25" + "0" * 23, "13" + "0" * 15 + "x", ""])
def test_not_a_code(code: str) -> None:
    with pytest.raises(barcode.CodeNotRecognised) as exc:
        barcode.resolve("barcode", code, RULES)
    assert barcode.rules_text(RULES) in str(exc.value)


def test_unionpay_is_named_until_it_exists() -> None:
    with pytest.raises(barcode.CodeNotRecognised, match="UnionPay: 19 digits starting 62"):
        barcode.resolve("barcode", "62" + "1" * 17, RULES)
    accepted = [dataclasses.replace(r, method=r.method or "unionpay_barcode") for r in RULES]
    assert barcode.resolve("barcode", "62" + "1" * 17, accepted) == "unionpay_barcode"


def test_a_channel_method_takes_only_its_codes() -> None:
    assert barcode.resolve("alipay_barcode", "28" + "1" * 16, RULES) == "alipay_barcode"
    with pytest.raises(barcode.CodeNotRecognised, match="not a wechat_barcode code"):
        barcode.resolve("wechat_barcode", "28" + "1" * 16, RULES)


def test_query_times_reach_the_deadline() -> None:
    assert barcode.QUERY_AT[0] == barcode.POLL_EVERY and barcode.QUERY_AT[-1] == barcode.DEADLINE
