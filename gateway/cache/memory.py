"""In-process cache: the fallback when no Redis is configured (one gateway process)."""
from __future__ import annotations

import inspect
import time
from collections import defaultdict

from gateway.cache.base import Handler


class MemoryCache:
    shared = False

    def __init__(self, max_items: int = 100_000) -> None:
        self._data: dict[str, tuple[float, str]] = {}
        self._counters: dict[str, tuple[float, int]] = {}
        self._handlers: defaultdict[str, list[Handler]] = defaultdict(list)
        self._max = max_items

    async def get(self, key: str) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[0] < time.monotonic():
            self._data.pop(key, None)
            return None
        return item[1]

    async def set(self, key: str, value: str, ttl: int) -> None:
        if len(self._data) >= self._max:
            self._evict()
        self._data[key] = (time.monotonic() + ttl, value)

    async def set_versioned(self, key: str, version: int, value: str, ttl: int) -> None:
        current = await self.get(key)
        head = current.partition(" ")[0] if current else ""
        if head.lstrip("-").isdigit() and int(head) > version:
            return
        await self.set(key, f"{version} {value}", ttl)

    def _evict(self) -> None:
        now = time.monotonic()
        for key in [k for k, (exp, _) in self._data.items() if exp < now]:
            del self._data[key]
        while len(self._data) >= self._max:  # still full: drop the oldest insertions
            del self._data[next(iter(self._data))]

    async def incr(self, key: str, ttl: int) -> int:
        now = time.monotonic()
        expires, count = self._counters.get(key, (now + ttl, 0))
        if expires < now:
            expires, count = now + ttl, 0
        self._counters[key] = (expires, count + 1)
        return count + 1

    async def publish(self, topic: str, message: str) -> None:
        for handler in list(self._handlers[topic]):
            result = handler(message)
            if inspect.isawaitable(result):
                await result

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic].append(handler)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()
