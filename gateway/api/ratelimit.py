"""Per-merchant request rate limit: a fixed one-second window counted in the cache (Redis: shared by every
gateway process; otherwise per process). It protects the service; nothing correct depends on it, so a
cache failure lets the request through."""
from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

from gateway.api.auth import MERCHANT
from gateway.domain.errors import RateLimited
from gateway.keys import SERVICES

log = logging.getLogger(__name__)


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    svc = request.config_dict[SERVICES]
    limit = svc.settings.rate_limit
    merchant = request.get(MERCHANT)
    if limit and merchant is not None:
        window = int(time.time())
        try:
            count = await svc.cache.incr(f"rl:{merchant['id']}:{window}", 2)
        except Exception:  # Redis down: serve rather than refuse
            log.warning("rate limit unavailable", exc_info=True)
            count = 0
        if count > limit:
            raise RateLimited(f"More than {limit} requests per second", retry_after=1)
    return await handler(request)
