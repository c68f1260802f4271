"""The cache: Redis when configured, in-process otherwise. Nothing correct depends on it -- it
speeds things up (status answers, rate limits) and fans out status changes between processes."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

Handler = Callable[[str], Awaitable[None] | None]


class Cache(Protocol):
    shared: bool  # True when other gateway processes see the same cache

    async def get(self, key: str) -> str | None: ...
    async def set(self, key: str, value: str, ttl: int) -> None: ...
    async def set_versioned(self, key: str, version: int, value: str, ttl: int) -> None:
        """Store ``"<version> <value>"`` unless the entry holds a higher version (compare-and-set)."""

    async def incr(self, key: str, ttl: int) -> int:
        """Increment a counter that expires ``ttl`` seconds after its first increment."""

    async def publish(self, topic: str, message: str) -> None: ...
    def subscribe(self, topic: str, handler: Handler) -> None:
        """Call ``handler(message)`` for every message published on ``topic`` by any process."""

    async def ping(self) -> None: ...
    async def close(self) -> None: ...
