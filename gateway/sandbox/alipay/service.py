"""What the simulated Alipay does: trades, the shopper's actions, refunds, notifies, bills.

API operations take the decoded ``biz_content`` and return the inner ``*_response`` object; the HTTP
layer (:mod:`.app`) wraps and signs it. Expiry is enforced on every touch and by the app's sweeper.
"""
from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from gateway.channels.alipay import protocol as wire
from gateway.domain.money import MAX_AMOUNT, MoneyError, format_major, parse_major
from gateway.sandbox.alipay import bill, notify
from gateway.sandbox.alipay.state import (
    BUYER_ID,
    BUYER_LOGON_ID,
    PRECREATED,
    TRADE_CLOSED,
    TRADE_FINISHED,
    TRADE_SUCCESS,
    WAIT_BUYER_PAY,
    Refund,
    SandboxState,
    Trade,
)
from gateway.sandbox.kit import Notifier, RefundTiming

DEFAULT_TIMEOUT = timedelta(days=15)
BILL_URL_LIFETIME = timedelta(seconds=30)
_RELATIVE = re.compile(r"^([1-9][0-9]*)([mhd])$")


def ok(**fields: Any) -> dict[str, Any]:
    return {"code": "10000", "msg": "Success", **{k: v for k, v in fields.items() if v is not None}}


def fail(sub_code: str, sub_msg: str, code: str = "40004", msg: str = "Business Failed") -> dict[str, Any]:
    return {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}


class BizError(Exception):
    def __init__(self, sub_code: str, sub_msg: str) -> None:
        super().__init__(sub_msg)
        self.response = fail(sub_code, sub_msg)


def _yuan(fen: int) -> str:
    return format_major(fen)


def _amount(value: Any, name: str) -> int:
    try:
        fen = parse_major(value if isinstance(value, str | int | Decimal) else "x")
    except MoneyError:
        raise BizError("ACQ.INVALID_PARAMETER", f"参数有误。{name}格式错误") from None
    if not 1 <= fen <= MAX_AMOUNT:
        raise BizError("ACQ.INVALID_PARAMETER", f"参数有误。{name}超出范围")
    return fen


def _text(biz: Mapping[str, Any], name: str, limit: int, required: bool = True) -> str | None:
    value = biz.get(name)
    if value in (None, ""):
        if required:
            raise BizError("ACQ.INVALID_PARAMETER", f"参数有误。缺少{name}")
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise BizError("ACQ.INVALID_PARAMETER", f"参数有误。{name}格式错误")
    return value


# Products whose trades notify TRADE_CLOSED (close, expiry, full refund) by default: APP and 手机网站 (wap).
# 当面付 (precreate) and 电脑网站 (page.pay) notify only TRADE_SUCCESS (Alipay support answers quoted in
# protocol-audit.md A-S1).
CLOSED_NOTIFY_METHODS = frozenset({wire.WAP_PAY, "alipay.trade.app.pay"})


