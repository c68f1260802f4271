"""The merchant API's request and response models. They validate requests and generate the OpenAPI
document -- one definition for both."""
from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    create_model,
    field_validator,
    model_validator,
)

from gateway.channels.registry import pay_method_specs, payment_code_rules
from gateway.domain import barcode
from gateway.domain.money import CURRENCY_EXPONENTS, MAX_AMOUNT, SUPPORTED_CURRENCIES
from gateway.web import urls

# The pay-method codes and payer-identity fields come from the channel registry.
SPECS = {spec.code: spec for spec in pay_method_specs()}
# Barcode pay: the methods that take an auth_code, and the rule of every channel's payment codes.
BARCODE_METHODS = frozenset(code for code, spec in SPECS.items() if spec.payer_field == barcode.AUTH_CODE_FIELD)
CODE_RULES = tuple(payment_code_rules())
if TYPE_CHECKING:
    PayMethod = str
    RequestedMethod = str
else:
    PayMethod = Literal[tuple(SPECS)]
    # A create may also name "barcode": the auth_code's prefix chooses the channel's barcode method.
    RequestedMethod = Literal[(*SPECS, barcode.BARCODE)]
Amount = Annotated[StrictInt, Field(ge=1, le=MAX_AMOUNT, description="Integer minor units (fen).",
                                    examples=[1999])]


def _http_url(value: str) -> str:
    if urls.parse_http_url(value) is None:
        raise ValueError("an absolute http(s) URL expected, as a browser reads it: no user info, no "
                         "whitespace or control characters")
    return value


