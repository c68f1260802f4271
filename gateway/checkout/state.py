"""What the checkout keeps for the life of the app, three independent parts: the QR cache, the signer of
OAuth state, and the shutdown event that releases long-polls."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from gateway.checkout.oauth_state import OAuthState
from gateway.checkout.qr import QRCache


@dataclass
class Checkout:
    oauth: OAuthState
    qr: QRCache = field(default_factory=QRCache)
    # Set when the app shuts down: long-polls answer at once instead of holding the shutdown for their wait.
    closing: asyncio.Event = field(default_factory=asyncio.Event)
