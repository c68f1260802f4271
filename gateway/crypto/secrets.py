"""Secrets at rest and secrets shown once.

* API keys: random, shown once, stored only as HMAC-SHA256 under the server's secret key.
* Channel credentials and webhook secrets (needed in the clear to sign): AES-256-GCM sealed under a key
  derived from the server's secret key, with the row's purpose as associated data.
* :class:`Secret` wraps a string so that no repr, str or log line ever shows it.
"""
from __future__ import annotations

import base64
import functools
import hmac
import os
import secrets as _secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class Secret:
    """A string that never shows itself. Use :meth:`reveal` at the one place that needs it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@functools.lru_cache(maxsize=16)  # a few purposes under one master key: derived once, not per API request
def _derive(master: Secret, purpose: bytes) -> bytes:
    return hmac.digest(master.reveal().encode(), b"gateway/" + purpose, "sha256")


def new_api_key(live: bool = False) -> str:
    return ("sk_live_" if live else "sk_test_") + _secrets.token_urlsafe(32)


def new_webhook_secret() -> str:
    """Standard Webhooks form: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def hash_api_key(master: Secret, api_key: str) -> str:
    return hmac.digest(_derive(master, b"api-key"), api_key.encode(), "sha256").hex()


def seal(master: Secret, purpose: str, plaintext: str) -> str:
    nonce = os.urandom(12)
    ct = AESGCM(_derive(master, b"seal")).encrypt(nonce, plaintext.encode(), purpose.encode())
    return "v1." + base64.urlsafe_b64encode(nonce + ct).decode()


def unseal(master: Secret, purpose: str, sealed: str) -> str:
    if not sealed.startswith("v1."):
        raise ValueError("unknown sealed format")
    raw = base64.urlsafe_b64decode(sealed[3:])
    return AESGCM(_derive(master, b"seal")).decrypt(raw[:12], raw[12:], purpose.encode()).decode()
