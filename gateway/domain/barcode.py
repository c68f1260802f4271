"""Barcode pay (付款码): the merchant scans the code the shopper's wallet shows. Which channel a code
belongs to is told by the code alone -- its length and prefix -- and the timing of a payment that waits
for the shopper's password is the channels' own. Pure data, no I/O.

Sources: WeChat Pay's micropay docs (18 digits, 10–15), Alipay's ``auth_code`` field ("25~30开头的长度为
16~24位的数字"), UnionPay's 19-digit ``62`` codes (``shared/reference/protocols-wave2.md`` §3.1).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

BARCODE = "barcode"  # the merchant API's pay method that lets the code choose the channel
AUTH_CODE_FIELD = "auth_code"

# A code waiting for the shopper's password is queried every 5 s and given up (cancelled / reversed)
# after 30 s, as both channels' guides say; the merchant API answers after one such wait at most.
POLL_EVERY = timedelta(seconds=5)
DEADLINE = timedelta(seconds=30)
ANSWER_WITHIN = POLL_EVERY
# When the background sync asks about a code still waiting (``PayMethodSpec.query_at``); at DEADLINE
# the payment expires and its trade is undone at the channel.
QUERY_AT = tuple(POLL_EVERY * i for i in range(1, int(DEADLINE / POLL_EVERY) + 1))


@dataclass(frozen=True, slots=True)
class CodeRule:
    channel: str
    pattern: re.Pattern[str]
    rule: str


RULES = (
    CodeRule("wechat", re.compile(r"1[0-5]\d{16}"), "WeChat Pay: 18 digits starting 10–15"),
    CodeRule("alipay", re.compile(r"(2[5-9]|30)\d{14,22}"), "Alipay: 16–24 digits starting 25–30"),
    CodeRule("unionpay", re.compile(r"62\d{17}"), "UnionPay: 19 digits starting 62"),
)
RULES_TEXT = "; ".join(r.rule for r in RULES)


class CodeNotRecognised(ValueError):
    """The code is no channel's, or its channel takes no barcode payments here; the message names the rule."""


def method_of(channel: str) -> str:
    """The pay-method code of a channel's barcode payments (``alipay_barcode``, ``wechat_barcode``)."""
    return f"{channel}_{BARCODE}"


def is_barcode(pay_method: str | None) -> bool:
    return bool(pay_method) and (pay_method == BARCODE or str(pay_method).endswith("_" + BARCODE))


def channel_of(auth_code: str) -> CodeRule:
    """The rule the code matches; :class:`CodeNotRecognised` naming every rule when none does."""
    for rule in RULES:
        if rule.pattern.fullmatch(auth_code):
            return rule
    raise CodeNotRecognised(f"auth_code is no payment code we know ({RULES_TEXT})")


def resolve(pay_method: str, auth_code: str, supported: frozenset[str] | set[str]) -> str:
    """The concrete barcode pay method for ``auth_code``: detected by prefix for ``barcode``, checked
    against the channel's rule for a channel-specific one. ``supported``: the barcode methods that exist."""
    rule = channel_of(auth_code)
    method = method_of(rule.channel)
    if pay_method != BARCODE and pay_method != method:
        wanted = next((r for r in RULES if method_of(r.channel) == pay_method), None)
        raise CodeNotRecognised(f"auth_code is not {'an' if pay_method[0] in 'aeiou' else 'a'} {pay_method} code"
                                + (f" ({wanted.rule})" if wanted else "") + f"; it looks like {rule.rule}")
    if method not in supported:
        raise CodeNotRecognised(f"{rule.rule} codes are recognised but not accepted yet: "
                                f"no {method} pay method")
    return method
