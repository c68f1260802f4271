"""The contract driver for WeChat Pay (its sandbox mounted at ``/sandbox/wechat``)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from gateway import keys
from gateway.channels.base import Channel
from gateway.crypto import rsa
from tests.contract.drivers.base import DUPLICATE_CALLBACK, LOSE_CALLBACKS
from tests.factories import Gateway
from tests.support import forge

# WeChat's sandbox drops only a first delivery and then retries within milliseconds at the tests' time
# scale, so "lost" callbacks are held back a minute instead (count 0: until reset).
_FAULTS = {LOSE_CALLBACKS: {"callbacks": {"mode": "delay", "seconds": 60, "count": 0}},
           DUPLICATE_CALLBACK: {"callbacks": {"mode": "duplicate", "count": 1}}}
_OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
_JSAPI_FIELDS = {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
_APP_FIELDS = {"appid", "partnerid", "prepayid", "package", "noncestr", "timestamp", "sign"}


class WechatDriver:
    name: str = "wechat"
    pay_methods: tuple[str, ...] = ("wechat_native", "wechat_h5", "wechat_jsapi", "wechat_app")
    barcode_method: str = "wechat_barcode"
    undone_state: str = "REVOKED"  # a reversed micropay order, as the sandbox's control view shows it

    def payment_code(self, last: str) -> str:
        """A well-formed WeChat payment code (18 digits, 10–15) ending in ``last`` (the sandbox's cue)."""
        return "13" + "4" * 15 + last
    queries_by_channel_trade_no: bool = True

    def create_fields(self, pay_method: str) -> dict[str, Any]:
        return {"payer_openid": _OPENID} if pay_method == "wechat_jsapi" else {}

    def check_next_action(self, pay_method: str, action: dict[str, Any]) -> None:
        if pay_method == "wechat_native":
            assert action["type"] == "qr" and str(action["qr"]).startswith("weixin://wxpay/bizpayurl?pr="), action
        elif pay_method == "wechat_h5":
            assert action["type"] == "redirect" and str(action["url"]).startswith("http"), action
        elif pay_method == "wechat_app":  # the parameters OpenSDK PayReq takes
            assert action["type"] == "app" and set(action["params"]) == _APP_FIELDS, action
            assert action["params"]["package"] == "Sign=WXPay", action
        else:  # the parameters WeixinJSBridge's getBrandWCPayRequest takes
            assert action["type"] == "jsapi" and _JSAPI_FIELDS <= set(action["params"]), action
            assert action["params"]["package"].startswith("prepay_id="), action

    async def fault(self, gw: Gateway, kind: str) -> None:
        async with gw.http.post(f"{gw.url}/sandbox/wechat/_control/faults", json=_FAULTS[kind]) as resp:
            assert resp.status == 200, await resp.text()

    def payment_callback(self, gw: Gateway, trade_no: str, amount: int, *,
                         genuine: bool = True) -> tuple[bytes, dict[str, str]]:
        sandbox_keys = dict(gw.app[keys.SANDBOX_KEYS]["wechat"])
        if not genuine:
            sandbox_keys["public_key_private"] = rsa.private_pem(rsa.generate_private_key())
        return forge.wechat_notify(sandbox_keys, forge.wechat_resource(sandbox_keys, trade_no, amount))

    def open(self, gw: Gateway) -> Channel:
        from gateway.cli import sandbox_accounts

        credentials = sandbox_accounts(gw.svc.settings)[self.name]
        return gw.svc.registry.channel(self.name).open(credentials, gw.http, f"{gw.url}/sandbox/wechat")

    def today(self) -> date:
        return datetime.now(timezone(timedelta(hours=8))).date()  # China time, all year
