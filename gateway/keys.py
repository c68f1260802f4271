"""Every typed application key, in one place."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from gateway.cache.base import Cache
    from gateway.channels.registry import Registry
    from gateway.checkout.state import Checkout
    from gateway.config import Settings
    from gateway.domain.pay import PayAction
    from gateway.observability.metrics import Metrics
    from gateway.services.context import Services
    from gateway.store.db import Database
    from gateway.web.middlewares import Draining

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DB: web.AppKey[Database] = web.AppKey("db")
CACHE: web.AppKey[Cache] = web.AppKey("cache")
HTTP: web.AppKey[aiohttp.ClientSession] = web.AppKey("http")
REGISTRY: web.AppKey[Registry] = web.AppKey("registry")
SERVICES: web.AppKey[Services] = web.AppKey("services")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
SANDBOX_KEYS: web.AppKey[dict] = web.AppKey("sandbox_keys")
CHECKOUT: web.AppKey[Checkout] = web.AppKey("checkout")
DRAINING: web.AppKey[Draining] = web.AppKey("draining")  # the server is closing its connections
# Set only when the sandboxes answer: (pay method, pay action) → the sandbox page a phone would open.
PHONE_PAGES: web.AppKey[Callable[[str, PayAction], str | None]] = web.AppKey("phone_pages")
