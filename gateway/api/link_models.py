"""Request and response models of the payment-link API (they also generate its OpenAPI schemas)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, Field, StrictBool, StrictStr, field_validator, model_validator

from gateway.api.models import SPECS, Amount, Url, _currency, _Strict

# A link is opened by anyone, in a browser: a method that needs the payer's identity first, or that no
# browser completes (APP pay, for the merchant's own app), is never fixed by one.
if TYPE_CHECKING:
    LinkPayMethod = str
else:
    LinkPayMethod = Literal[tuple(code for code, spec in SPECS.items() if not spec.needs_payer and spec.browsers)]


class PaymentLinkCreate(_Strict):
    """A reusable link: a fixed ``amount``, or (without it) an amount the shopper enters within
    ``min_amount``–``max_amount``."""

    subject: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    currency: Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217.")] = "CNY"
    amount: Amount | None = None
    min_amount: Amount | None = None
    max_amount: Amount | None = None
    pay_method: Annotated[LinkPayMethod | None, Field(description="Fix the pay method; absent = the shopper "
                                                                  "chooses. A method that needs the payer's "
                                                                  "identity (the checkout's sign-in) is "
                                                                  "never fixed.")] = None
    return_url: Url | None = None

    _check_currency = field_validator("currency")(_currency)

    @model_validator(mode="after")
    def _bounds(self) -> PaymentLinkCreate:
        if self.amount is not None and (self.min_amount is not None or self.max_amount is not None):
            raise ValueError("give either amount, or min_amount/max_amount for a shopper-entered amount")
        if self.min_amount is not None and self.max_amount is not None and self.min_amount > self.max_amount:
            raise ValueError("min_amount must not exceed max_amount")
        return self


class PaymentLinkUpdate(_Strict):
    """Edit a link, or deactivate it with ``"active": false`` (its page then says it is no longer active;
    ``true`` reactivates it). ``amount`` applies to a fixed-amount link, ``min_amount``/``max_amount`` to a
    shopper-entered one (``null`` removes a bound). Payments already made are not changed."""

    subject: Annotated[StrictStr, Field(min_length=1, max_length=256)] | None = None
    amount: Amount | None = None
    min_amount: Amount | None = None
    max_amount: Amount | None = None
    active: StrictBool | None = None

    @model_validator(mode="after")
    def _something(self) -> PaymentLinkUpdate:
        if not self.model_fields_set:
            raise ValueError("give at least one of subject, amount, min_amount, max_amount, active")
        for name in ("subject", "active"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class PaymentLink(BaseModel):
    id: str
    object: Literal["payment_link"]
    slug: str
    url: str
    poster_url: str
    subject: str
    currency: str
    amount: int | None
    min_amount: int | None
    max_amount: int | None
    pay_method: str | None
    return_url: str | None
    active: bool
    created_at: str


class PaymentLinkList(BaseModel):
    object: Literal["list"]
    data: list[PaymentLink]
    has_more: bool
    next_cursor: str | None
