"""The shapes of the rows the money tables give back (one key per column of :mod:`gateway.store.tables`),
so that mypy checks ``attempt["ammount"]``. They are read-only :data:`~gateway.store.base.Row` mappings
to everything that takes a plain row."""
from __future__ import annotations

from datetime import datetime
from typing import TypedDict


class PaymentRow(TypedDict):
    id: str
    merchant_id: str
    out_trade_no: str  # the merchant's order number
    amount: int  # minor units (fen)
    currency: str
    subject: str
    description: str | None
    status: str  # a PaymentStatus
    pay_method: str | None  # fixed through the API (None = the shopper chooses); once paid, how it was paid
    refundable_amount: int
    refunded_amount: int
    return_url: str | None
    notify_url: str | None
    metadata: str  # JSON object
    link_id: str | None
    paid_attempt_id: str | None
    late: bool
    channel_trade_no: str | None  # the paid attempt's transaction id at its channel
    close_reason: str | None  # merchant | expired | operator | cancelled
    capture_method: str  # automatic | manual
    risk: str | None  # the risk decision taken at create (JSON), if a rule fired
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    paid_at: datetime | None
    closed_at: datetime | None
    lease_until: datetime | None


class AttemptRow(TypedDict):
    id: str  # also the trade number at the channel
    payment_id: str
    merchant_id: str
    account_id: str
    channel: str
    pay_method: str
    amount: int
    currency: str
    status: str  # an AttemptStatus
    pay_data: str  # JSON object
    channel_trade_no: str | None
    sync_count: int
    next_sync_at: datetime | None
    lease_until: datetime | None
    created_at: datetime
    updated_at: datetime
    paid_at: datetime | None


class RefundRow(TypedDict):
    id: str  # also the refund number at the channel
    merchant_id: str
    payment_id: str
    attempt_id: str
    out_refund_no: str
    amount: int
    currency: str
    reason: str | None
    status: str  # a RefundStatus
    automatic: str | None  # why the gateway refunded by itself: late_paid, double_paid
    channel_refund_no: str | None
    failure_code: str | None
    failure_message: str | None
    sync_count: int
    next_sync_at: datetime | None
    lease_until: datetime | None
    created_at: datetime
    updated_at: datetime
    succeeded_at: datetime | None
