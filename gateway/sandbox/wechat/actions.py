"""State changes shared by the pay pages, the API and the control API."""
from __future__ import annotations

import asyncio
import secrets

from gateway.channels.wechat import protocol as wire
from gateway.sandbox.kit import Notifier, NotPayable
from gateway.sandbox.wechat import notify
from gateway.sandbox.wechat.state import Refund, SandboxState, Trade, now

_REFUND_EVENTS = {"SUCCESS": (wire.REFUND_SUCCESS, "退款成功"), "ABNORMAL": (wire.REFUND_ABNORMAL, "退款异常"),
                  "CLOSED": (wire.REFUND_CLOSED, "退款关闭")}

__all__ = ["NotPayable", "cancel", "finish_refund", "pay"]


def pay(state: SandboxState, notifier: Notifier, trade: Trade, openid: str | None = None) -> None:
    """The shopper pays: SUCCESS, then a TRANSACTION.SUCCESS notification."""
    trade.expire_if_due(now())
    if trade.state != "NOTPAY":
        raise NotPayable(trade.state)
    trade.state = "SUCCESS"
    trade.transaction_id = state.new_transaction_id()
    trade.success_time = now()
    trade.openid = trade.openid or openid or "o" + secrets.token_urlsafe(21)[:27]
    state.by_transaction[trade.transaction_id] = trade.out_trade_no
    notify.send(notifier, state, trade.notify_url, wire.TRANSACTION_SUCCESS, "transaction", "支付成功",
                trade.as_resource())


def cancel(trade: Trade) -> None:
    """The shopper gives up. The order stays NOTPAY and can be paid again ("用户支付失败 → NOTPAY（状态不变，
    可重试）"): only the merchant's close or the order's expiry closes it. Nothing is notified."""
    trade.expire_if_due(now())
    if trade.state != "NOTPAY":
        raise NotPayable(trade.state)


async def finish_refund(notifier: Notifier, state: SandboxState, refund: Refund, final: str,
                        delay: float | None) -> None:
    """PROCESSING → ``final`` after ``delay`` seconds (None: at once, before the answer is written)."""
    if delay is not None:
        await asyncio.sleep(delay)
    refund.status = final
    if final == "SUCCESS":
        refund.success_time = now()
        refund.trade.state = "REFUND"
    if refund.notify_url:
        event, summary = _REFUND_EVENTS[final]
        notify.send(notifier, state, refund.notify_url, event, "refund", summary, refund.as_resource())
