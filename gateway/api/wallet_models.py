"""Request and response models of the stored-value API: customers' wallets, their statements and
adjustments, recharge packages and recharges (they also generate its OpenAPI schemas)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr, create_model, model_validator

from gateway.api.models import SPECS, Amount, OrderNo, Url, _payer_field, _Strict
from gateway.channels.registry import FACTORIES
from gateway.domain.barcode import AUTH_CODE_FIELD
from gateway.domain.money import MAX_AMOUNT

# A recharge is paid through a real channel: never from the stored value it tops up.
# Not for top-ups: in-process methods, and barcode pay (a counter's flow with a deadline of its own).
_IN_PROCESS = {spec.code for f in FACTORIES if f.in_process for spec in f.methods} | \
    {code for code, spec in SPECS.items() if spec.payer_field == AUTH_CODE_FIELD}
if TYPE_CHECKING:
    RechargePayMethod = str
else:
    RechargePayMethod = Literal[tuple(code for code in SPECS if code not in _IN_PROCESS)]
CustomerId = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-.:@]+$",
                                        description="Your own id for the customer.")]
Signed = Annotated[StrictInt, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT)]
Count = Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)]


class Wallet(BaseModel):
    """A customer's stored value at your shop. ``cash``: paid in by the customer; ``bonus``: given by
    you (packages, adjustments); ``held``: reserved; ``available`` = cash + bonus; ``points``: a unit of
    their own, never money. A payment from balance takes bonus first, then cash; its refunds go back
    cash first, then bonus. A ``frozen`` wallet takes credits only."""

    object: Literal["wallet"]
    customer_id: str
    currency: str
    cash: int
    bonus: int
    held: int
    available: int
    points: int
    status: Literal["active", "frozen"]


class EndingBalance(BaseModel):
    cash: int
    bonus: int
    held: int
    points: int


class WalletMovement(BaseModel):
    """One line of a wallet's statement: signed changes per part (+ = credited to the customer) and the
    balances after it. ``kind``: recharge, pay, refund, recharge_refund, recharge_refund_back, adjustment."""

    id: str
    object: Literal["wallet_movement"]
    customer_id: str
    kind: str
    cash: int
    bonus: int
    held: int
    points: int
    ending_balance: EndingBalance
    payment_id: str | None
    refund_id: str | None
    reason: str | None
    created_at: str


class WalletMovementList(BaseModel):
    object: Literal["list"]
    data: list[WalletMovement]
    has_more: bool
    next_cursor: str | None


class WalletAdjustmentCreate(_Strict):
    """An operator's correction: signed amounts per part (negative = taken from the customer). Refused
    whole (402 ``insufficient_balance``) if any part would go below zero."""

    cash: Signed = 0
    bonus: Signed = 0
    points: Signed = 0
    reason: Annotated[StrictStr, Field(min_length=1, max_length=256, description="Why; kept on the statement.")]

    @model_validator(mode="after")
    def _something(self) -> WalletAdjustmentCreate:
        if not (self.cash or self.bonus or self.points):
            raise ValueError("give a non-zero cash, bonus or points")
        return self


class RechargePackageCreate(_Strict):
    name: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    price: Annotated[Amount, Field(description="What the customer pays (fen); credited as cash.")]
    bonus: Annotated[Count, Field(description="Bonus credited on top (fen).")] = 0
    points: Annotated[Count, Field(description="Points credited on top.")] = 0
    sort_order: Annotated[StrictInt, Field(ge=0, le=1_000_000)] = 0


class RechargePackage(BaseModel):
    id: str
    object: Literal["recharge_package"]
    name: str
    price: int
    bonus: int
    points: int
    active: StrictBool
    sort_order: int
    created_at: str


class RechargePackageList(BaseModel):
    object: Literal["list"]
    data: list[RechargePackage]
    has_more: bool
    next_cursor: str | None


class _RechargeCreate(_Strict):
    """A top-up: ``amount`` (fen) or a ``package_id``; paid like any payment (``pay_method`` fixes the
    method, else the customer chooses on the checkout page) and credited to the wallet once, when paid."""

    amount: Amount | None = None
    package_id: Annotated[StrictStr, Field(max_length=40)] | None = None
    pay_method: Annotated[RechargePayMethod | None, Field(description="A real channel's pay method.")] = None
    out_trade_no: Annotated[OrderNo, Field(description="Your order number; default: generated.")] | None = None
    subject: Annotated[StrictStr, Field(min_length=1, max_length=256)] | None = None
    return_url: Url | None = None
    notify_url: Url | None = None
    expires_in: Annotated[StrictInt, Field(ge=60, le=604800)] = 900

    @model_validator(mode="after")
    def _one_of(self) -> _RechargeCreate:
        if (self.amount is None) == (self.package_id is None):
            raise ValueError("give either amount or package_id")
        spec = SPECS.get(self.pay_method or "")
        if spec is not None and spec.needs_payer and not getattr(self, spec.payer_field or "", None):
            raise ValueError(f"{spec.payer_field} is required with pay_method {spec.code}")
        return self

    @property
    def payer_id(self) -> str | None:
        spec = SPECS.get(self.pay_method or "")
        return getattr(self, spec.payer_field, None) if spec is not None and spec.payer_field else None


# The payer identities the real channels' methods may need (e.g. an in-app wallet's payer).
RechargeCreate: type[_RechargeCreate] = create_model(
    "RechargeCreate", __base__=_RechargeCreate, __module__=__name__,
    **{spec.payer_field: _payer_field(spec.payer_field) for code, spec in SPECS.items()
       if spec.payer_field and code not in _IN_PROCESS})


class WalletHoldCreate(_Strict):
    """Reserve ``amount`` (bonus first, then cash) until you capture it (it becomes yours, like a payment
    from balance) or release it; past ``expires_in`` seconds it is released by itself."""

    amount: Amount
    expires_in: Annotated[StrictInt, Field(ge=60, le=604800)] = 900
    reason: Annotated[StrictStr, Field(min_length=1, max_length=256)] | None = None


class WalletHold(BaseModel):
    id: str
    object: Literal["wallet_hold"]
    customer_id: str
    amount: int
    cash: int
    bonus: int
    status: Literal["held", "captured", "released", "expired"]
    reason: str | None
    expires_at: str
    created_at: str


class CheckoutTokenCreate(_Strict):
    """A pending payment of yours that this customer is about to pay at the checkout."""

    payment_id: Annotated[StrictStr, Field(min_length=1, max_length=40)]


class CheckoutToken(BaseModel):
    """``customer_token`` names this customer for this one payment (an HMAC by the gateway: a shopper can
    neither change the customer nor reuse it on another payment). Send the shopper to ``checkout_url``:
    the checkout offers the customer's balance there, with a confirmation step."""

    object: Literal["checkout_token"]
    customer_id: str
    payment_id: str
    customer_token: str
    checkout_url: str
