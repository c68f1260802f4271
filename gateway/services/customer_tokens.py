"""Customer tokens: how the checkout learns, without trusting the shopper, which of the merchant's customers
is paying -- so it can offer that customer's balance (``balance`` pay method, :mod:`gateway.channels.prepaid`).

The merchant's server asks for one through the authenticated API
(``POST /api/v1/customers/{customer_id}/checkout_tokens`` with the payment's id) and sends the shopper to
the ``checkout_url`` it gets back. The token is an HMAC, under a key derived from the gateway's secret, of
merchant, payment and customer: it names one customer for one payment of one merchant, so a shopper can
neither name another customer nor carry the token to another payment. Stateless: nothing is stored, any
process verifies what any other issued, and it is only good while the payment is payable.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import urlencode

from gateway.crypto.secrets import Secret
from gateway.domain.errors import InvalidState, NotFound
from gateway.domain.states import PaymentStatus
from gateway.services.context import Services
from gateway.store import payments as payments_repo


class CustomerTokens:
    def __init__(self, secret_key: Secret) -> None:
        self._key = hmac.new(secret_key.reveal().encode(), b"gateway/checkout-customer", hashlib.sha256).digest()

    def _mac(self, merchant_id: str, payment_id: str, customer_id: str) -> str:
        message = f"{merchant_id}|{payment_id}|{customer_id}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

    def sign(self, merchant_id: str, payment_id: str, customer_id: str) -> str:
        name = base64.urlsafe_b64encode(customer_id.encode()).decode().rstrip("=")
        return f"{name}.{self._mac(merchant_id, payment_id, customer_id)}"

    def verify(self, merchant_id: str, payment_id: str, token: str) -> str | None:
        """The customer id the token names for this payment, or ``None``."""
        name, _, mac = token.partition(".")
        if not name or len(token) > 400:  # 64 four-byte characters, base64, plus the MAC
            return None
        try:
            customer_id = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode()
        except ValueError:
            return None
        expected = self._mac(merchant_id, payment_id, customer_id)
        return customer_id if hmac.compare_digest(expected.encode(), mac.encode()) else None


def tokens(svc: Services) -> CustomerTokens:
    return CustomerTokens(svc.settings.secret_key)


async def issue(svc: Services, merchant_id: str, payment_id: str, customer_id: str) -> dict[str, Any]:
    """A token for one of the merchant's pending payments (404 for another merchant's, 409 once settled)."""
    async with svc.db.read() as conn:
        payment = await payments_repo.get_payment(conn, payment_id, merchant_id)
    if payment is None:
        raise NotFound(f"No payment {payment_id}")
    if payment["status"] != PaymentStatus.PENDING:
        raise InvalidState(f"Payment {payment_id} is {payment['status']}")
    token = tokens(svc).sign(merchant_id, payment_id, customer_id)
    return {"object": "checkout_token", "customer_id": customer_id, "payment_id": payment_id,
            "customer_token": token, "checkout_url": svc.url(f"/pay/{payment_id}?{urlencode({'customer_token': token})}")}
