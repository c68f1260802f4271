"""Values read from the database and kept in process for a few seconds: what a hot path reads on every
request but an operator changes rarely (risk rules and lists, a merchant's channel accounts, the
merchant as the checkout shows it).

A change made through this process forgets the entry at once; another process's change is seen within
:data:`FRESH_FOR` seconds. Nothing that moves money is decided from here alone: the writes that follow
read and check what they change.
"""
from __future__ import annotations

import time
from typing import Generic, TypeVar

FRESH_FOR = 5.0  # seconds

K = TypeVar("K")
V = TypeVar("V")


class Fresh(Generic[K, V]):
    def __init__(self, seconds: float = FRESH_FOR, *, max_items: int = 10_000) -> None:
        self._seconds, self._max = seconds, max_items
        self._items: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        return item[1] if item is not None and item[0] > time.monotonic() else None

    def keep(self, key: K, value: V, for_seconds: float | None = None) -> None:
        """Keep ``value`` for :data:`FRESH_FOR` seconds at most (less with ``for_seconds``)."""
        if len(self._items) >= self._max:
            self._items.clear()
        seconds = self._seconds if for_seconds is None else min(self._seconds, for_seconds)
        self._items[key] = (time.monotonic() + seconds, value)

    def forget(self, key: K) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()
