"""The cashier's decisions, apart from HTTP: what a payment offers this shopper, which attempt is current,
and switching methods (a new attempt; the old one closed at its channel)."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from gateway.checkout.agent import QR_METHODS, Client, usable
from gateway.domain.errors import NotFound, ValidationFailed
from gateway.domain.states import AttemptStatus, PaymentStatus
from gateway.services import payments
from gateway.services.context import Services
from gateway.store import merchants as merchants_repo
from gateway.store import payments as repo
from gateway.store.base import Row, utcnow
from gateway.store.rows import AttemptRow

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
        """The newest open attempt with pay data, if its method is one of ``methods``."""
        for attempt in reversed(self.attempts):
            if attempt["status"] == AttemptStatus.PENDING and attempt["pay_data"] not in ("", "{}"):
                return attempt if attempt["pay_method"] in methods else None
        return None

    def methods_for(self, client: Client) -> list[str]:
        """What to offer this client: the fixed method whatever the client, else what it can complete."""
        if self.payment["pay_method"]:
            return [self.payment["pay_method"]]
        return usable(client, self.allowed)


async def load(svc: Services, payment_id: str) -> PageData:
    if not (0 < len(payment_id) <= 40 and payment_id.replace("_", "").isalnum()):
        raise NotFound("No such payment")
    async with svc.db.read() as conn:
        payment = await repo.get_payment(conn, payment_id)
        if payment is None:
            raise NotFound("No such payment")
        merchant = await merchants_repo.get_merchant(conn, payment["merchant_id"])
        attempts = await repo.attempts_of(conn, payment_id)
    assert merchant is not None
    allowed = [payment["pay_method"]] if payment["pay_method"] else \
        await payments.enabled_methods(svc, payment["merchant_id"])
    return PageData(payment, merchant, attempts, allowed)


def pay_data(attempt: Row) -> dict[str, Any]:
    return json.loads(attempt["pay_data"] or "{}")


def qr_content(attempt: Row) -> str:
    data = pay_data(attempt)
    return str(data["code_url"] if attempt["pay_method"] == "wechat_native" else data["qr_code"])


def redirect_target(svc: Services, attempt: Row) -> str:
    """Where the browser goes for a redirect method. WeChat H5 takes our page as ``redirect_url``
    (URL-encoded, appended), so WeChat brings the shopper back to a page that shows the outcome."""
    data = pay_data(attempt)
    if attempt["pay_method"] == "wechat_h5":
        back = quote(svc.url(f"/pay/{attempt['payment_id']}"), safe="")
        sep = "&" if "?" in data["h5_url"] else "?"
        return f"{data['h5_url']}{sep}redirect_url={back}"
    return str(data["pay_url"])


def sandbox_phone_url(svc: Services, attempt: Row) -> str | None:
    """In sandbox mode, the page a phone would open after scanning this attempt's QR code -- so a desktop
    tester can "scan" it. Never in production."""
    base = svc.settings.sandbox_base
    if base is None or attempt["pay_method"] not in QR_METHODS:
        return None
    if attempt["pay_method"] == "alipay_qr":
        return qr_content(attempt)  # the sandbox's qr_code is already a page URL
    from gateway.sandbox.wechat import scan_page_url

    return scan_page_url(f"{base}/wechat", qr_content(attempt))


def jsapi_page(svc: Services, attempt: Row) -> str | None:
    """Sandbox stand-in for WeixinJSBridge: the sandbox's JSAPI pay page for this prepay_id."""
    base = svc.settings.sandbox_base
    return f"{base}/wechat/jsapi/{pay_data(attempt)['prepay_id']}" if base else None


async def switch(svc: Services, data: PageData, method: str, *, client_ip: str | None,
                 openid: str | None = None) -> Row:
    """Make ``method`` the current attempt: reuse an open attempt of that method, else close the others at
    their channels (one of them may turn out paid -- then no new attempt opens) and open a new one."""
    if method not in data.allowed:
        raise ValidationFailed("This pay method is not available for this payment",
                               errors=[{"field": "method", "message": "not available"}])
    current = data.current([method])
    if current is not None and (method != "wechat_jsapi" or openid is None):
        return current
    await payments.close_attempts_at_channel(svc, data.payment["id"])
    async with svc.db.read() as conn:
        fresh = await repo.get_payment(conn, data.payment["id"])
    assert fresh is not None
    return await payments.open_attempt(svc, fresh, method, client_ip=client_ip, openid=openid)


def allowed_return_url(data: PageData) -> str | None:
    """The merchant's ``return_url``, only when its host is one of the merchant's registered return
    domains -- the checkout must not become an open redirect."""
    url = data.payment["return_url"]
    if not url:
        return None
    parts = urlsplit(url)
    try:
        domains = {str(d).lower() for d in json.loads(data.merchant["return_domains"] or "[]")}
    except ValueError:
        return None
    if parts.scheme in ("http", "https") and parts.hostname and parts.hostname.lower() in domains:
        return url
    return None
