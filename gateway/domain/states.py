"""Payment, attempt and refund states, and every transition between them -- in one place.

A transition is named; the store turns each into ``UPDATE … WHERE id = ? AND status IN (<from>)`` and
reports whether it applied. Side effects (ledger postings, merchant events) are written in the same
transaction, and only when it did.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PaymentStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    CLOSED = "closed"


class AttemptStatus(StrEnum):
    """One try at one channel. ``succeeded`` is the channel's confirmed payment."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    CLOSED = "closed"
    FAILED = "failed"


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Transition:
    name: str
    sources: frozenset[str]
    target: str


def _t(name: str, sources: set[StrEnum], target: StrEnum) -> Transition:
    return Transition(name, frozenset(str(s) for s in sources), str(target))


P, A, R = PaymentStatus, AttemptStatus, RefundStatus

PAYMENT_TRANSITIONS: dict[str, Transition] = {t.name: t for t in (
    _t("mark_paid", {P.PENDING}, P.PAID),
    # A channel's success that arrives after we closed locally is never dropped (flagged ``late``).
    _t("mark_paid_late", {P.CLOSED}, P.PAID),
    _t("mark_closed", {P.PENDING}, P.CLOSED),
    _t("mark_partially_refunded", {P.PAID, P.PARTIALLY_REFUNDED}, P.PARTIALLY_REFUNDED),
    _t("mark_refunded", {P.PAID, P.PARTIALLY_REFUNDED}, P.REFUNDED),
)}

ATTEMPT_TRANSITIONS: dict[str, Transition] = {t.name: t for t in (
    _t("attempt_succeeded", {A.PENDING, A.CLOSED, A.FAILED}, A.SUCCEEDED),
    _t("attempt_closed", {A.PENDING}, A.CLOSED),
    _t("attempt_failed", {A.PENDING}, A.FAILED),
)}

REFUND_TRANSITIONS: dict[str, Transition] = {t.name: t for t in (
    _t("refund_succeeded", {R.PENDING}, R.SUCCEEDED),
    _t("refund_failed", {R.PENDING}, R.FAILED),
)}

REFUNDABLE = frozenset({P.PAID.value, P.PARTIALLY_REFUNDED.value})
TERMINAL_PAYMENT = frozenset({P.REFUNDED.value})


def can(transitions: dict[str, Transition], name: str, current: str) -> bool:
    return current in transitions[name].sources
