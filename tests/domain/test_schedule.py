"""The sync schedule: a channel's own query timing first (``PayMethodSpec.query_at``), then the generic
tiers; the shape is the same at every time scale."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from gateway.channels.registry import default_registry
from gateway.domain.schedule import SYNC_FIRST, SYNC_TIERS, first_sync, next_sync

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def _queries(query_at: tuple[timedelta, ...], scale: float, until: timedelta) -> list[timedelta]:
    """Ages (unscaled) at which an attempt opened at T0 is queried, up to ``until``."""
    at, out = first_sync(T0, scale, query_at), []
    while (at - T0) / scale <= until:
        out.append((at - T0) / scale)
        at = next_sync(T0, at, scale, query_at)
    return out


def test_unionpay_front_consume_is_queried_on_acps_timing() -> None:
    spec = default_registry().spec("unionpay_wap")
    ages = _queries(spec.query_at, 1.0, timedelta(minutes=200))
    assert ages[:5] == [5 * MIN, 10 * MIN, 30 * MIN, 60 * MIN, 120 * MIN]
    assert ages[5:] == [180 * MIN]  # then the generic tier for its age: hourly within the first day


def test_a_channel_without_its_own_timing_keeps_the_generic_schedule() -> None:
    assert default_registry().spec("alipay_qr").query_at == ()
    ages = _queries((), 1.0, timedelta(minutes=12))
    assert ages[0] == SYNC_FIRST and ages[1] - ages[0] == SYNC_TIERS[0][1]


@given(scale=st.sampled_from([1.0, 0.01, 0.001]),
       query_at=st.lists(st.integers(1, 300), min_size=0, max_size=6, unique=True).map(
           lambda xs: tuple(timedelta(minutes=x) for x in sorted(xs))))
def test_the_schedule_has_the_same_shape_at_every_scale(scale: float, query_at: tuple[timedelta, ...]) -> None:
    unscaled = _queries(query_at, 1.0, timedelta(hours=3))
    scaled = _queries(query_at, scale, timedelta(hours=3))
    assert [round(a.total_seconds(), 3) for a in scaled] == [round(a.total_seconds(), 3) for a in unscaled]
    assert all(b > a for a, b in pairwise(unscaled))  # always forward
    assert {a for a in query_at if a <= timedelta(hours=3)} <= set(unscaled)  # every time the channel asks for
