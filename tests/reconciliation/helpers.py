"""Reconciliation test helpers: payments paid at the sandbox with or without their callback, runs."""
from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import sqlalchemy as sa

from gateway.services.reconciliation import Options, reconcile
from gateway.services.reconciliation.days import today
from gateway.store.tables import attempts, channel_accounts
from tests.factories import Gateway, Merchant

METHOD = {"alipay": "alipay_qr", "wechat": "wechat_native", "unionpay": "unionpay_qr"}


async def account_of(gw: Gateway, m: Merchant, channel: str) -> str:
    async with gw.svc.db.read() as conn:
        return str((await conn.execute(sa.select(channel_accounts.c.id).where(
            channel_accounts.c.merchant_id == m.id, channel_accounts.c.channel == channel))).scalar_one())


async def attempts_of(gw: Gateway, payment_id: str) -> list[dict[str, Any]]:
    async with gw.svc.db.read() as conn:
        return [dict(r) for r in (await conn.execute(sa.select(attempts).where(
            attempts.c.payment_id == payment_id).order_by(attempts.c.id))).mappings()]


async def control(gw: Gateway, channel: str, method: str, path: str, body: Any = None) -> Any:
    async with gw.http.request(method, f"{gw.url}/sandbox/{channel}/_control/{path}", json=body) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def drop_callbacks(gw: Gateway, channel: str) -> None:
    """Hold the channel's callbacks past the test (a "drop" is retried within milliseconds here)."""
    await gw.fault(channel, {"callbacks": {"mode": "delay", "seconds": 300, "count": 100}})


async def pay_at_channel(gw: Gateway, channel: str, attempt_id: str) -> None:
    await control(gw, channel, "POST", f"pay/{attempt_id}")


async def inject(gw: Gateway, channel: str, kind: str, **spec: Any) -> Any:
    return await control(gw, channel, "POST", "bill-inject", {"kind": kind, **spec})


async def payment(gw: Gateway, m: Merchant, channel: str, amount: int = 1000, *, callback: bool = True,
                  pay: bool = True) -> tuple[dict[str, Any], str]:
    """A payment with one attempt at ``channel``; paid at the sandbox (its callback let through or not)."""
    p = await gw.create_payment(m, amount=amount, channel=METHOD[channel])
    attempt = (await attempts_of(gw, p["id"]))[0]["id"]
    if pay:
        await pay_at_channel(gw, channel, attempt)
        if callback:
            await wait_status(gw, m, p["id"], "paid")
    return p, attempt


async def wait_status(gw: Gateway, m: Merchant, payment_id: str, status: str, seconds: float = 10) -> dict:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        body = (await gw.api(m, "GET", f"/payments/{payment_id}")).body
        if body["status"] == status or asyncio.get_running_loop().time() > deadline:
            assert body["status"] == status, body
            return body
        await asyncio.sleep(0.05)


async def run(gw: Gateway, account_id: str, day: date | None = None, **opts: Any) -> dict[str, Any]:
    reports = await reconcile(gw.svc, day or today(), Options(**opts), account_id=account_id)
    assert len(reports) == 1
    return reports[0]


def kinds(report: dict[str, Any], *, state: str | None = None) -> list[tuple[str, str]]:
    return sorted((d["type"], d["state"]) for d in report["discrepancies"] if state is None or d["state"] == state)
