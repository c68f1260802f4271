"""When background work is next due. Every delay is multiplied by ``GATEWAY_TASK_TIME_SCALE`` so tests
can run a day of retries in seconds; the shape of the schedule is the same at every scale."""
from __future__ import annotations

from datetime import datetime, timedelta

# Channel sync of attempts and refunds still waiting: (while younger than, query every).
SYNC_TIERS = ((timedelta(minutes=10), timedelta(minutes=1)),
              (timedelta(hours=1), timedelta(minutes=10)),
              (timedelta(days=1), timedelta(hours=1)))
SYNC_AFTER_A_DAY = timedelta(hours=6)  # a payment may stay open up to 7 days: keep looking, slowly
EXPIRY_RETRY = timedelta(minutes=1)  # the channel did not confirm a close: try again


def next_sync(created_at: datetime, now: datetime, scale: float) -> datetime:
    age = (now - created_at) / scale
    for younger_than, every in SYNC_TIERS:
        if age < younger_than:
            return now + every * scale
    return now + SYNC_AFTER_A_DAY * scale


def scaled(delay: timedelta, scale: float) -> timedelta:
    return delay * scale
