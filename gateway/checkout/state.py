"""What the checkout keeps for the life of the app: the QR cache and the key that signs OAuth state."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field

from gateway.checkout.qr import QRCache
from gateway.crypto.secrets import Secret

STATE_TTL = 600  # seconds a WeChat OAuth round trip may take


@dataclass
class Checkout:
    secret_key: Secret
    qr: QRCache = field(default_factory=QRCache)
    # Set when the app shuts down: long-polls answer at once instead of holding the shutdown for their wait.
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    def _key(self) -> bytes:
        return hmac.new(self.secret_key.reveal().encode(), b"gateway/checkout-oauth-state", hashlib.sha256).digest()

    def sign_state(self, payment_id: str, now: float | None = None) -> str:
        """OAuth ``state``: bound to the payment and to a deadline, MACed -- so a ``code`` can only come back
        to the payment that asked for it, within :data:`STATE_TTL`."""
        deadline = int((now or time.time()) + STATE_TTL)
        mac = hmac.new(self._key(), f"{payment_id}|{deadline}".encode(), hashlib.sha256).digest()[:16]
        return f"{deadline:x}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"

    def check_state(self, payment_id: str, state: str, now: float | None = None) -> bool:
        deadline_hex, _, mac_text = state.partition(".")
        try:
            deadline = int(deadline_hex, 16)
            mac = base64.urlsafe_b64decode(mac_text + "=" * (-len(mac_text) % 4))
        except ValueError:
            return False
        expected = hmac.new(self._key(), f"{payment_id}|{deadline}".encode(), hashlib.sha256).digest()[:16]
        return hmac.compare_digest(mac, expected) and (now or time.time()) <= deadline
