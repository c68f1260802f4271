"""When a hot payment's cached status expires, the requests that miss together share one database read."""
from __future__ import annotations

import asyncio

from gateway.cache.memory import MemoryCache
from gateway.cache.status import StatusBus


async def test_misses_at_the_same_moment_load_once() -> None:
    bus = StatusBus(MemoryCache())
    loads = 0

    async def load() -> str | None:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.05)
        return "paid"

    answers = await asyncio.gather(*(bus.cached_or_load("pay_x", load) for _ in range(50)))
    assert answers == ["paid"] * 50 and loads == 1
    assert await bus.cached_or_load("pay_x", load) == "paid" and loads == 1  # now from the cache


async def test_a_missing_payment_is_not_cached() -> None:
    bus = StatusBus(MemoryCache())

    async def load() -> str | None:
        return None

    assert await bus.cached_or_load("pay_none", load) is None
    assert await bus.cached("pay_none") is None
