"""Payment status fan-out: after a transition commits, the new status goes into the cache (so the
checkout's status endpoint answers without the database) and out on pub/sub (so long-polling shoppers
on any gateway process wake at once)."""
from __future__ import annotations

import asyncio
from collections import defaultdict

from gateway.cache.base import Cache

TOPIC = "payment-status"
TTL = 3600


class StatusBus:
    def __init__(self, cache: Cache) -> None:
        self._cache = cache
        self._waiters: defaultdict[str, set[asyncio.Future[str]]] = defaultdict(set)
        cache.subscribe(TOPIC, self._on_message)

    async def changed(self, payment_id: str, status: str) -> None:
        await self._cache.set(f"status:{payment_id}", status, TTL)
        await self._cache.publish(TOPIC, f"{payment_id} {status}")

    async def cached(self, payment_id: str) -> str | None:
        return await self._cache.get(f"status:{payment_id}")

    async def remember(self, payment_id: str, status: str) -> None:
        await self._cache.set(f"status:{payment_id}", status, TTL)

    def _on_message(self, message: str) -> None:
        payment_id, _, status = message.partition(" ")
        for fut in self._waiters.pop(payment_id, ()):
            if not fut.done():
                fut.set_result(status)

    async def wait(self, payment_id: str, seconds: float) -> str | None:
        """The next status published for this payment, or ``None`` after ``seconds``."""
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiters[payment_id].add(fut)
        try:
            return await asyncio.wait_for(fut, seconds)
        except TimeoutError:
            return None
        finally:
            waiters = self._waiters.get(payment_id)
            if waiters is not None:
                waiters.discard(fut)
                if not waiters:
                    self._waiters.pop(payment_id, None)

    @property
    def waiting(self) -> int:
        return sum(len(w) for w in self._waiters.values())
