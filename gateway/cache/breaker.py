"""A circuit breaker around the shared cache, so that Redis is optional in practice and not only in
configuration: every call is bounded in time, and after a failure (an error or a timeout) Redis is
skipped for :data:`OPEN_FOR` seconds, then one call probes it. While it is skipped:

* ``get`` answers a miss (the caller reads the database), ``set`` does nothing;
* ``incr`` counts in process (rate limits become per process);
* ``publish`` reaches this process's own subscribers only (other processes' long-polls re-check the
  database: :attr:`healthy` is false);
* ``ping`` raises, so ``/readyz`` reports the cache degraded.

The change of state is logged once each way and counted (:attr:`trips`).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from gateway.cache.base import Handler
from gateway.cache.memory import MemoryCache

log = logging.getLogger(__name__)
T = TypeVar("T")

OPEN_FOR = 5.0  # seconds Redis is skipped after a failure, before one call probes it
TIMEOUT = 0.5  # seconds any one cache call may take
INCR_TIMEOUT = 0.005  # the rate limiter's budget: a few milliseconds, then it counts in process
SLOW_TRIPS = 20  # rate-limit counts in a row slower than that open the breaker


class CacheUnavailable(Exception):
    """The shared cache is being skipped (the breaker is open)."""


class BreakerCache:
    """Wraps a shared :class:`~gateway.cache.base.Cache` (Redis) with timeouts and a breaker."""

    shared = True

    def __init__(self, inner: Any, *, open_for: float = OPEN_FOR, timeout: float = TIMEOUT,
                 incr_timeout: float = INCR_TIMEOUT) -> None:
        self.inner = inner
        self._local = MemoryCache()
        self._open_for, self._timeout, self._incr_timeout = open_for, timeout, incr_timeout
        self._open_until = 0.0  # monotonic time until which Redis is skipped; 0 = closed
        self._probing = False
        self._slow = 0  # rate-limit counts in a row that missed their budget
        self.trips = 0  # times the breaker opened (a metric)
        self.skipped = 0  # calls answered without Redis (a metric)

    # -- the breaker ---------------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """False while Redis is being skipped: pub/sub may be missing messages."""
        return self._open_until == 0.0

    def _allow(self) -> bool:
        if self._open_until == 0.0:
            return True
        if time.monotonic() < self._open_until or self._probing:
            self.skipped += 1
            return False
        self._probing = True  # half open: this call probes
        return True

    def _failed(self, exc: BaseException) -> None:
        was_closed = self._open_until == 0.0
        self._open_until = time.monotonic() + self._open_for
        self._probing = False
        if was_closed:
            self.trips += 1
            log.warning("cache unavailable (%s: %s): skipping Redis for %.0f s at a time; rate limits per "
                        "process, status from the database", type(exc).__name__, exc, self._open_for)

    def _succeeded(self) -> None:
        if self._open_until != 0.0:
            log.warning("cache available again: using Redis")
        self._open_until = 0.0
        self._probing = False

    async def _call(self, op: Awaitable[T]) -> T:
        try:
            result = await asyncio.wait_for(op, self._timeout)
        except asyncio.CancelledError:
            self._probing = False
            raise
        except Exception as exc:  # TimeoutError, ConnectionError, redis errors: all the same here
            self._failed(exc)
            raise CacheUnavailable(str(exc) or type(exc).__name__) from exc
        self._succeeded()
        return result

    def _skip(self, op: Awaitable[Any]) -> None:
        close = getattr(op, "close", None)
        if close is not None:
            close()  # an un-awaited coroutine: no "never awaited" warning

    # -- the cache -----------------------------------------------------------------------------------

    async def get(self, key: str) -> str | None:
        op = self.inner.get(key)
        if not self._allow():
            self._skip(op)
            return None
        try:
            return await self._call(op)
        except CacheUnavailable:
            return None

    async def set(self, key: str, value: str, ttl: int) -> None:
        op = self.inner.set(key, value, ttl)
        if not self._allow():
            self._skip(op)
            return
        try:
            await self._call(op)
        except CacheUnavailable:
            pass

    async def set_versioned(self, key: str, version: int, value: str, ttl: int) -> None:
        op = self.inner.set_versioned(key, version, value, ttl)
        if not self._allow():
            self._skip(op)
            return
        try:
            await self._call(op)
        except CacheUnavailable:
            pass

    async def incr(self, key: str, ttl: int) -> int:
        """The shared counter if Redis answers within a few milliseconds, else an in-process one. A slow
        answer is not cancelled (that would cost a reconnect) but left to finish in the background; a
        few slow answers in a row, or a failed one, open the breaker."""
        if self._allow():
            task = asyncio.ensure_future(self.inner.incr(key, ttl))
            done, _ = await asyncio.wait({task}, timeout=self._incr_timeout)
            if done and task.exception() is None:
                self._slow = 0
                self._succeeded()
                return task.result()
            if done:
                self._failed(task.exception() or RuntimeError("incr failed"))
            else:
                task.add_done_callback(self._incr_finished)
                self._slow += 1
                if self._slow >= SLOW_TRIPS:
                    self._failed(TimeoutError(f"{self._slow} counts slower than {self._incr_timeout * 1000:.0f} ms"))
                elif self._probing:
                    self._probing = False
        return await self._local.incr(key, ttl)

    async def incr_waiting(self, key: str, ttl: int) -> int:
        """:meth:`incr` that waits for Redis up to the normal timeout rather than the rate limiter's few
        milliseconds: risk counters, which should agree across processes (in process only while Redis is
        skipped)."""
        op = self.inner.incr(key, ttl)
        if not self._allow():
            self._skip(op)
            return await self._local.incr(key, ttl)
        try:
            return await self._call(op)
        except CacheUnavailable:
            return await self._local.incr(key, ttl)

    def _incr_finished(self, task: asyncio.Future[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._failed(exc)
        else:
            self._slow = 0

    async def publish(self, topic: str, message: str) -> None:
        op = self.inner.publish(topic, message)
        if not self._allow():
            self._skip(op)
            await self._local.publish(topic, message)
            return
        try:
            await self._call(op)
        except CacheUnavailable:
            await self._local.publish(topic, message)  # this process's subscribers still hear it

    def subscribe(self, topic: str, handler: Handler) -> None:
        self.inner.subscribe(topic, handler)
        self._local.subscribe(topic, handler)

    async def start(self) -> None:
        await self.inner.start()  # the pub/sub reader: it subscribes whenever Redis is there

    async def ping(self) -> None:
        if not self._allow():
            raise CacheUnavailable("skipping Redis after a failure")
        await self._call(self.inner.ping())

    async def close(self) -> None:
        await self._local.close()
        await self.inner.close()

