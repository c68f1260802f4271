"""Payment, attempt and refund states, and every transition between them -- in one place.

A transition is named; the store turns each into one function (``mark_paid(conn, payment_id, *, …)``)
running ``UPDATE … WHERE id = ? AND status IN (<from>)`` and reporting whether it applied. Side effects
(ledger postings, merchant events) are written in the same transaction, and only when it did.
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

# Each transition is a constant, so a misspelt one is a name error that mypy and ruff catch; the store
# wraps each in one named function (``store.payments.mark_paid`` …) stating the columns it writes.
MARK_PAID = _t("mark_paid", {P.PENDING}, P.PAID)
# A channel's success that arrives after we closed locally is never dropped (flagged ``late``).
MARK_PAID_LATE = _t("mark_paid_late", {P.CLOSED}, P.PAID)
MARK_CLOSED = _t("mark_closed", {P.PENDING}, P.CLOSED)
MARK_PARTIALLY_REFUNDED = _t("mark_partially_refunded", {P.PAID, P.PARTIALLY_REFUNDED}, P.PARTIALLY_REFUNDED)
MARK_REFUNDED = _t("mark_refunded", {P.PAID, P.PARTIALLY_REFUNDED}, P.REFUNDED)

ATTEMPT_SUCCEEDED = _t("attempt_succeeded", {A.PENDING, A.CLOSED, A.FAILED}, A.SUCCEEDED)
ATTEMPT_CLOSED = _t("attempt_closed", {A.PENDING}, A.CLOSED)
ATTEMPT_FAILED = _t("attempt_failed", {A.PENDING}, A.FAILED)

REFUND_SUCCEEDED = _t("refund_succeeded", {R.PENDING}, R.SUCCEEDED)
REFUND_FAILED = _t("refund_failed", {R.PENDING}, R.FAILED)

PAYMENT_TRANSITIONS: dict[str, Transition] = {t.name: t for t in (
    MARK_PAID, MARK_PAID_LATE, MARK_CLOSED, MARK_PARTIALLY_REFUNDED, MARK_REFUNDED)}
ATTEMPT_TRANSITIONS: dict[str, Transition] = {t.name: t for t in (
    ATTEMPT_SUCCEEDED, ATTEMPT_CLOSED, ATTEMPT_FAILED)}
REFUND_TRANSITIONS: dict[str, Transition] = {t.name: t for t in (REFUND_SUCCEEDED, REFUND_FAILED)}

REFUNDABLE = frozenset({P.PAID.value, P.PARTIALLY_REFUNDED.value})
TERMINAL_PAYMENT = frozenset({P.REFUNDED.value})


def can(transitions: dict[str, Transition], name: str, current: str) -> bool:
    return current in transitions[name].sources
