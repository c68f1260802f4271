"""Domain errors with stable machine codes. The web edge maps codes to HTTP statuses once
(:mod:`gateway.web.problems`); nothing below it knows about HTTP."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class GatewayError(Exception):
    code = "error"
    title = "Request failed"

    def __init__(self, detail: str = "", *, errors: Sequence[Mapping[str, Any]] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = list(errors or [])
        self.extra = extra


def _error(name: str, code: str, title: str) -> type[GatewayError]:
    return type(name, (GatewayError,), {"code": code, "title": title})


ValidationFailed = _error("ValidationFailed", "validation_error", "The request is not valid")
InvalidJSON = _error("InvalidJSON", "invalid_json", "The body is not valid JSON")
Unauthorized = _error("Unauthorized", "unauthorized", "A valid API key is required")
NotFound = _error("NotFound", "not_found", "No such resource")
DuplicateOutTradeNo = _error("DuplicateOutTradeNo", "duplicate_out_trade_no",
                             "A payment with this out_trade_no exists")
DuplicateOutRefundNo = _error("DuplicateOutRefundNo", "duplicate_out_refund_no",
                              "A refund with this out_refund_no exists")
IdempotencyKeyInUse = _error("IdempotencyKeyInUse", "idempotency_key_in_use",
                             "A request with this Idempotency-Key is still being processed")
IdempotencyKeyReused = _error("IdempotencyKeyReused", "idempotency_key_reused",
                              "This Idempotency-Key was used with a different request")
PayloadTooLarge = _error("PayloadTooLarge", "payload_too_large", "The request body is too large")
InvalidState = _error("InvalidState", "invalid_state", "The resource is not in a state that allows this")
RefundExceedsRefundable = _error("RefundExceedsRefundable", "refund_exceeds_refundable",
                                 "The refund is larger than what remains refundable")
PayMethodUnavailable = _error("PayMethodUnavailable", "pay_method_unavailable",
                              "This pay method is not enabled for the merchant")
ChannelDeclined = _error("ChannelDeclined", "channel_declined", "The payment channel refused the request")
ChannelUnavailable = _error("ChannelUnavailable", "channel_unavailable",
                            "The payment channel did not answer; the request will be resolved by query")
RateLimited = _error("RateLimited", "rate_limited", "Too many requests")


class Rejected(Exception):
    """A channel callback we refuse: forged, tampered, stale, unknown or not matching our records. The
    channel gets its failure answer and nothing changes but the notify log. Raised by the ingress
    pipeline and by the refund-notification checks; not an HTTP error (the channel's ack format is)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.code = code
