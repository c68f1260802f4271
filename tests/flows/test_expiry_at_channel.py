"""A payment's expiry goes to the channel, so the channel's QR code dies with the payment."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from gateway.store.tables import attempts
from tests.factories import Gateway

BEIJING = timezone(timedelta(hours=8))


async def _sandbox_trade(gw: Gateway, channel: str, payment_id: str) -> dict:
    async with gw.svc.db.read() as conn:
        trade_no = (await conn.execute(sa.select(attempts.c.id).where(attempts.c.payment_id == payment_id))).scalar_one()
    async with gw.http.get(f"{gw.url}/sandbox/{channel}/_control/trades/{trade_no}") as r:
        assert r.status == 200
        return await r.json()


async def test_expiry_reaches_both_channels(sqlite_gateway: Gateway) -> None:
    gw = sqlite_gateway
    m = await gw.merchant()
    for method, channel in (("alipay_qr", "alipay"), ("wechat_native", "wechat")):
        p = await gw.create_payment(m, channel=method, expires_in=600)
        expires = datetime.fromisoformat(p["expires_at"].replace("Z", "+00:00"))
        trade = await _sandbox_trade(gw, channel, p["id"])
        if channel == "alipay":
            at_channel = datetime.strptime(trade["expire_at"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
        else:
            at_channel = datetime.fromisoformat(trade["time_expire"])
        assert abs(at_channel - expires) < timedelta(seconds=1), (method, trade)
