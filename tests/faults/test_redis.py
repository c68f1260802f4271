"""Redis stopped, frozen (SIGSTOP), flushed, killed and restarted under a gateway on its own MariaDB:
committed work answers what was committed, nothing waits on Redis longer than a bounded timeout, and
the checkout never shows a stale "pending" for longer than a pending entry lives."""
from __future__ import annotations

import asyncio
import time

from gateway.cache.breaker import BreakerCache
from gateway.cache.redis import RedisCache
from gateway.cache.status import PENDING_TTL
from tests.checkout.helpers import get
from tests.factories import Gateway, unique
from tests.faults import servers
from tests.support.paying import pay_as_shopper
from tests.support.waiting import eventually, wait_status


async def _status(gw: Gateway, payment_id: str) -> str:
    status, text, _ = await get(gw, f"/pay/{payment_id}/status")
    assert status == 200, text
    return text


async def test_redis_stopped_every_committed_change_answers_2xx(faulty_gateway: Gateway,
                                                               own_redis: servers.Server) -> None:
    gw = faulty_gateway
    m = await gw.merchant()
    paid = await gw.create_payment(m, channel="alipay_qr")
    own_redis.stop()
    # Create with a channel: committed, and the pay data is in the answer.
    answer = await gw.api(m, "POST", "/payments", json_body={"amount": 100, "subject": "s", "channel": "alipay_qr",
                                                             "out_trade_no": unique()},
                          headers={"Idempotency-Key": unique("k")})
    assert answer.status == 201 and answer.body["next_action"], answer.text
    # Paid through the callback, refunded, closed: each answers 2xx.
    await pay_as_shopper(gw, paid)
    assert (await wait_status(gw, m, paid["id"], "paid"))["status"] == "paid"
    refund = await gw.api(m, "POST", f"/payments/{paid['id']}/refunds", json_body={"amount": 100,
                                                                                  "out_refund_no": unique("r")})
    assert refund.status == 201, refund.text
    closed = await gw.api(m, "POST", f"/payments/{answer.body['id']}/close")
    assert closed.status == 200 and closed.body["status"] == "closed", closed.text
    assert '"paid"' in await _status(gw, paid["id"]) or '"partially_refunded"' in await _status(gw, paid["id"])
    assert '"closed"' in await _status(gw, answer.body["id"])
    cache = gw.svc.cache
    assert isinstance(cache, BreakerCache) and not cache.healthy and cache.trips >= 1
    ready = await gw.http.get(f"{gw.url}/readyz")
    assert ready.status == 200 and (await ready.json())["checks"]["cache"].startswith("degraded")
    # Redis back: after the breaker's pause one call probes it and the cache is used again.
    own_redis.start()
    await eventually(lambda: _status(gw, paid["id"]), lambda _: cache.healthy, seconds=15, every=0.2)
    assert cache.healthy


async def test_frozen_redis_costs_a_bounded_wait_and_rate_limits_count_in_process(
        faulty_gateway: Gateway, own_redis: servers.Server) -> None:
    gw = faulty_gateway
    m = await gw.merchant()
    p = await gw.create_payment(m, channel="alipay_qr")
    own_redis.freeze()
    try:
        took = []
        for _ in range(10):
            started = time.monotonic()
            answer = await gw.api(m, "GET", f"/payments/{p['id']}")
            took.append(time.monotonic() - started)
            assert answer.status == 200
        # The first request may pay one timeout (0.5 s); once the breaker is open, nothing waits.
        assert max(took) < 1.5 and sorted(took)[5] < 0.2, took
        # The rate limiter alone, on a fresh breaker that still believes in the frozen Redis.
        fresh = BreakerCache(RedisCache(servers.redis_url(own_redis)))
        try:
            counts = []
            for _ in range(5):
                started = time.monotonic()
                await fresh.incr("rl:test", 2)
                counts.append(time.monotonic() - started)
            assert max(counts) < 0.05, counts  # a few milliseconds each, then in process
        finally:
            own_redis.thaw()
            await fresh.close()
            own_redis.freeze()
        # Paid while Redis is frozen: the post-commit publish times out, the checkout still sees it.
        await pay_as_shopper(gw, p)
        await wait_status(gw, m, p["id"], "paid")
        assert '"paid"' in await _status(gw, p["id"])
    finally:
        own_redis.thaw()
    # Thawed: the "pending" written at create is not the only holder any more -- within its short life
    # every answer is the committed status.
    seen = await eventually(lambda: _status(gw, p["id"]), lambda text: '"paid"' in text, seconds=PENDING_TTL + 2)
    assert '"paid"' in seen
    for _ in range(5):
        assert '"paid"' in await _status(gw, p["id"])
        await asyncio.sleep(0.2)


async def test_flushed_redis_answers_from_the_database(faulty_gateway: Gateway, own_redis: servers.Server) -> None:
    gw = faulty_gateway
    m = await gw.merchant()
    p = await gw.create_payment(m, channel="alipay_qr")
    assert '"pending"' in await _status(gw, p["id"])
    servers.flush(own_redis)
    await pay_as_shopper(gw, p)
    await wait_status(gw, m, p["id"], "paid")
    servers.flush(own_redis)
    await asyncio.sleep(2.1)  # past the in-process layer
    assert '"paid"' in await _status(gw, p["id"])


async def test_killed_and_restarted_redis_long_poll_still_answers(faulty_gateway: Gateway,
                                                                  own_redis: servers.Server) -> None:
    gw = faulty_gateway
    m = await gw.merchant()
    p = await gw.create_payment(m, channel="alipay_qr")
    own_redis.kill()
    own_redis.start()  # empty: nothing survived
    poll = asyncio.create_task(get(gw, f"/pay/{p['id']}/status?wait=25", headers={"If-None-Match": '"pending"'}))
    await asyncio.sleep(0.5)
    started = time.monotonic()
    await pay_as_shopper(gw, p)
    status, text, _ = await poll
    assert status == 200 and '"paid"' in text, text
    assert time.monotonic() - started < PENDING_TTL + 3


async def test_cache_entries_never_step_back(own_redis: servers.Server) -> None:
    """A late refill ("pending", read before the payment was paid) cannot replace "paid"."""
    from gateway.cache.status import StatusBus

    cache = BreakerCache(RedisCache(servers.redis_url(own_redis)))
    try:
        bus = StatusBus(cache)
        await bus.changed("pay_x", "paid")
        await bus.remember("pay_x", "pending")  # the slow reader's refill
        bus._local.clear()
        assert await bus.cached("pay_x") == "paid"
        await bus.changed("pay_x", "refunded")
        await bus.changed("pay_x", "partially_refunded")  # a reordered, older publish
        bus._local.clear()
        assert await bus.cached("pay_x") == "refunded"
    finally:
        await cache.close()
