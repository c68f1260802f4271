"""Recharges: a top-up of a customer's wallet is an ordinary payment through a real channel, with a
``recharges`` row written in the payment's own insert transaction. When the payment becomes paid the
settlement credits it (:func:`gateway.services.wallets.credit_recharge`), once."""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain.errors import ValidationFailed
from gateway.domain.ids import new_id
from gateway.services import payments, wallets
from gateway.services.context import Services
from gateway.store import wallets as store
from gateway.store.base import Row, utcnow


async def create_recharge(svc: Services, merchant: Row, customer_id: str, *, amount: int | None,
                          package_id: str | None, pay_method: str | None, out_trade_no: str | None = None,
                          subject: str | None = None, return_url: str | None = None, notify_url: str | None = None,
                          expires_in: int = 900, payer_id: str | None = None,
                          client_ip: str | None = None) -> dict[str, Any]:
    if pay_method is not None and svc.registry.for_method(pay_method).in_process:
        raise ValidationFailed("A recharge is paid through a real channel",
                               errors=[{"field": "pay_method", "message": "not a stored-value method"}])
    bonus = points = 0
    if package_id is not None:
        async with svc.db.read() as conn:
            package = await wallets.require_package(conn, merchant["id"], package_id)
        amount, bonus, points = package["price"], package["bonus"], package["points"]
        subject = subject or package["name"]
    assert amount is not None

    async def record(conn: AsyncConnection, payment: Row) -> None:
        await store.insert_recharge(conn, {
            "payment_id": payment["id"], "merchant_id": merchant["id"], "customer_id": customer_id,
            "package_id": package_id, "amount": amount, "bonus": bonus, "points": points, "status": "pending",
            "created_at": utcnow()})

    return await payments.create_payment(svc, merchant, payments.NewPayment(
        amount=amount, currency="CNY", subject=subject or "Recharge", out_trade_no=out_trade_no or new_id("rch"),
        channel=pay_method, return_url=return_url, notify_url=notify_url, expires_in=expires_in,
        metadata={"recharge_customer_id": customer_id}, payer_id=payer_id, with_row=record), client_ip=client_ip)
