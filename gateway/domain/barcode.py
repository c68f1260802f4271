"""Barcode pay (付款码): the merchant scans the code the shopper's wallet shows. Which channel a code
belongs to is told by the code alone -- its length and prefix, each channel's :class:`CodeRule`
(``ChannelFactory.payment_codes``) -- and the timing of a payment that waits for the shopper's password
is the channels' own. Pure data, no I/O.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

BARCODE = "barcode"  # the merchant API's pay method that lets the code choose the channel
AUTH_CODE_FIELD = "auth_code"  # the payer field of every barcode pay method (``PayMethodSpec.payer_field``)

# A code waiting for the shopper's password is queried every 5 s and given up (cancelled / reversed)
# after 30 s, as the channels' guides say; the merchant API answers after one such wait at most.
POLL_EVERY = timedelta(seconds=5)
DEADLINE = timedelta(seconds=30)
ANSWER_WITHIN = POLL_EVERY
# When the background sync asks about a code still waiting (``PayMethodSpec.query_at``); at DEADLINE
# the payment expires and its trade is undone at the channel.
QUERY_AT = tuple(POLL_EVERY * i for i in range(1, int(DEADLINE / POLL_EVERY) + 1))


@dataclass(frozen=True, slots=True)
class CodeRule:
    """A channel's payment codes: ``pattern`` (the whole code), ``rule`` in words (for errors), and the pay
    method that takes them -- ``None`` while the channel's barcode pay does not exist here."""

    pattern: re.Pattern[str]
    rule: str
    method: str | None = None


class CodeNotRecognised(ValueError):
    """The code is no channel's, or its channel takes no barcode payments here; the message names the rule."""


def rules_text(rules: Sequence[CodeRule]) -> str:
    return "; ".join(r.rule for r in rules)


def resolve(pay_method: str, auth_code: str, rules: Sequence[CodeRule]) -> str:
    """The barcode pay method for ``auth_code``: by the rule it matches for ``barcode``; for a channel's
    own barcode method, only when the code is that channel's. :class:`CodeNotRecognised` otherwise."""
    rule = next((r for r in rules if r.pattern.fullmatch(auth_code)), None)
    if rule is None:
        raise CodeNotRecognised(f"auth_code is no payment code we know ({rules_text(rules)})")
    if pay_method != BARCODE and pay_method != rule.method:
        wanted = next((r for r in rules if r.method == pay_method), None)
        article = "an" if pay_method[:1] in "aeiou" else "a"
        raise CodeNotRecognised(f"auth_code is not {article} {pay_method} code"
                                + (f" ({wanted.rule})" if wanted else "") + f"; it looks like {rule.rule}")
    if rule.method is None:
        raise CodeNotRecognised(f"{rule.rule} codes are recognised but not accepted yet")
    return rule.method
