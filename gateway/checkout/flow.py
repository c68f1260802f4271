"""The cashier's decisions, apart from HTTP: what a payment offers this shopper, which attempt is current,
and switching methods (a new attempt; the old one closed at its channel)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from gateway.channels.registry import Registry
from gateway.checkout.agent import usable
from gateway.domain.errors import NotFound, ValidationFailed
from gateway.domain.pay import Browser, PayAction
from gateway.domain.states import AttemptStatus, PaymentStatus
from gateway.services import payments, risk, risk_limits
from gateway.services.context import Services
from gateway.store import merchants as merchants_repo
from gateway.store import payments as repo
from gateway.store.base import Row, utcnow
from gateway.store.rows import AttemptRow
from gateway.web import urls

log = logging.getLogger(__name__)


@dataclass
class PageData:
    payment: Row
    merchant: Row
    attempts: list[AttemptRow]
    allowed: list[str]  # the fixed method, or the merchant's enabled ones

    @property
    def expired(self) -> bool:
        return self.payment["status"] == PaymentStatus.PENDING and self.payment["expires_at"] <= utcnow()

    @property
    def payable(self) -> bool:
        return self.payment["status"] == PaymentStatus.PENDING and not self.expired

    @property
    def remaining(self) -> int:
        return max(0, int((self.payment["expires_at"] - utcnow()).total_seconds()))

    def current(self, methods: list[str]) -> Row | None:
        """The newest open attempt with a pay action, if its method is one of ``methods``."""
        for attempt in reversed(self.attempts):
            if attempt["status"] == AttemptStatus.PENDING and PayAction.loads(attempt["pay_data"]) is not None:
                return attempt if attempt["pay_method"] in methods else None
        return None

    def methods_for(self, registry: Registry, browser: Browser) -> list[str]:
        """What to offer this browser: the fixed method whatever the browser, else what it can complete."""
        if self.payment["pay_method"]:
            return [self.payment["pay_method"]]
        return usable(registry, browser, self.allowed)


async def load(svc: Services, payment_id: str) -> PageData:
    if not (0 < len(payment_id) <= 40 and payment_id.replace("_", "").isalnum()):
        raise NotFound("No such payment")
    async with svc.db.read() as conn:
        payment = await repo.get_payment(conn, payment_id)
        if payment is None:
            raise NotFound("No such payment")
        merchant = svc.merchants.get(payment["merchant_id"])  # its name and return domains: rarely changed
        if merchant is None:
            merchant = await merchants_repo.get_merchant(conn, payment["merchant_id"])
            assert merchant is not None
            svc.merchants.keep(merchant["id"], merchant)
        attempts = await repo.attempts_of(conn, payment_id)
    allowed = [payment["pay_method"]] if payment["pay_method"] else \
        await payments.enabled_methods(svc, payment["merchant_id"])
    return PageData(payment, merchant, attempts, allowed)


def action(attempt: Row) -> PayAction:
    """The pay action of an attempt that has one (see :meth:`PageData.current`)."""
    found = PayAction.loads(attempt["pay_data"])
    assert found is not None, attempt["id"]
    return found


def redirect_target(svc: Services, attempt: Row) -> str:
    """Where the browser goes for a redirect action; a channel page that takes a return URL gets our
    page, so the shopper comes back to a page that shows the outcome."""
    return action(attempt).with_return(svc.url(f"/pay/{attempt['payment_id']}"))


async def switch(svc: Services, data: PageData, method: str, *, client_ip: str | None,
                 payer_id: str | None = None) -> Row:
    """Make ``method`` the current attempt: reuse an open attempt of that method, else close the others at
    their channels (one of them may turn out paid -- then no new attempt opens) and open a new one."""
    if method not in data.allowed:
        raise ValidationFailed("This pay method is not available for this payment",
                               errors=[{"field": "method", "message": "not available"}])
    current = data.current([method])
    if current is not None and (payer_id is None or not svc.registry.spec(method).needs_payer):
        return current
    await risk_limits.method_switch(svc, client_ip, data.payment["id"])  # anonymous: bounded per IP and payment
    await risk.check_checkout(svc, data.payment, method, ip=client_ip, payer=payer_id)
    await payments.close_attempts_at_channel(svc, data.payment["id"])
    async with svc.db.read() as conn:
        fresh = await repo.get_payment(conn, data.payment["id"])
    assert fresh is not None
    return await payments.open_attempt(svc, fresh, method, client_ip=client_ip, payer_id=payer_id)


def allowed_return_url(data: PageData) -> str | None:
    """The merchant's ``return_url`` as the browser will read it, only when its host is one of the
    merchant's registered return domains -- the checkout must not become an open redirect. Whatever
    is stored (an old row, a domain list edited by hand), this answers and never raises."""
    return urls.allowed_return(data.payment["return_url"], urls.return_domains(data.merchant["return_domains"]))
