"""What the checkout keeps for the life of the app, four independent parts: the QR cache, the signers of
OAuth state and of CSRF tokens, and the shutdown event that releases long-polls."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from gateway.checkout.browser import BrowserKeys
from gateway.checkout.oauth_state import OAuthState
from gateway.checkout.qr import QRCache


@dataclass
class Checkout:
    oauth: OAuthState
    browser: BrowserKeys
    qr: QRCache = field(default_factory=QRCache)
    # Set when the app shuts down: long-polls answer at once instead of holding the shutdown for their wait.
    closing: asyncio.Event = field(default_factory=asyncio.Event)
