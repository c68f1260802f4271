"""The engine's pure parts under hypothesis: rules survive a save (dump → validate), the hours window
matches a plain minute-by-minute reading, amount bounds and the decision's strength."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.services.risk import Decision, Hit
from gateway.services.risk_rules import BEIJING, RULE_TYPES, AmountMax, AmountMin, Hours, Subject, parse_rule

clock = st.times().map(lambda t: f"{t.hour:02d}:{t.minute:02d}")


class _Probe:
    def __init__(self, amount: int) -> None:
        self.subject = Subject("payment.create", "m", amount)


@given(start=clock, end=clock, at=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1)))
def test_hours_window_matches_a_plain_reading(start: str, end: str, at: datetime) -> None:
    rule = Hours(type="hours", start=start, end=end)
    local = at.replace(tzinfo=BEIJING)
    minutes = lambda value: int(value[:2]) * 60 + int(value[3:])  # noqa: E731
    now = local.hour * 60 + local.minute
    s, e = minutes(start), minutes(end)
    expected = s <= now < e if s <= e else (now >= s or now < e)
    assert rule.inside(local) is expected
    assert rule.inside(local.astimezone(UTC)) is expected  # the same instant, another zone


@given(bound=st.integers(1, 10**9), amount=st.integers(1, 10**9))
def test_amount_bounds_fire_exactly_outside(bound: int, amount: int) -> None:
    above = asyncio.run(AmountMax(type="amount_max", amount=bound).fires(_Probe(amount)))  # type: ignore[arg-type]
    below = asyncio.run(AmountMin(type="amount_min", amount=bound).fires(_Probe(amount)))  # type: ignore[arg-type]
    assert (above is not None) is (amount > bound)
    assert (below is not None) is (amount < bound)


hits = st.lists(st.builds(Hit, rule_id=st.just("r"), type=st.just("t"),
                          action=st.sampled_from(["block", "throttle", "review"]),
                          mode=st.sampled_from(["monitor", "enforce"]), reason=st.just("x")), max_size=8)


@given(hits=hits, more=hits)
def test_the_decision_is_the_strongest_enforced_action(hits: list[Hit], more: list[Hit]) -> None:
    order = ["allow", "review", "throttle", "block"]
    decision = Decision(hits)
    enforced = [h.action for h in hits if h.mode == "enforce"]
    assert decision.decision == max(enforced, key=order.index, default="allow")
    # monitor hits never change it; more hits never weaken it
    assert Decision(hits + [h for h in more if h.mode == "monitor"]).decision == decision.decision
    assert order.index(Decision(hits + more).decision) >= order.index(decision.decision)
    assert decision.summary()["rules"] == [h.view() for h in hits]


def _example(kind: str) -> dict[str, Any]:
    required: dict[str, dict[str, Any]] = {"amount_min": {"amount": 5}, "amount_max": {"amount": 5},
                                           "daily_count_cap": {"count": 5}, "daily_amount_cap": {"amount": 5},
                                           "callback_source": {"channel": "wechat"}}
    return {"type": kind, **required.get(kind, {})}


@settings(max_examples=60)
@given(kind=st.sampled_from(sorted(RULE_TYPES)), mode=st.sampled_from(["monitor", "enforce"]),
       method=st.none() | st.sampled_from(["alipay_qr", "wechat_native"]),
       fail=st.sampled_from(["open", "closed"]))
def test_a_rule_survives_its_save(kind: str, mode: str, method: str | None, fail: str) -> None:
    rule = parse_rule({**_example(kind), "mode": mode, "pay_method": method, "on_unavailable": fail})
    saved = rule.model_dump(exclude={"type", "mode"})
    again = parse_rule({**saved, "type": kind, "mode": mode})
    assert again == rule and again.mode == mode and again.pay_method == method