# Read as a browser reads it (gateway.web.urls): the same parser checks a return_url's host.
Url = Annotated[StrictStr, Field(max_length=2048, pattern=r"^https?://[^\s]+$"), AfterValidator(_http_url)]
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
    pay_method: Annotated[RequestedMethod | None, Field(description="Fix the pay method; absent = the shopper "
                                                                    "chooses on the checkout page. `barcode` (with "
                                                                    "`auth_code`): the code's prefix picks the "
                                                                    "channel's barcode method.")] = None
    channel: Annotated[RequestedMethod | None, Field(json_schema_extra={"deprecated": True},
                                                     description="Deprecated: the old name of pay_method (the "
                                                     "same value, or leave it out).")] = None
    return_url: Url | None = None
    notify_url: Url | None = None
    expires_in: Annotated[StrictInt, Field(ge=60, le=604800, description="Seconds until the payment "
                                                                          "expires.")] = 900
    metadata: Annotated[dict[Annotated[str, Field(max_length=40)], Annotated[StrictStr, Field(max_length=500)]],
                        Field(max_length=20)] | None = None
    capture: Annotated[StrictBool, Field(description=(
        "false: only reserve the amount now (a hold on the customer's balance; pay methods that can "
        "reserve: " + ", ".join(c for c, s in SPECS.items() if s.manual_capture) + "); the payment stays "
        "pending until `POST /payments/{id}/capture` pays it, or closing or expiry releases it."))] = True
    customer_ip: Annotated[StrictStr, Field(max_length=45, description="The shopper's IP address as you saw it: "
                                            "risk rules by IP use it (else this request's address), and channels "
                                            "that want the payer's IP (H5 pay methods) get it.")] | None = None

    @model_validator(mode="after")
    def _capture_supported(self) -> _PaymentCreate:
        spec = SPECS.get(self.method or "")
        if not self.capture and (spec is None or not spec.manual_capture):
            raise ValueError("capture=false needs a pay method that can reserve: "
                             + ", ".join(c for c, s in SPECS.items() if s.manual_capture))
        return self

    @field_validator("customer_ip")
    @classmethod
    def _check_ip(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.ip_address(value)
        return value

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str) -> str:
        # A unit of its own (points) passes here; _method_currency pairs it with its pay method.
        return value if any(spec.currency == value for spec in SPECS.values()) else _currency(value)

    @property
    def method(self) -> str | None:
        """The fixed pay method, under its name or its deprecated alias ``channel``."""
        return self.pay_method or self.channel

    @model_validator(mode="after")
    def _one_method(self) -> _PaymentCreate:
        if self.pay_method and self.channel and self.pay_method != self.channel:
            raise ValueError(f"pay_method {self.pay_method} and its deprecated alias channel {self.channel} "
                             "differ; send pay_method alone")
        return self

    @model_validator(mode="after")
    def _barcode(self) -> _PaymentCreate:
        """``barcode`` becomes the method the code's prefix names; a channel's own barcode method must get
        that channel's code; an ``auth_code`` goes with a barcode method only."""
        auth_code = getattr(self, barcode.AUTH_CODE_FIELD, None)
        method = self.method
        if method is not None and (method == barcode.BARCODE or method in BARCODE_METHODS):
            if not auth_code:
                raise ValueError(f"{barcode.AUTH_CODE_FIELD} is required with pay_method {method}")
            self.pay_method, self.channel = barcode.resolve(method, auth_code, CODE_RULES), None
        elif auth_code:
            raise ValueError(f"{barcode.AUTH_CODE_FIELD} goes with pay_method {barcode.BARCODE} "
                             f"(or {', '.join(sorted(BARCODE_METHODS))}) only")
        return self

    @model_validator(mode="after")
    def _method_currency(self) -> _PaymentCreate:
        spec = SPECS.get(self.method or "")
        own = spec.currency if spec is not None else None
        if (own or self.currency) != self.currency or (own is None and self.currency not in SUPPORTED_CURRENCIES):
            raise ValueError(f"pay_method {self.method} pays in {own}" if own else
                             f"currency {self.currency} is paid only with its own pay method")
        return self

    @property
    def payer_id(self) -> str | None:
        """The payer's identity for the fixed method, from the field that method names."""
        spec = SPECS.get(self.method or "")
        return getattr(self, spec.payer_field, None) if spec is not None and spec.payer_field else None

    @model_validator(mode="after")
    def _payer_needed(self) -> _PaymentCreate:
        spec = SPECS.get(self.method or "")
        if spec is not None and spec.needs_payer and not self.payer_id:
            raise ValueError(f"{spec.payer_field} is required with pay_method {spec.code}")
        return self

    def new_payment(self) -> dict[str, Any]:
        """The fields of :class:`gateway.services.payments.NewPayment`."""
        payer_fields = {spec.payer_field for spec in SPECS.values() if spec.payer_field} | {"pay_method"}
        return {k: v for k, v in self.model_dump().items() if k not in payer_fields} | {
            "payer_id": self.payer_id, "channel": self.method}


def _payer_field(name: str) -> Any:
    methods = ", ".join(code for code, spec in SPECS.items() if spec.payer_field == name)
    if name == barcode.AUTH_CODE_FIELD:
        # No pattern: a code that is no channel's is refused naming the channels' rules (_barcode).
        return (Annotated[StrictStr, Field(min_length=1, max_length=32, description=(
            f"The payment code scanned from the shopper's wallet (付款码); required with channel barcode, {methods}. "
            f"Its prefix tells the channel: {barcode.rules_text(CODE_RULES)}."))] | None, None)
    return (Annotated[StrictStr, Field(min_length=1, max_length=128, description=f"The payer's identity at the "
                                       f"channel (under your app); required with {methods}.")] | None, None)


# One optional field per payer identity a pay method declares (e.g. the payer of an in-app wallet).
PaymentCreate: type[_PaymentCreate] = create_model(
    "PaymentCreate", __base__=_PaymentCreate, __module__=__name__,
    **{spec.payer_field: _payer_field(spec.payer_field) for spec in SPECS.values() if spec.payer_field})


class QrAction(BaseModel):
    """Show a code of ``qr`` for the shopper to scan with the wallet app (desktop)."""

    type: Literal["qr"]
    qr: str = Field(examples=["weixin://wxpay/bizpayurl?pr=abc123"])


