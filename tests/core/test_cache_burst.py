"""A burst of concurrent cache commands larger than the Redis connection pool (long-polling shoppers
arriving at once) waits for connections instead of failing -- found by the long-poll benchmark, where
redis-py's default pool answered "Too many connections" and shoppers got 500s."""
from __future__ import annotations

import asyncio

import pytest

from gateway.cache.redis import RedisCache
from tests.conftest import REDIS_URL


@pytest.mark.skipif(not REDIS_URL, reason="needs GATEWAY_TEST_REDIS_URL")
async def test_a_burst_beyond_the_pool_size_is_served() -> None:
    assert REDIS_URL
    cache = RedisCache(REDIS_URL)
    try:
        await cache.set("burst", "pending", 60)
        answers = await asyncio.gather(*(cache.get("burst") for _ in range(500)))
        assert answers == ["pending"] * 500
    finally:
        await cache.close()
