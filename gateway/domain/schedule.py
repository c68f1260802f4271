"""When background work is next due. Every delay is multiplied by ``GATEWAY_TASK_TIME_SCALE`` so tests
can run a day of retries in seconds; the shape of the schedule is the same at every scale."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

# Channel sync of attempts and refunds still waiting: (while younger than, query every).
SYNC_TIERS = ((timedelta(minutes=10), timedelta(minutes=1)),
              (timedelta(hours=1), timedelta(minutes=10)),
              (timedelta(days=1), timedelta(hours=1)))
SYNC_AFTER_A_DAY = timedelta(hours=6)  # a payment may stay open up to 7 days: keep looking, slowly
SYNC_FIRST = timedelta(seconds=60)  # an attempt's first query, should its callback never come
EXPIRY_RETRY = timedelta(minutes=1)  # the channel did not confirm a close: try again
# Webhook delivery: the waits after the 1st, 2nd, … failed attempt (the Standard Webhooks / Svix
# schedule): 27 h 35 min in all.
WEBHOOK_BACKOFF = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
                   timedelta(hours=5), timedelta(hours=10), timedelta(hours=10))


def first_sync(created_at: datetime, scale: float, query_at: Sequence[timedelta] = ()) -> datetime:
    """An attempt's first query: the channel's own first time (``PayMethodSpec.query_at``), else a minute."""
    return created_at + (query_at[0] if query_at else SYNC_FIRST) * scale


def next_sync(created_at: datetime, now: datetime, scale: float, query_at: Sequence[timedelta] = ()) -> datetime:
    """The next query after one made ``now``: the channel's own next time while it has one, then the tiers."""
    age = (now - created_at) / scale
    for at in query_at:
        if age < at:
            return created_at + at * scale
    for younger_than, every in SYNC_TIERS:
        if age < younger_than:
            return now + every * scale
    return now + SYNC_AFTER_A_DAY * scale


def scaled(delay: timedelta, scale: float) -> timedelta:
    return delay * scale


def webhook_backoff(failed_attempts: int) -> timedelta | None:
    """The wait after the ``failed_attempts``-th failed delivery, or None: give up."""
    return WEBHOOK_BACKOFF[failed_attempts - 1] if 1 <= failed_attempts <= len(WEBHOOK_BACKOFF) else None
