"""WeChat Pay APIv3 wire constants: its clock and the notification event types.

Facts about WeChat Pay, not about our mapping: both the channel's transformers and the sandbox read
them from here (the sandbox never imports the transformers).
"""
from __future__ import annotations

from datetime import timedelta, timezone

# Every RFC 3339 time WeChat writes carries +08:00.
CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")

TRANSACTION_SUCCESS = "TRANSACTION.SUCCESS"
REFUND_SUCCESS = "REFUND.SUCCESS"
REFUND_ABNORMAL = "REFUND.ABNORMAL"
REFUND_CLOSED = "REFUND.CLOSED"


def serial_key(serial: str) -> int | None:
    """Certificate serials compare as numbers: WeChat sends upper-case hex, a PEM tool may print lower
    case or leading zeros."""
    try:
        return int(serial, 16)
    except ValueError:
        return None
