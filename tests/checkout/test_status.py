"""``/pay/{id}/status``: cache-only hot path, ETag/304, and a long-poll woken by the real payment."""
from __future__ import annotations

import asyncio
import html
import re

from sqlalchemy import event

from tests.checkout.helpers import Shopper, get
from tests.factories import Gateway
from tests.support.paying import press


async def test_status_uses_the_cache_not_the_database_and_answers_304(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)
    statements: list[str] = []
    engines = {gateway.svc.db._reader.sync_engine, gateway.svc.db._writer.sync_engine}

    def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        status, text, headers = await get(gateway, f"/pay/{p['id']}/status")
        assert status == 200 and text == '{"status": "pending"}' and headers["ETag"] == '"pending"'
        status, _, _ = await get(gateway, f"/pay/{p['id']}/status", headers={"If-None-Match": '"pending"'})
        assert status == 304
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)
    assert statements == []
    assert (await get(gateway, "/pay/pay_unknown/status"))[0] == 404
    assert (await get(gateway, f"/pay/{p['id']}/status?wait=99"))[0] == 400
    assert (await get(gateway, f"/pay/{p['id']}/status?wait=-1"))[0] == 400


async def test_long_poll_answers_as_soon_as_the_payment_is_paid(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)
    await Shopper(gateway).post(f"/pay/{p['id']}/method", {"method": "wechat_native"})
    _, text, _ = await get(gateway, f"/pay/{p['id']}")
    phone = html.unescape(re.search(r'id="sandbox-phone" href="([^"]+)"', text).group(1))
    loop = asyncio.get_running_loop()
    poll = asyncio.create_task(get(gateway, f"/pay/{p['id']}/status?wait=20",
                                   headers={"If-None-Match": '"pending"'}))
    await asyncio.sleep(0.3)
    assert not poll.done()  # it is waiting
    started = loop.time()
    await press(gateway.http, phone)
    status, body, headers = await asyncio.wait_for(poll, 10)
    assert status == 200 and body == '{"status": "paid"}' and headers["ETag"] == '"paid"'
    assert loop.time() - started < 5  # woken by the change, long before the 20 s wait ends


async def test_long_poll_times_out_with_304(gateway: Gateway) -> None:
    m = await gateway.merchant()
    p = await gateway.create_payment(m)
    status, _, _ = await get(gateway, f"/pay/{p['id']}/status?wait=1", headers={"If-None-Match": '"pending"'})
    assert status == 304 and gateway.svc.status.waiting == 0
