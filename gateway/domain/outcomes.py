"""What a channel said, as a closed set of outcomes -- declines are data, not exceptions.

``UNKNOWN`` covers a timeout, a 5xx, an answer we could not verify: it schedules a query and never
fails a payment or a refund.
"""
from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    SUCCESS = "success"            # the channel confirmed it (order created / paid / closed / refunded)
    FAIL = "fail"                  # the channel confirmed it did not happen and will not (closed, refund failed)
    WAITING = "waiting"            # accepted, not finished (unpaid trade, refund processing)
    UNKNOWN = "unknown"            # no trustworthy answer: query later, change nothing now
    CHANNEL_ERROR = "channel_error"  # the channel refused the request (bad params, no permission, …)
