"""Every typed application key, in one place."""
from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from gateway.cache.base import Cache
    from gateway.channels.registry import Registry
    from gateway.checkout.state import Checkout
    from gateway.config import Settings
    from gateway.services.context import Services
    from gateway.store.db import Database

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DB: web.AppKey[Database] = web.AppKey("db")
CACHE: web.AppKey[Cache] = web.AppKey("cache")
HTTP: web.AppKey[aiohttp.ClientSession] = web.AppKey("http")
REGISTRY: web.AppKey[Registry] = web.AppKey("registry")
SERVICES: web.AppKey[Services] = web.AppKey("services")
SANDBOX_KEYS: web.AppKey[dict] = web.AppKey("sandbox_keys")
CHECKOUT: web.AppKey[Checkout] = web.AppKey("checkout")
