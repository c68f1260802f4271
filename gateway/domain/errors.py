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


class ValidationFailed(GatewayError):
    code = "validation_error"
    title = "The request is not valid"


class InvalidJSON(GatewayError):
    code = "invalid_json"
    title = "The body is not valid JSON"


class ReturnUrlNotAllowed(GatewayError):
    """A ``return_url`` whose host (as a browser reads it) is not one of the merchant's return domains."""
    code = "return_url_not_allowed"
    title = "return_url is not on one of your return domains"


class Unauthorized(GatewayError):
    code = "unauthorized"
    title = "A valid API key is required"


class NotFound(GatewayError):
    code = "not_found"
    title = "No such resource"


class DuplicateOutTradeNo(GatewayError):
    code = "duplicate_out_trade_no"
    title = "A payment with this out_trade_no exists"


class DuplicateOutRefundNo(GatewayError):
    code = "duplicate_out_refund_no"
    title = "A refund with this out_refund_no exists"


class IdempotencyKeyInUse(GatewayError):
    code = "idempotency_key_in_use"
    title = "A request with this Idempotency-Key is still being processed"


class IdempotencyKeyReused(GatewayError):
    code = "idempotency_key_reused"
    title = "This Idempotency-Key was used with a different request"


class PayloadTooLarge(GatewayError):
    code = "payload_too_large"
    title = "The request body is too large"


class InvalidState(GatewayError):
    code = "invalid_state"
    title = "The resource is not in a state that allows this"


class RefundExceedsRefundable(GatewayError):
    code = "refund_exceeds_refundable"
    title = "The refund is larger than what remains refundable"


class PayMethodUnavailable(GatewayError):
    code = "pay_method_unavailable"
    title = "This pay method is not enabled for the merchant"


class ChannelDeclined(GatewayError):
    code = "channel_declined"
    title = "The payment channel refused the request"


class ChannelUnavailable(GatewayError):
    code = "channel_unavailable"
    title = "The payment channel did not answer; the request will be resolved by query"


class DatabaseUnavailable(GatewayError):
    """The database did not answer (down, restarting, connection lost): nothing was decided, retry."""
    code = "database_unavailable"
    title = "The service is briefly unavailable; retry shortly"

    def __init__(self, detail: str = "", **extra: Any) -> None:
        extra.setdefault("retry_after", 2)
        super().__init__(detail, **extra)


class InsufficientBalance(GatewayError):
    code = "insufficient_balance"
    title = "The customer's balance does not cover this"


class WalletFrozen(GatewayError):
    code = "wallet_frozen"
    title = "The customer's wallet is frozen"


class PaymentDeclined(GatewayError):
    """The shopper's wallet refused a barcode payment (balance, expired code, …): the payment is closed;
    ``channel_code`` says why, in the channel's words."""
    code = "payment_declined"
    title = "The shopper's payment was declined"


# Declines a channel may answer a create with that are the payer's, not the channel's (stored value).
PAYER_DECLINES: dict[str, type[GatewayError]] = {e.code: e for e in (InsufficientBalance, WalletFrozen)}


class RateLimited(GatewayError):
    code = "rate_limited"
    title = "Too many requests"


class RiskBlocked(GatewayError):
    """A risk rule in enforce mode refused the request (gateway.services.risk); nothing was written but
    the decision. The shopper sees a friendly page, the merchant the decision's id."""
    code = "risk_blocked"
    title = "The request was refused by a risk rule"


class Rejected(Exception):
    """A channel callback we refuse: forged, tampered, stale, unknown or not matching our records. The
    channel gets its failure answer and nothing changes but the notify log. Raised by the ingress
    pipeline and by the refund-notification checks; not an HTTP error (the channel's ack format is)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.code = code
