"""Two gateway processes sharing one database: a payment paid through one reaches a shopper long-polling
the other -- through Redis pub/sub at once, or, with no Redis, through the database within seconds."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.conftest import MYSQL_URL, REDIS_URL
from tests.factories import start_gateway
from tests.support.paying import phone_page, press


@pytest.mark.parametrize("shared", [False, True], ids=["no-redis", "redis"])
async def test_long_poll_on_one_process_sees_payment_on_another(tmp_path: Path, shared: bool) -> None:
    if shared and not (REDIS_URL and MYSQL_URL):
        pytest.skip("needs GATEWAY_TEST_MYSQL_URL and GATEWAY_TEST_REDIS_URL")
    url = MYSQL_URL if shared else None
    redis = REDIS_URL if shared else None
    async with start_gateway(tmp_path, database_url=url, redis_url=redis) as a, \
            start_gateway(tmp_path, database_url=url, redis_url=redis) as b:
        m = await b.merchant()
        p = await b.create_payment(m, channel="alipay_qr")  # its notify URL is process B's
        async with a.http.get(f"{a.url}/pay/{p['id']}/status") as r:
            assert (await r.json())["status"] == "pending"  # process A has it cached as pending

        async def long_poll() -> tuple[str, float]:
            start = time.monotonic()
            async with a.http.get(f"{a.url}/pay/{p['id']}/status?wait=20",
                                  headers={"If-None-Match": '"pending"'}) as r:
                return (await r.json())["status"], time.monotonic() - start

        waiting = asyncio.create_task(long_poll())
        await asyncio.sleep(0.2)
        # the shopper pays; the sandbox's callback goes to process B
        await press(b.http, phone_page(f"{b.url}/sandbox", "alipay_qr", p))
        status, took = await waiting
        assert status == "paid"
        assert took < (2 if shared else 6)
