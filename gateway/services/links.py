"""Payment links: create, edit and (de)activate (API); visit (``/l/{slug}`` shows the link, its form's POST
makes a payment carrying ``link_id`` and forwards to its checkout). The printable poster is drawn by
:mod:`gateway.checkout.poster`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.domain.errors import ChannelDeclined, ChannelUnavailable, NotFound, ValidationFailed
from gateway.domain.ids import new_id, new_slug
from gateway.domain.money import Money
from gateway.services import payments
from gateway.services.context import Services
from gateway.services.views import iso
from gateway.store import links as repo
from gateway.store import merchants as merchants_repo
from gateway.store.base import Row, utcnow


@dataclass(frozen=True)
class NewLink:
    subject: str
    currency: str = "CNY"
    amount: int | None = None
    min_amount: int | None = None
    max_amount: int | None = None
    pay_method: str | None = None
    return_url: str | None = None


def link_view(row: Row, base_url: str) -> dict[str, Any]:
    url = f"{base_url}/l/{row['slug']}"
    return {"id": row["id"], "object": "payment_link", "slug": row["slug"], "url": url,
            "poster_url": f"{url}/poster.svg", "subject": row["subject"], "currency": row["currency"],
            "amount": row["amount"], "min_amount": row["min_amount"], "max_amount": row["max_amount"],
            "pay_method": row["pay_method"], "return_url": row["return_url"], "active": bool(row["active"]),
            "created_at": iso(row["created_at"])}


async def create_link(svc: Services, merchant: Row, new: NewLink) -> dict[str, Any]:
    if new.pay_method:
        if new.pay_method not in await payments.enabled_methods(svc, merchant["id"]):
            raise ValidationFailed("This pay method is not enabled for the merchant",
                                   errors=[{"field": "pay_method", "message": "not enabled"}])
    row = {"id": new_id("plink"), "slug": new_slug(), "merchant_id": merchant["id"], "subject": new.subject,
           "currency": new.currency, "amount": new.amount, "min_amount": new.min_amount,
           "max_amount": new.max_amount, "pay_method": new.pay_method, "return_url": new.return_url,
           "active": True, "created_at": utcnow()}
    async with svc.db.begin() as conn:
        await repo.insert_link(conn, row)
    return link_view(row, svc.settings.public_url or "")


async def get_link(svc: Services, merchant_id: str, link_id: str) -> dict[str, Any]:
    async with svc.db.read() as conn:
        row = await repo.get_link(conn, merchant_id, link_id)
    if row is None:
        raise NotFound(f"No payment link {link_id}")
    return link_view(row, svc.settings.public_url or "")


async def update_link(svc: Services, merchant_id: str, link_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Edit a link (``subject``; ``amount`` of a fixed link, or ``min_amount``/``max_amount`` of an open
    one) or (de)activate it (``active``). Payments made before keep what they were made with."""
    async with svc.db.begin() as conn:
        row = await repo.get_link(conn, merchant_id, link_id)
        if row is None:
            raise NotFound(f"No payment link {link_id}")
        fixed = row["amount"] is not None
        if fixed and ({"min_amount", "max_amount"} & changes.keys()):
            raise ValidationFailed("A fixed-amount link has no bounds; change its amount",
                                   errors=[{"field": "min_amount", "message": "fixed-amount link"}])
        if not fixed and "amount" in changes:
            raise ValidationFailed("A shopper-entered link has no fixed amount; change its bounds",
                                   errors=[{"field": "amount", "message": "shopper-entered amount link"}])
        if fixed and changes.get("amount", 1) is None:
            raise ValidationFailed("amount cannot be removed", errors=[{"field": "amount", "message": "required"}])
        merged = {**row, **changes}
        lo, hi = merged["min_amount"], merged["max_amount"]
        if lo is not None and hi is not None and lo > hi:
            raise ValidationFailed("min_amount must not exceed max_amount",
                                   errors=[{"field": "min_amount", "message": "exceeds max_amount"}])
        if changes:
            await repo.update_link(conn, merchant_id, link_id, changes)
    return link_view(merged, svc.settings.public_url or "")


async def link_for_visit(svc: Services, slug: str) -> tuple[Row, Row]:
    """The link (active or not: an inactive one still has a page that says so) and its merchant; NotFound
    for no such link."""
    async with svc.db.read() as conn:
        link = await repo.by_slug(conn, slug) if slug.isalnum() and len(slug) <= 32 else None
        merchant = await merchants_repo.get_merchant(conn, link["merchant_id"]) if link else None
    if link is None or merchant is None:
        raise NotFound("No such payment link")
    return link, merchant


def check_amount(link: Row, amount: int) -> None:
    lo, hi = link["min_amount"] or 1, link["max_amount"]
    if amount < lo or (hi is not None and amount > hi):
        raise ValidationFailed("The amount is outside the link's bounds",
                               errors=[{"field": "amount", "message": "out of bounds"}])


async def pay(svc: Services, link: Row, merchant: Row, amount: int, *, client_ip: str | None) -> str:
    """Create a payment for one visit; returns its id. A channel that refuses still leaves the payment,
    whose checkout page shows the other methods."""
    Money(amount, link["currency"])
    if link["amount"] is None:
        check_amount(link, amount)
    elif amount != link["amount"]:
        raise ValidationFailed("This link has a fixed amount")
    new = payments.NewPayment(amount=amount, currency=link["currency"], subject=link["subject"],
                              out_trade_no=f"L{link['slug']}-{new_id('v')[2:]}", link_id=link["id"],
                              channel=link["pay_method"], return_url=link["return_url"])
    try:
        view = await payments.create_payment(svc, merchant, new, client_ip=client_ip)
    except (ChannelDeclined, ChannelUnavailable) as exc:
        if exc.extra.get("payment_id"):
            return str(exc.extra["payment_id"])
        raise
    return str(view["id"])