class RedirectAction(BaseModel):
    """Send the shopper's browser to ``url`` (a channel's H5 or web cashier). If ``return_param`` is
    given, append your page to come back to under that query parameter (WeChat H5's ``redirect_url``)."""

    type: Literal["redirect"]
    url: str
    return_param: str | None = None


class FormPostAction(BaseModel):
    """Have the browser POST the signed ``fields`` to ``url`` (UnionPay's cashier): an auto-submitting
    form; change nothing in it."""

    type: Literal["form_post"]
    url: str
    fields: dict[str, str]


class JsapiAction(BaseModel):
    """Inside the wallet's own browser: hand ``params`` to its JS bridge (``WeixinJSBridge.invoke(
    'getBrandWCPayRequest', params)``)."""

    type: Literal["jsapi"]
    params: dict[str, str]


class AppAction(BaseModel):
    """In your native app: hand ``params`` to the wallet's SDK (``alipay_app``: ``order_string`` for
    ``payV2``; ``wechat_app``: ``appid``, ``partnerid``, ``prepayid``, ``package``, ``noncestr``,
    ``timestamp``, ``sign`` for ``PayReq``)."""

    type: Literal["app"]
    params: dict[str, str]


class ConfirmAction(BaseModel):
    """Nothing to show: the payment settles without the shopper (stored value)."""

    type: Literal["confirm"]


NextAction = Annotated[QrAction | RedirectAction | FormPostAction | JsapiAction | AppAction | ConfirmAction,
                       Field(discriminator="type", description="What the shopper's browser does next to pay, "
                             "while a payment with a fixed pay method is pending; by ``type``.")]
# next_action ``type`` → its schema's name (every ActionKind has one: tests/api/test_docs.py checks).
ACTION_SCHEMAS = {"qr": "QrAction", "redirect": "RedirectAction", "form_post": "FormPostAction",
                  "jsapi": "JsapiAction", "app": "AppAction", "confirm": "ConfirmAction"}


class RiskHit(BaseModel):
    id: str = Field(description="The rule's id (default:… for the built-in list rules).")
    type: str
    action: Literal["block", "throttle", "review"]
    mode: Literal["monitor", "enforce"]
    reason: str


class RiskSummary(BaseModel):
    """The risk decision taken with the payment: the strongest action of the enforce-mode rules that
    fired (``allow`` when none), and every rule that fired, monitor-mode ones included."""

    decision: Literal["allow", "review", "throttle", "block"]
    rules: list[RiskHit]


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
    pay_method: PayMethod | None = Field(description="The method fixed at create; once paid, the method it "
                                         "was paid with (whichever the shopper chose).")
    channel: PayMethod | None = Field(json_schema_extra={"deprecated": True},
                                      description="Deprecated: the same as pay_method.")
    channel_trade_no: str | None = Field(description="The channel's transaction id of the payment (its own "
                                         "number for the trade, on the shopper's receipt), once paid.")
    channel_order_no: str | None = Field(description="Our order number at the channel (what the shopper's "
                                         "receipt shows as the merchant order number), once paid.")
    checkout_url: str
    return_url: str | None
    notify_url: str | None = Field(description="Where this payment's events go instead of your webhook_url.")
    metadata: dict[str, str]
    created_at: str
    expires_at: str
    paid_at: str | None
    closed_at: str | None
    close_reason: Literal["merchant", "expired", "operator", "cancelled", "declined"] | None = Field(
        description="Why a closed payment closed: you closed it (merchant), its time ran out (expired), an "
                    "operator closed it in the console (operator), the sandbox helper's shopper cancelled "
                    "(cancelled), or the channel refused a scanned payment code (declined).")
    late_payment: bool
    capture_method: Literal["automatic", "manual"] = Field(description=(
        "manual: created with `capture: false`; pending means the amount is reserved until captured."))
    link_id: Annotated[str | None, Field(description="The payment link a shopper made this payment from.")] = None
    next_action: NextAction | None = None
    risk: RiskSummary


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
