"""The simulated Alipay's barcode desk: ``alipay.trade.pay`` (scene ``bar_code``) and
``alipay.trade.cancel``.

A well-formed code (16–24 digits starting 25–30) pays at once, except by its last digit:
``0`` -- the shopper types a password: ``10003`` now, paid :data:`PASSWORD_SECONDS` later (times the
app's time scale); ``8`` -- the shopper never finishes: ``10003`` until the merchant cancels;
``9`` -- declined, ``ACQ.BUYER_BALANCE_NOT_ENOUGH``. A malformed code is
``ACQ.PAYMENT_AUTH_CODE_INVALID``. No trade-closed notify is sent for a cancel (当面付 sends none).
"""
from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

from gateway.channels.alipay import protocol as wire
from gateway.sandbox.alipay.service import BizError, Sandbox, _text, _yuan, ok
from gateway.sandbox.alipay.state import (
    BUYER_ID,
    BUYER_LOGON_ID,
    TRADE_CLOSED,
    TRADE_FINISHED,
    TRADE_SUCCESS,
    WAIT_BUYER_PAY,
    Refund,
    Trade,
)

AUTH_CODE = re.compile(r"(2[5-9]|30)\d{14,22}")
SCENES = frozenset({"bar_code", "security_code", "wave_code"})
PASSWORD_SECONDS = 3.0
PAYING = {"code": wire.PAYING_CODE, "msg": "Order success pay inprocess"}


class BarcodeDesk:
    def __init__(self, sandbox: Sandbox, time_scale: float) -> None:
        self.sandbox = sandbox
        self.time_scale = time_scale

    def _answer(self, t: Trade) -> dict[str, Any]:
        common = {"trade_no": t.trade_no, "out_trade_no": t.out_trade_no, "buyer_logon_id": BUYER_LOGON_ID,
                  "total_amount": _yuan(t.total), "buyer_user_id": BUYER_ID}
        if t.status != TRADE_SUCCESS:
            return {**PAYING, **common}
        return ok(**common, receipt_amount=_yuan(t.total), buyer_pay_amount=_yuan(t.total), point_amount="0.00",
                  invoice_amount=_yuan(t.total), gmt_payment=self.sandbox._fmt(t.paid_at),
                  fund_bill_list=[{"fund_channel": "ALIPAYACCOUNT", "amount": _yuan(t.total)}])

    def pay(self, app_id: str, params: Mapping[str, str], biz: Mapping[str, Any]) -> dict[str, Any]:
        if biz.get("scene") not in SCENES:
            raise BizError("ACQ.INVALID_PARAMETER", "参数有误。scene")
        auth_code = _text(biz, "auth_code", 32) or ""
        if biz.get("product_code", "FACE_TO_FACE_PAYMENT") != "FACE_TO_FACE_PAYMENT":
            raise BizError("ACQ.INVALID_PARAMETER", "参数有误。product_code")
        if not AUTH_CODE.fullmatch(auth_code):
            raise BizError("ACQ.PAYMENT_AUTH_CODE_INVALID",
                           "支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款")
        existing = self.sandbox.state.find(_text(biz, "out_trade_no", 64), app_id=app_id)
        if existing is None and auth_code.endswith("9"):
            raise BizError("ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足")
        # A repeated out_trade_no is the same trade: a paid one says so, a waiting one waits still.
        trade = self.sandbox.open_page(app_id, wire.TRADE_PAY, params, biz)
        if existing is None and auth_code.endswith("0"):
            self.sandbox.notifier.spawn(self._password(trade))
        elif existing is None and not auth_code.endswith("8"):
            self.sandbox.pay(trade)
        return self._answer(trade)

    async def _password(self, trade: Trade) -> None:
        await asyncio.sleep(PASSWORD_SECONDS * self.time_scale)
        if trade.status == WAIT_BUYER_PAY:
            self.sandbox.pay(trade)

    def cancel(self, app_id: str, params: Mapping[str, str], biz: Mapping[str, Any]) -> dict[str, Any]:
        t = self.sandbox.state.find(biz.get("out_trade_no"), biz.get("trade_no"), app_id=app_id)
        if t is None or not t.exists:
            raise BizError("ACQ.TRADE_NOT_EXIST", "交易不存在")
        now = self.sandbox.now()
        action = ""
        if t.status == WAIT_BUYER_PAY:
            action, t.status, t.closed_at = "close", TRADE_CLOSED, now
        elif t.status in (TRADE_SUCCESS, TRADE_FINISHED):  # a paid trade's money goes back to the shopper
            left = t.total - t.refunded
            if left:
                t.refunds[f"cancel-{t.out_trade_no}"] = Refund(f"cancel-{t.out_trade_no}", left, now, "cancel")
            action, t.status, t.closed_at = "refund", TRADE_CLOSED, now
        return ok(trade_no=t.trade_no, out_trade_no=t.out_trade_no, retry_flag="N", action=action,
                  gmt_refund_pay=self.sandbox._fmt(now) if action == "refund" else None)
