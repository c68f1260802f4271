"""The store's typed surface agrees with the tables and the transition table: a row type names every
column of its table, and every named transition has its function in the store."""
from __future__ import annotations

import pytest

from gateway.domain.states import ATTEMPT_TRANSITIONS, PAYMENT_TRANSITIONS, REFUND_TRANSITIONS
from gateway.store import payments, refunds, tables
from gateway.store.rows import AttemptRow, PaymentRow, RefundRow


@pytest.mark.parametrize(("table", "row"), [(tables.payments, PaymentRow), (tables.attempts, AttemptRow),
                                            (tables.refunds, RefundRow)])
def test_row_types_name_every_column(table: object, row: type) -> None:
    assert set(row.__annotations__) == set(table.c.keys())  # type: ignore[attr-defined]


def test_every_transition_has_its_store_function() -> None:
    # The two refund transitions of a payment are chosen between in one statement (add_refunded).
    combined = {"mark_refunded", "mark_partially_refunded"}
    for name in set(PAYMENT_TRANSITIONS) - combined | set(ATTEMPT_TRANSITIONS):
        assert callable(getattr(payments, name)), name
    for name in REFUND_TRANSITIONS:
        assert callable(getattr(refunds, name)), name
    assert callable(refunds.add_refunded)
