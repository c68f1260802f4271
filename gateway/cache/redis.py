"""Redis through ``redis.asyncio``: shared by every gateway process. One pub/sub connection per
process, read by one task, fans messages out to local handlers."""
from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import defaultdict

import redis.asyncio as aioredis

from gateway.cache.base import Handler

log = logging.getLogger(__name__)
PREFIX = "gateway:"
# Compare-and-set by version, in one step: "<version> <value>" replaces an entry of a lower or equal
# version only, so a late or reordered write never hides a newer one.
SET_VERSIONED = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^(%-?%d+) '))
  if v and v > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[2], 'EX', ARGV[3])
return 1
"""


class RedisCache:
    shared = True

    def __init__(self, url: str) -> None:
        # A blocking pool: a burst of more concurrent commands than connections (hundreds of long-polling
        # shoppers arriving at once) queues for a connection instead of failing with "Too many connections".
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=100, timeout=10,
                                                        decode_responses=True, health_check_interval=30)
        self._redis = aioredis.Redis.from_pool(pool)
        self._handlers: defaultdict[str, list[Handler]] = defaultdict(list)
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        self._reader: asyncio.Task[None] | None = None
        self._set_versioned = self._redis.register_script(SET_VERSIONED)

    async def get(self, key: str) -> str | None:
        value = await self._redis.get(PREFIX + key)
        return value.decode() if isinstance(value, bytes) else value  # decode_responses: already str

    async def set(self, key: str, value: str, ttl: int) -> None:
        await self._redis.set(PREFIX + key, value, ex=ttl)

    async def set_versioned(self, key: str, version: int, value: str, ttl: int) -> None:
        await self._set_versioned(keys=[PREFIX + key], args=[version, value, ttl])

    async def incr(self, key: str, ttl: int) -> int:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(PREFIX + key)
            pipe.expire(PREFIX + key, ttl, nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def publish(self, topic: str, message: str) -> None:
        await self._redis.publish(PREFIX + topic, message)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic].append(handler)

    async def start(self) -> None:
        """Start the reader task, which subscribes to every topic with handlers -- and keeps trying if
        Redis is not there yet: the gateway starts without it."""
        if self._handlers and self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="redis-pubsub")

    async def _read(self) -> None:
        lost = False
        while True:
            try:
                if not self._pubsub.subscribed:
                    await self._pubsub.subscribe(*(PREFIX + t for t in self._handlers))
                async for msg in self._pubsub.listen():
                    lost = False
                    if msg.get("type") != "message":
                        continue
                    topic = msg["channel"].removeprefix(PREFIX)
                    for handler in list(self._handlers.get(topic, ())):
                        try:
                            result = handler(msg["data"])
                            if inspect.isawaitable(result):
                                await result
                        except Exception:
                            log.exception("pub/sub handler failed for %s", topic)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection lost: redis-py reconnects on the next listen
                if not lost:  # once per outage, not every second of it
                    log.warning("redis pub/sub connection lost (%s); reconnecting", exc)
                lost = True
                await asyncio.sleep(1)

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._pubsub.aclose()
        await self._redis.aclose()