class Sandbox:
    def __init__(self, state: SandboxState, notifier: Notifier, public_url: str,
                 clock: Callable[[], datetime] | None = None, refund_timing: RefundTiming | None = None) -> None:
        self.state = state
        self.notifier = notifier
        self.public_url = public_url.rstrip("/")
        self._clock = clock or (lambda: datetime.now(UTC))
        self.refund_timing = refund_timing or RefundTiming()

    def now(self) -> datetime:
        return self._clock()

    def _fmt(self, moment: datetime | None) -> str | None:
        return wire.beijing_time(moment) if moment else None

    # ------------------------------------------------------------ expiry

    def _expire_at(self, biz: Mapping[str, Any], now: datetime) -> datetime:
        candidates = [now + DEFAULT_TIMEOUT]
        if biz.get("time_expire"):
            at = wire.parse_beijing(biz["time_expire"])
            if at is None or at <= now:
                raise BizError("ACQ.INVALID_PARAMETER", "参数有误。time_expire格式错误或已过期")
            candidates.append(at)
        for name in ("timeout_express", "qr_code_timeout_express"):
            value = biz.get(name)
            if not value:
                continue
            if value == "1c":  # closes at the next Beijing midnight
                local = now.astimezone(wire.BEIJING)
                candidates.append(datetime.combine(local.date() + timedelta(days=1), datetime.min.time(),
                                                   wire.BEIJING))
                continue
            m = _RELATIVE.match(str(value))
            if not m:
                raise BizError("ACQ.INVALID_PARAMETER", f"参数有误。{name}格式错误")
            unit = {"m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
            candidates.append(now + timedelta(**{unit: int(m.group(1))}))
        return min(candidates)

    def refresh(self, trade: Trade) -> None:
        """Close an unpaid trade whose time is up; an existing one tells the merchant (TRADE_CLOSED)."""
        if trade.status in (PRECREATED, WAIT_BUYER_PAY) and self.now() >= trade.expire_at:
            existed = trade.exists
            trade.status, trade.closed_at = TRADE_CLOSED, trade.expire_at
            if existed:
                self._notify(trade)

    def sweep(self) -> None:
        for trade in list(self.state.trades.values()):
            self.refresh(trade)

    # ------------------------------------------------------------ creating

    def _open(self, app_id: str, method: str, params: Mapping[str, str], biz: Mapping[str, Any]) -> Trade:
        out_trade_no = _text(biz, "out_trade_no", 64)
        assert out_trade_no is not None
        total = _amount(biz.get("total_amount"), "total_amount")
        subject = _text(biz, "subject", 256)
        assert subject is not None
        existing = self.state.find(out_trade_no, app_id=app_id)
        if existing is not None:
            self.refresh(existing)
            if existing.total != total:
                raise BizError("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
            if existing.status in (TRADE_SUCCESS, TRADE_FINISHED):
                raise BizError("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
            if existing.status == TRADE_CLOSED:
                raise BizError("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
            return existing
        now = self.now()
        trade = Trade(
            app_id=app_id, out_trade_no=out_trade_no, trade_no=self.state.next_trade_no(now.astimezone(wire.BEIJING)),
            method=method, total=total, subject=subject, token=self.state.new_token(), created_at=now,
            expire_at=self._expire_at(biz, now),
            status=PRECREATED if method == wire.PRECREATE else WAIT_BUYER_PAY,
            notify_url=params.get("notify_url") or None, return_url=params.get("return_url") or None,
            quit_url=_text(biz, "quit_url", 400, required=False), body=_text(biz, "body", 128, required=False),
            passback_params=_text(biz, "passback_params", 512, required=False),
        )
        self.state.add(trade)
        return trade

    def precreate(self, app_id: str, params: Mapping[str, str], biz: Mapping[str, Any]) -> dict[str, Any]:
        trade = self._open(app_id, wire.PRECREATE, params, biz)
        return ok(out_trade_no=trade.out_trade_no, qr_code=self.qr_url(trade))

    def open_page(self, app_id: str, method: str, params: Mapping[str, str], biz: Mapping[str, Any]) -> Trade:
        return self._open(app_id, method, params, biz)

    def qr_url(self, trade: Trade) -> str:
        return f"{self.public_url}/qr/{trade.token}"

    # ------------------------------------------------------------ the shopper

    def scan(self, trade: Trade) -> None:
        """Opening the QR page is scanning it: the precreated trade comes into existence."""
        self.refresh(trade)
        if trade.status == PRECREATED:
            trade.status, trade.created_at = WAIT_BUYER_PAY, self.now()

    def pay(self, trade: Trade) -> str | None:
        """The pay button (and /_control/pay): ``None`` when paid now, else why not."""
        self.scan(trade)
        if trade.status != WAIT_BUYER_PAY:
            return trade.status
        trade.status, trade.paid_at = TRADE_SUCCESS, self.now()
        self._notify(trade)
        return None

    def cancel(self, trade: Trade) -> str | None:
        """The shopper leaves the cashier. Alipay leaves the trade open (WAIT_BUYER_PAY) until it times out
        or the merchant closes it: nothing changes and nothing is notified."""
        self.scan(trade)
        if trade.status != WAIT_BUYER_PAY:
            return trade.status
        return None

    # ------------------------------------------------------------ API

    def _existing(self, app_id: str, biz: Mapping[str, Any]) -> Trade:
        trade = self.state.find(biz.get("out_trade_no"), biz.get("trade_no"), app_id=app_id)
        if trade is not None:
            self.refresh(trade)
        if trade is None or not trade.exists:
            raise BizError("ACQ.TRADE_NOT_EXIST", "交易不存在")
        return trade

    def query(self, app_id: str, params: Mapping[str, str], biz: Mapping[str, Any]) -> dict[str, Any]:
        t = self._existing(app_id, biz)
        paid = t.paid_at is not None
        return ok(trade_no=t.trade_no, out_trade_no=t.out_trade_no, buyer_logon_id=BUYER_LOGON_ID,
                  buyer_user_id=BUYER_ID, trade_status=t.status, total_amount=_yuan(t.total),
                  receipt_amount=_yuan(t.total if paid else 0), buyer_pay_amount=_yuan(t.total if paid else 0),
                  invoice_amount=_yuan(t.total if paid else 0), point_amount="0.00",
                  send_pay_date=self._fmt(t.paid_at))

    def close(self, app_id: str, params: Mapping[str, str], biz: Mapping[str, Any]) -> dict[str, Any]:
        t = self._existing(app_id, biz)
        if t.status != WAIT_BUYER_PAY:  # only an unpaid open trade can be closed
            raise BizError("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        t.status, t.closed_at = TRADE_CLOSED, self.now()
        self._notify(t)
        return ok(trade_no=t.trade_no, out_trade_no=t.out_trade_no)

    def refund(self, app_id: str, params: Mapping[str, str], biz: Mapping[str, Any]) -> dict[str, Any]:
        t = self._existing(app_id, biz)
        amount = _amount(biz.get("refund_amount"), "refund_amount")
        request_no = _text(biz, "out_request_no", 64, required=False) or t.out_trade_no
        previous = t.refunds.get(request_no)
        if previous is not None:  # out_request_no is the idempotency key
            if previous.amount != amount:
                raise BizError("ACQ.DISCORDANT_REPEAT_REQUEST", "不一致的请求")
            return self._refund_ok(t, previous, fund_change="N")
        if t.status == TRADE_FINISHED:
            raise BizError("ACQ.TRADE_HAS_FINISHED", "交易已完结")
        if t.status != TRADE_SUCCESS:
            raise BizError("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        if amount > t.total - t.refunded:
            raise BizError("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
        delay = self.refund_timing.delay()
        refund = Refund(request_no, amount, self.now(), _text(biz, "refund_reason", 256, required=False),
                        done=False)
        t.refunds[request_no] = refund
        if delay is None:
            self._refund_done(t, refund)
            return self._refund_ok(t, refund, fund_change="Y")
        # Accepted, money not moved yet: fund_change=N, the refund query and the notify tell the rest.
        self.notifier.spawn(self._finish_refund(t, refund, delay))
        return self._refund_ok(t, refund, fund_change="N")

    async def _finish_refund(self, t: Trade, refund: Refund, delay: float) -> None:
        await asyncio.sleep(delay)
        self._refund_done(t, refund)

    def _refund_done(self, t: Trade, refund: Refund) -> None:
        refund.done, refund.at = True, self.now()
        if t.refunded_done == t.total:  # fully refunded trades close
            t.status, t.closed_at = TRADE_CLOSED, refund.at
        self._notify(t, refund)

    def _refund_ok(self, t: Trade, refund: Refund, *, fund_change: str) -> dict[str, Any]:
        return ok(trade_no=t.trade_no, out_trade_no=t.out_trade_no, buyer_logon_id=BUYER_LOGON_ID,
                  fund_change=fund_change, refund_fee=_yuan(t.refunded_done),
                  gmt_refund_pay=self._fmt(refund.at) if refund.done else None, buyer_user_id=BUYER_ID)

    def refund_query(self, app_id: str, params: Mapping[str, str], biz: Mapping[str, Any]) -> dict[str, Any]:
        t = self._existing(app_id, biz)
        request_no = _text(biz, "out_request_no", 64)
        refund = t.refunds.get(request_no or "")
        if refund is None or not refund.done:
            return ok()  # 10000 with no business data: not refunded (yet)
        return ok(trade_no=t.trade_no, out_trade_no=t.out_trade_no, out_request_no=refund.out_request_no,
                  total_amount=_yuan(t.total), refund_amount=_yuan(refund.amount), refund_status="REFUND_SUCCESS",
                  gmt_refund_pay=self._fmt(refund.at), refund_reason=refund.reason)

    def bill_url(self, app_id: str, params: Mapping[str, str], biz: Mapping[str, Any]) -> dict[str, Any]:
        bill_type, bill_date = biz.get("bill_type"), str(biz.get("bill_date") or "")
        if bill_type not in ("trade", "signcustomer") or not re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", bill_date):
            raise BizError("isv.invalid_arguments", "入参不合法")
        if (refused := bill.refusal(bill_date, self.now())) is not None:
            raise BizError(*refused)
        data = bill.build_zip(self.state, app_id, bill_date, self.now()) if bill_type == "trade" else None
        if data is None:  # the sandbox keeps no fund ledger, so signcustomer never has a bill
            raise BizError("isp.bill_not_exist", "账单不存在")
        token = secrets.token_urlsafe(16)
        self.state.bills[token] = (data, self.now() + BILL_URL_LIFETIME)
        return ok(bill_download_url=f"{self.public_url}/bill/{token}")

    # ------------------------------------------------------------ notify and return

    def _notify(self, t: Trade, refund: Refund | None = None) -> None:
        if t.status == TRADE_CLOSED and t.method not in CLOSED_NOTIFY_METHODS:
            return  # QR and PC trades do not notify TRADE_CLOSED (a full refund included)
        paid = t.paid_at is not None
        params: dict[str, Any] = {
            "notify_time": self._fmt(self.now()), "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16), "app_id": t.app_id, "auth_app_id": t.app_id, "charset": "utf-8",
            "version": "1.0", "sign_type": "RSA2", "trade_no": t.trade_no, "out_trade_no": t.out_trade_no,
            "buyer_id": BUYER_ID if paid else None, "buyer_logon_id": BUYER_LOGON_ID if paid else None,
            "seller_id": self.state.seller_id, "trade_status": t.status, "total_amount": _yuan(t.total),
            "receipt_amount": _yuan(t.total) if paid else None,
            "buyer_pay_amount": _yuan(t.total) if paid else None,
            "invoice_amount": _yuan(t.total) if paid else None, "subject": t.subject, "body": t.body,
            "gmt_create": self._fmt(t.created_at), "gmt_payment": self._fmt(t.paid_at),
            "gmt_close": self._fmt(t.closed_at) if t.status == TRADE_CLOSED else None,
            "fund_bill_list": json.dumps([{"amount": _yuan(t.total), "fundChannel": "ALIPAYACCOUNT"}],
                                         separators=(",", ":")) if paid else None,
            "passback_params": t.passback_params,
        }
        if refund is not None:
            params.update(out_biz_no=refund.out_request_no, refund_fee=_yuan(t.refunded_done),
                          gmt_refund=refund.at.astimezone(wire.BEIJING).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3])
        notify.send(self.notifier, self.state.alipay_key, t.notify_url, params,
                    kind="refund" if refund else "payment")

    def return_params(self, t: Trade) -> dict[str, str]:
        """What the browser brings back to return_url (signed like a notify)."""
        return {"method": f"{t.method}.return", "charset": "utf-8", "out_trade_no": t.out_trade_no,
                "trade_no": t.trade_no, "total_amount": _yuan(t.total), "auth_app_id": t.app_id,
                "app_id": t.app_id, "seller_id": self.state.seller_id, "version": "1.0", "sign_type": "RSA2",
                "timestamp": self._fmt(self.now()) or ""}

    def trade_json(self, t: Trade) -> dict[str, Any]:
        return {
            "app_id": t.app_id, "out_trade_no": t.out_trade_no, "trade_no": t.trade_no, "method": t.method,
            "trade_status": t.status if t.exists else "TRADE_NOT_EXIST", "total_amount": _yuan(t.total),
            "total_fen": t.total, "subject": t.subject, "refunded_fen": t.refunded_done,
            "created_at": self._fmt(t.created_at), "expire_at": self._fmt(t.expire_at),
            "paid_at": self._fmt(t.paid_at), "closed_at": self._fmt(t.closed_at), "qr_code": self.qr_url(t),
            "refunds": [{"out_request_no": r.out_request_no, "refund_amount": _yuan(r.amount),
                         "status": "REFUND_SUCCESS" if r.done else "PROCESSING",
                         "at": self._fmt(r.at)} for r in t.refunds.values()],
            "notifies": [d.as_json() for d in self.notifier.deliveries if d.trade == t.out_trade_no],
        }
