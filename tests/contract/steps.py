"""The contract suite's steps, spoken through the merchant API and the gateway's own tables; anything a
channel does differently is asked of its driver."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from gateway.store.tables import events, ledger_entries, notify_log
from tests.contract.drivers.base import ChannelDriver
from tests.factories import Gateway, Merchant, unique
from tests.support.paying import pay_as_shopper
from tests.support.waiting import eventually, wait_status


async def create(gw: Gateway, m: Merchant, driver: ChannelDriver, pay_method: str | None = None,
                 amount: int = 1000) -> dict[str, Any]:
    method = pay_method or driver.pay_methods[0]
    prepare = getattr(driver, "prepare", None)  # a driver that configures the merchant's account its own way
    if prepare is not None:
        await prepare(gw, m)
    return await gw.create_payment(m, amount=amount, channel=method, **driver.create_fields(method))


async def trade_no(gw: Gateway, payment_id: str) -> str:
    """Our attempt id: the trade's number at the channel (the payment's latest attempt)."""
    return str((await gw.attempts(payment_id))[-1]["id"])


async def paid(gw: Gateway, m: Merchant, driver: ChannelDriver, amount: int = 1000,
               pay_method: str | None = None) -> dict[str, Any]:
    """A payment the shopper paid on the sandbox's page, once the gateway has it as ``paid``."""
    p = await create(gw, m, driver, pay_method, amount)
    await pay_as_shopper(gw, p)
    done = await wait_status(gw, m, p["id"], "paid")
    assert done["status"] == "paid", done
    return done


async def refund(gw: Gateway, m: Merchant, payment_id: str, amount: int, status: str = "succeeded") -> dict[str, Any]:
    """A refund through the merchant API, once it is ``status``."""
    answer = await gw.api(m, "POST", f"/payments/{payment_id}/refunds",
                          json_body={"amount": amount, "out_refund_no": unique("rf")})
    assert answer.status in (200, 201), answer.text
    done = await eventually(lambda: gw.api(m, "GET", f"/refunds/{answer.body['id']}"),
                            lambda a: a.body["status"] == status, every=0.05)
    assert done.body["status"] == status, done.body
    return dict(done.body)


async def payment(gw: Gateway, m: Merchant, payment_id: str) -> dict[str, Any]:
    return dict((await gw.api(m, "GET", f"/payments/{payment_id}")).body)


async def post_callback(gw: Gateway, driver: ChannelDriver, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    async with gw.http.post(f"{gw.url}/notify/{driver.name}", data=body, headers=headers) as resp:
        return resp.status, await resp.read()


def acknowledged(gw: Gateway, driver: ChannelDriver, answer: tuple[int, bytes]) -> bool:
    """Whether ``answer`` is the channel's "received, stop retrying"."""
    status, _, body = gw.svc.registry.channel(driver.name).acknowledge(True)
    return answer == (status, body)


async def notify_results(gw: Gateway, trade: str) -> list[str]:
    """What the callback pipeline made of each callback about this trade, in arrival order."""
    async with gw.svc.db.read() as conn:
        return list((await conn.execute(sa.select(notify_log.c.result).where(notify_log.c.trade_no == trade)
                                        .order_by(notify_log.c.id))).scalars())


async def entries(gw: Gateway, *, payment_id: str | None = None, refund_id: str | None = None) -> list[dict[str, Any]]:
    where = ledger_entries.c.refund_id == refund_id if refund_id else ledger_entries.c.payment_id == payment_id
    async with gw.svc.db.read() as conn:
        return [dict(r) for r in (await conn.execute(sa.select(ledger_entries).where(where))).mappings()]


async def event_count(gw: Gateway, object_id: str, type_: str) -> int:
    return await gw.count(events, events.c.object_id == object_id, events.c.type == type_)


async def assert_books_balance(gw: Gateway) -> None:
    from gateway.store.ledger_check import check_database

    report = await check_database(gw.svc.db)
    assert report.ok, report.as_json()["violations"]
