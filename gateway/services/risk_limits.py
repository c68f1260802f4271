"""Anonymous paths bounded: payment-link opens and checkout pay-method switches (each opens a channel
order) counted per minute per IP and per link/payment, in the cache (Redis: across processes). Beyond a
limit: :class:`RateLimited` (the shopper's page says to wait). A cache failure lets the request through --
it protects the service and the merchant's channel account; nothing correct depends on it."""
from __future__ import annotations

import logging
import time

from gateway.domain.errors import RateLimited
from gateway.services.context import Services

log = logging.getLogger(__name__)
WINDOW = 60  # seconds


async def _hit(svc: Services, key: str, limit: int) -> None:
    if limit <= 0:
        return
    window = int(time.time() // WINDOW)
    try:
        count = await svc.cache.incr(f"anon:{key}:{window}", WINDOW + 1)
    except Exception:  # the cache is unavailable: serve rather than refuse
        log.warning("anonymous rate limit unavailable", exc_info=True)
        return
    if count > limit:
        retry = WINDOW - int(time.time()) % WINDOW
        log.info("anonymous rate limit: %s over %d/min", key.rsplit(":", 1)[0], limit)
        raise RateLimited(f"More than {limit} per minute; wait a moment", retry_after=max(1, retry))


async def link_open(svc: Services, ip: str | None, link_id: str) -> None:
    """A shopper opens a payment link (a new payment)."""
    await _hit(svc, f"ip:{ip}", svc.settings.anon_ip_limit)
    await _hit(svc, f"link:{link_id}", svc.settings.anon_link_limit)


async def method_switch(svc: Services, ip: str | None, payment_id: str) -> None:
    """A shopper opens a pay method on the checkout (a new channel order)."""
    await _hit(svc, f"ip:{ip}", svc.settings.anon_ip_limit)
    await _hit(svc, f"switch:{payment_id}", svc.settings.anon_switch_limit)
