"""The contract driver for UnionPay ACP (its sandbox mounted at ``/sandbox/unionpay``)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from gateway import keys
from gateway.channels.base import Channel
from tests.contract.drivers.base import DUPLICATE_CALLBACK, LOSE_CALLBACKS
from tests.factories import Gateway
from tests.support import forge

# Held back a minute rather than dropped: the retries come within milliseconds at the tests' time scale.
_FAULTS = {LOSE_CALLBACKS: {"callbacks": {"mode": "delay", "seconds": 60, "count": 0}},
           DUPLICATE_CALLBACK: {"callbacks": {"mode": "duplicate", "count": 1}}}
_FRONT_FIELDS = {"version", "encoding", "certId", "signMethod", "signature", "txnType", "txnSubType", "bizType",
                 "channelType", "accessType", "merId", "orderId", "txnTime", "txnAmt", "currencyCode", "backUrl",
                 "payTimeout"}


class UnionPayDriver:
    name: str = "unionpay"
    pay_methods: tuple[str, ...] = ("unionpay_qr", "unionpay_wap", "unionpay_page")
    queries_by_channel_trade_no: bool = False

    def create_fields(self, pay_method: str) -> dict[str, Any]:
        return {}

    def check_next_action(self, pay_method: str, action: dict[str, Any]) -> None:
        if pay_method == "unionpay_qr":  # the 申码 answer's qrCode
            assert action["type"] == "qr" and str(action["qr"]).startswith("http"), action
        else:  # the signed consume form the browser posts to frontTransReq.do
            assert action["type"] == "form_post" and str(action["url"]).endswith("/gateway/api/frontTransReq.do")
            assert _FRONT_FIELDS <= set(action["fields"]), action
            assert action["fields"]["channelType"] == ("08" if pay_method == "unionpay_wap" else "07")

    async def fault(self, gw: Gateway, kind: str) -> None:
        async with gw.http.post(f"{gw.url}/sandbox/unionpay/_control/faults", json=_FAULTS[kind]) as resp:
            assert resp.status == 200, await resp.text()

    def payment_callback(self, gw: Gateway, trade_no: str, amount: int, *,
                         genuine: bool = True) -> tuple[bytes, dict[str, str]]:
        sandbox_keys = gw.app[keys.SANDBOX_KEYS]["unionpay"]
        body = forge.unionpay_notify(sandbox_keys, trade_no, amount,
                                     signer=None if genuine else forge.unionpay_impostor())
        return body, {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}

    def open(self, gw: Gateway) -> Channel:
        from gateway.cli import sandbox_accounts

        credentials = sandbox_accounts(gw.svc.settings)[self.name]
        return gw.svc.registry.channel(self.name).open(credentials, gw.http, f"{gw.url}/sandbox/unionpay")

    def today(self) -> date:
        return datetime.now(timezone(timedelta(hours=8))).date()  # UnionPay settles on Beijing days
