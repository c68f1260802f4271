"""The contract driver for Alipay (its sandbox mounted at ``/sandbox/alipay``)."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl

from gateway import keys
from gateway.channels.base import Channel
from gateway.crypto import rsa
from tests.contract.drivers.base import DUPLICATE_CALLBACK, LOSE_CALLBACKS
from tests.factories import Gateway
from tests.support import forge

_FAULTS = {LOSE_CALLBACKS: {"callbacks": {"mode": "drop", "count": 1000}},
           DUPLICATE_CALLBACK: {"callbacks": {"mode": "duplicate", "count": 1}}}


class AlipayDriver:
    name: str = "alipay"
    pay_methods: tuple[str, ...] = ("alipay_qr", "alipay_wap", "alipay_page", "alipay_app")
    barcode_method: str = "alipay_barcode"
    undone_state: str = "TRADE_CLOSED"  # a cancelled barcode trade, as the sandbox's control view shows it

    def payment_code(self, last: str) -> str:
        """A well-formed Alipay payment code (16–24 digits, 25–30) ending in ``last`` (the sandbox's cue)."""
        return "28" + "7" * 15 + last
    queries_by_channel_trade_no: bool = True

    def create_fields(self, pay_method: str) -> dict[str, Any]:
        return {}

    def check_next_action(self, pay_method: str, action: dict[str, Any]) -> None:
        if pay_method == "alipay_qr":  # precreate's qr_code: a URL the Alipay app opens
            assert action["type"] == "qr" and str(action["qr"]).startswith("http"), action
        elif pay_method == "alipay_app":  # the signed order string for the Alipay App SDK
            assert action["type"] == "app" and set(action["params"]) == {"order_string"}, action
            fields = dict(parse_qsl(action["params"]["order_string"]))
            assert fields["method"] == "alipay.trade.app.pay" and fields["sign"], fields
            assert json.loads(fields["biz_content"])["product_code"] == "QUICK_MSECURITY_PAY", fields
        else:  # wap.pay / page.pay: the cashier page, signed request in its query
            assert action["type"] == "redirect" and "sign=" in str(action["url"]), action

    async def fault(self, gw: Gateway, kind: str) -> None:
        async with gw.http.post(f"{gw.url}/sandbox/alipay/_control/faults", json=_FAULTS[kind]) as resp:
            assert resp.status == 200, await resp.text()

    def payment_callback(self, gw: Gateway, trade_no: str, amount: int, *,
                         genuine: bool = True) -> tuple[bytes, dict[str, str]]:
        sandbox_keys = gw.app[keys.SANDBOX_KEYS]["alipay"]
        other = None if genuine else rsa.private_pem(rsa.generate_private_key())
        body = forge.alipay_notify(sandbox_keys, trade_no, f"{amount // 100}.{amount % 100:02d}", sign_key=other)
        return body, {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}

    def open(self, gw: Gateway) -> Channel:
        from gateway.cli import sandbox_accounts

        credentials = sandbox_accounts(gw.svc.settings)[self.name]
        return gw.svc.registry.channel(self.name).open(credentials, gw.http, f"{gw.url}/sandbox/alipay/gateway.do")

    def today(self) -> date:
        return datetime.now(timezone(timedelta(hours=8))).date()  # China time, all year
