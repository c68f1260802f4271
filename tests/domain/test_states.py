"""The transition table as a state machine: random sequences of named transitions never reach a state
the table does not allow, and a terminal payment never moves."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.states import PAYMENT_TRANSITIONS, REFUNDABLE, PaymentStatus, can


@given(st.lists(st.sampled_from(sorted(PAYMENT_TRANSITIONS)), max_size=30))
def test_random_transition_sequences(names: list[str]) -> None:
    status = PaymentStatus.PENDING.value
    paid_seen = False
    for name in names:
        t = PAYMENT_TRANSITIONS[name]
        if can(PAYMENT_TRANSITIONS, name, status):
            assert status in t.sources
            if status == "refunded":
                raise AssertionError("refunded is terminal")
            status = t.target
            paid_seen |= status == "paid"
        if status in REFUNDABLE | {"refunded"}:
            assert paid_seen  # nothing is refunded that was never paid


def test_only_pending_closes_and_refunded_is_terminal() -> None:
    assert PAYMENT_TRANSITIONS["mark_closed"].sources == {"pending"}
    assert all("refunded" not in t.sources for t in PAYMENT_TRANSITIONS.values())
    assert PAYMENT_TRANSITIONS["mark_paid_late"].sources == {"closed"}
