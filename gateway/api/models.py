"""The merchant API's request and response models. They validate requests and generate the OpenAPI
document -- one definition for both."""
from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    create_model,
    field_validator,
    model_validator,
)

from gateway.channels.registry import pay_method_specs
from gateway.domain.money import CURRENCY_EXPONENTS, MAX_AMOUNT, SUPPORTED_CURRENCIES
from gateway.domain.pay import ActionKind

# The pay-method codes and payer-identity fields come from the channel registry.
SPECS = {spec.code: spec for spec in pay_method_specs()}
if TYPE_CHECKING:
    PayMethod = str
    ActionType = str
else:
    PayMethod = Literal[tuple(SPECS)]
    ActionType = Literal[tuple(kind.value for kind in ActionKind)]
Amount = Annotated[StrictInt, Field(ge=1, le=MAX_AMOUNT, description="Integer minor units (fen).",
                                    examples=[1999])]
Url = Annotated[StrictStr, Field(max_length=2048, pattern=r"^https?://[^\s]+$")]
OrderNo = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-*|.:]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _currency(value: str) -> str:
    if value not in CURRENCY_EXPONENTS:
        raise ValueError(f"unknown currency {value!r} (ISO 4217 code expected)")
    if value not in SUPPORTED_CURRENCIES:
        raise ValueError(f"currency {value} is not supported; supported: {', '.join(sorted(SUPPORTED_CURRENCIES))}")
    return value


class _PaymentCreate(_Strict):
    amount: Amount
    currency: Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217.")] = "CNY"
    subject: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    out_trade_no: Annotated[OrderNo, Field(description="Your order number; unique per merchant.")]
    description: Annotated[StrictStr, Field(max_length=1024)] | None = None
    channel: Annotated[PayMethod | None, Field(description="Fix the pay method; absent = the shopper "
                                                           "chooses on the checkout page.")] = None
    return_url: Url | None = None
    notify_url: Url | None = None
    expires_in: Annotated[StrictInt, Field(ge=60, le=604800, description="Seconds until the payment "
                                                                          "expires.")] = 900
    metadata: Annotated[dict[Annotated[str, Field(max_length=40)], Annotated[StrictStr, Field(max_length=500)]],
                        Field(max_length=20)] | None = None

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str) -> str:
        # A unit of its own (points) passes here; _method_currency pairs it with its pay method.
        return value if any(spec.currency == value for spec in SPECS.values()) else _currency(value)

    @model_validator(mode="after")
    def _method_currency(self) -> _PaymentCreate:
        spec = SPECS.get(self.channel or "")
        own = spec.currency if spec is not None else None
        if (own or self.currency) != self.currency or (own is None and self.currency not in SUPPORTED_CURRENCIES):
            raise ValueError(f"channel {self.channel} pays in {own}" if own else
                             f"currency {self.currency} is paid only with its own pay method")
        return self

    @property
    def payer_id(self) -> str | None:
        """The payer's identity for the fixed method, from the field that method names."""
        spec = SPECS.get(self.channel or "")
        return getattr(self, spec.payer_field, None) if spec is not None and spec.payer_field else None

    @model_validator(mode="after")
    def _payer_needed(self) -> _PaymentCreate:
        spec = SPECS.get(self.channel or "")
        if spec is not None and spec.needs_payer and not self.payer_id:
            raise ValueError(f"{spec.payer_field} is required with channel {spec.code}")
        return self

    def new_payment(self) -> dict[str, Any]:
        """The fields of :class:`gateway.services.payments.NewPayment`."""
        payer_fields = {spec.payer_field for spec in SPECS.values() if spec.payer_field}
        return {k: v for k, v in self.model_dump().items() if k not in payer_fields} | {"payer_id": self.payer_id}


def _payer_field(name: str) -> Any:
    methods = ", ".join(code for code, spec in SPECS.items() if spec.payer_field == name)
    return (Annotated[StrictStr, Field(min_length=1, max_length=128, description=f"The payer's identity at the "
                                       f"channel (under your app); required with {methods}.")] | None, None)


# One optional field per payer identity a pay method declares (e.g. the payer of an in-app wallet).
PaymentCreate: type[_PaymentCreate] = create_model(
    "PaymentCreate", __base__=_PaymentCreate, __module__=__name__,
    **{spec.payer_field: _payer_field(spec.payer_field) for spec in SPECS.values() if spec.payer_field})


class NextAction(BaseModel):
    """What the shopper's browser does next to pay: ``qr`` -- show a code of ``qr``; ``redirect`` --
    go to ``url`` (which takes the URL to come back to under the query parameter ``return_param``, if
    given); ``form_post`` -- submit ``fields`` to ``url``; ``jsapi`` / ``app`` -- hand ``params`` to the
    wallet's JS bridge or SDK; ``confirm`` -- nothing to show."""

    type: ActionType
    qr: str | None = None
    url: str | None = None
    fields: dict[str, str] | None = None
    params: dict[str, str] | None = None
    return_param: str | None = None


class Payment(BaseModel):
    """A payment. While a payment with a fixed pay method is pending, ``next_action`` says how the
    shopper pays it."""

    id: str
    object: Literal["payment"]
    status: Literal["pending", "paid", "partially_refunded", "refunded", "closed"]
    amount: int
    currency: str
    refunded_amount: int
    refundable_amount: int
    out_trade_no: str
    subject: str
    description: str | None
    channel: PayMethod | None
    checkout_url: str
    return_url: str | None
    notify_url: str | None
    metadata: dict[str, str]
    created_at: str
    expires_at: str
    paid_at: str | None
    closed_at: str | None
    late_payment: bool
    link_id: Annotated[str | None, Field(description="The payment link a shopper made this payment from.")] = None
    next_action: NextAction | None = None


class PaymentList(BaseModel):
    object: Literal["list"]
    data: list[Payment]
    has_more: bool
    next_cursor: str | None


class RefundCreate(_Strict):
    amount: Annotated[Amount, Field(description="Integer fen; at most the payment's refundable_amount.")]
    out_refund_no: Annotated[OrderNo, Field(description="Your refund number; unique per merchant. A second "
                                                        "refund with the same number is refused (409).")]
    reason: Annotated[StrictStr, Field(min_length=1, max_length=256, description="Shown to the payer where "
                                       "the channel allows (some channels truncate it).")] | None = None


class Refund(BaseModel):
    """A refund. ``pending`` until the channel confirms: ``succeeded``, or ``failed`` (the amount is
    refundable again)."""

    id: str
    object: Literal["refund"]
    payment_id: str
    amount: int
    currency: str
    status: Literal["pending", "succeeded", "failed"]
    out_refund_no: str
    reason: str | None
    automatic: str | None = Field(description="Why the gateway refunded by itself: late_paid | double_paid.")
    failure_code: str | None
    failure_message: str | None
    created_at: str
    updated_at: str
    succeeded_at: str | None


class RefundList(BaseModel):
    object: Literal["list"]
    data: list[Refund]
    has_more: bool
    next_cursor: str | None


class Problem(BaseModel):
    """RFC 9457 problem details; ``code`` is stable, ``errors`` lists offending fields."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


def validation_errors(exc: Any) -> list[dict[str, Any]]:
    """Pydantic's errors as ``[{"field": "amount", "message": …}]``."""
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        out.append({"field": loc, "message": msg, "type": err["type"]})
    return out
