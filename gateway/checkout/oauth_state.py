"""The OAuth ``state`` parameter of the in-app pay flow: bound to the payment, to the shopper's browser (the
nonce of its ``checkout_browser`` cookie, :mod:`gateway.checkout.browser`) and to a deadline, MACed with a
key derived from the gateway's secret -- so a ``code`` can only come back to the payment and the browser
that asked for it, within :data:`STATE_TTL` (a state lifted from one browser's address bar is useless in
another). Stateless: any process checks what any other signed."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time

from gateway.crypto.secrets import Secret

STATE_TTL = 600  # seconds an OAuth round trip may take


class OAuthState:
    def __init__(self, secret_key: Secret) -> None:
        self._key = hmac.new(secret_key.reveal().encode(), b"gateway/checkout-oauth-state", hashlib.sha256).digest()

    def _mac(self, payment_id: str, browser: str, deadline: int) -> bytes:
        return hmac.new(self._key, f"{payment_id}|{browser}|{deadline}".encode(), hashlib.sha256).digest()[:16]

    def sign(self, payment_id: str, browser: str, now: float | None = None) -> str:
        deadline = int((now or time.time()) + STATE_TTL)
        mac = self._mac(payment_id, browser, deadline)
        return f"{deadline:x}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"

    def check(self, payment_id: str, browser: str, state: str, now: float | None = None) -> bool:
        deadline_hex, _, mac_text = state.partition(".")
        try:
            deadline = int(deadline_hex, 16)
            mac = base64.urlsafe_b64decode(mac_text + "=" * (-len(mac_text) % 4))
        except ValueError:
            return False
        return bool(browser) and hmac.compare_digest(mac, self._mac(payment_id, browser, deadline)) and (now or time.time()) <= deadline
