"""Alipay barcode pay (当面付 条码支付): ``alipay.trade.pay`` with ``scene=bar_code`` and the shopper's
``auth_code``; ``alipay.trade.cancel`` to undo a trade that was not paid in time.

``10000`` = paid; ``10003`` = the shopper is typing the password (the trade waits: query it);
``20000`` / ``ACQ.SYSTEM_ERROR`` / a timeout = unknown. A pay call that timed out is sent once more with
the same ``out_trade_no`` (Alipay charges one trade once), then the trade is queried. Cancel closes an
unpaid trade and *refunds a paid one*, so the trade is queried first: a paid trade is reported, not
cancelled.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gateway.channels.alipay.protocol import CANCEL, PAYING_CODE, SUCCESS_CODE, TRADE_PAY, parse_beijing
from gateway.channels.alipay.transformers import UNKNOWN_CODES, UNKNOWN_SUB_CODES, to_money, yuan
from gateway.channels.base import CloseResult, CreateRequest, CreateResult, TradeRef, TradeState
from gateway.domain.outcomes import Outcome
from gateway.domain.pay import ActionKind, PayAction

if TYPE_CHECKING:
    from gateway.channels.alipay.client import AlipayChannel

METHOD = "alipay_barcode"
RESEND = frozenset({"TIMEOUT", "NETWORK"})  # no answer (these or a 5xx): the same call again, then a query
# The trade exists and was paid already: a resent pay call with our own number says so.
ALREADY_PAID = frozenset({"ACQ.TRADE_HAS_SUCCESS"})
CONFIRM = PayAction(ActionKind.CONFIRM)  # nothing to show: the shopper confirms in the wallet


def pay_biz(req: CreateRequest) -> dict[str, str]:
    if not req.payer_id:
        raise ValueError("barcode pay needs the shopper's auth_code")
    biz = {"out_trade_no": req.trade_no, "scene": "bar_code", "auth_code": req.payer_id,
           "product_code": "FACE_TO_FACE_PAYMENT", "subject": req.subject[:256], "total_amount": yuan(req.amount)}
    if req.description:
        biz["body"] = req.description[:128]
    return biz


def _text(resp: Mapping[str, Any], key: str) -> str | None:
    value = resp.get(key)
    return value if isinstance(value, str) and value else None


def pay_result(resp: Mapping[str, Any]) -> CreateResult:
    """The ``alipay_trade_pay_response`` in our terms: paid (SUCCESS with a SUCCESS state), waiting for the
    password (SUCCESS with a WAITING state), declined (CHANNEL_ERROR), or UNKNOWN."""
    code = resp.get("code")
    if code == SUCCESS_CODE:
        state = TradeState(Outcome.SUCCESS, channel_trade_no=_text(resp, "trade_no"),
                           amount=to_money(resp.get("total_amount")), paid_at=parse_beijing(resp.get("gmt_payment")))
        return CreateResult(Outcome.SUCCESS, CONFIRM, state=state)
    if code == PAYING_CODE:
        return CreateResult(Outcome.SUCCESS, CONFIRM, state=TradeState(
            Outcome.WAITING, channel_trade_no=_text(resp, "trade_no"), error_code="ORDER_SUCCESS_PAY_INPROCESS"))
    sub_code = _text(resp, "sub_code") or str(code or "UNKNOWN")
    message = _text(resp, "sub_msg") or _text(resp, "msg") or ""
    unknown = code in UNKNOWN_CODES or sub_code in UNKNOWN_SUB_CODES
    return CreateResult(Outcome.UNKNOWN if unknown else Outcome.CHANNEL_ERROR, error_code=sub_code,
                        error_message=message)


def from_query(state: TradeState) -> CreateResult:
    """A pay call without a clear answer, read with the trade's query."""
    if state.outcome is Outcome.SUCCESS or (state.outcome is Outcome.WAITING and state.channel_trade_no):
        return CreateResult(Outcome.SUCCESS, CONFIRM, state=state)  # paid, or the trade waits for the password
    if state.outcome is Outcome.FAIL:
        return CreateResult(Outcome.CHANNEL_ERROR, error_code="TRADE_CLOSED", error_message="the trade is closed")
    return CreateResult(Outcome.UNKNOWN, error_code=state.error_code, error_message=state.error_message)


def cancel_result(resp: Mapping[str, Any]) -> CloseResult:
    """``retry_flag=Y`` → call again (UNKNOWN); ``action`` ``close`` / ``refund`` / ``""`` → the trade is
    undone. A trade that never arrived has nothing to undo."""
    if resp.get("code") == SUCCESS_CODE:
        if resp.get("retry_flag") == "Y":
            return CloseResult(Outcome.UNKNOWN, error_code="RETRY", error_message="Alipay asks to cancel again")
        return CloseResult(Outcome.SUCCESS, error_message=f"action={resp.get('action') or ''}")
    sub_code = _text(resp, "sub_code") or str(resp.get("code") or "UNKNOWN")
    if sub_code == "ACQ.TRADE_NOT_EXIST":
        return CloseResult(Outcome.SUCCESS, error_code=sub_code, error_message="nothing to cancel")
    unknown = resp.get("code") in UNKNOWN_CODES or sub_code in UNKNOWN_SUB_CODES
    return CloseResult(Outcome.UNKNOWN if unknown else Outcome.CHANNEL_ERROR, error_code=sub_code,
                       error_message=_text(resp, "sub_msg") or _text(resp, "msg"))


async def pay(channel: AlipayChannel, req: CreateRequest) -> CreateResult:
    try:
        biz = pay_biz(req)
    except ValueError as exc:
        return CreateResult(Outcome.CHANNEL_ERROR, error_code="ACQ.PAYMENT_AUTH_CODE_INVALID", error_message=str(exc))
    answer = await channel.call(TRADE_PAY, biz, notify_url=req.notify_url)
    if answer.response is None and (answer.error_code in RESEND or str(answer.error_code).startswith("HTTP_5")):
        answer = await channel.call(TRADE_PAY, biz, notify_url=req.notify_url)
    result = pay_result(answer.response) if answer.response is not None else \
        CreateResult(Outcome.UNKNOWN, error_code=answer.error_code, error_message=answer.error_message)
    if result.outcome is Outcome.UNKNOWN or result.error_code in ALREADY_PAID:
        return from_query(await channel.query(TradeRef(req.trade_no, pay_method=METHOD)))
    return result


async def cancel(channel: AlipayChannel, trade: TradeRef) -> CloseResult:
    """Undo a barcode trade at the deadline -- unless it was paid meanwhile (FAIL: settle it as paid)."""
    state = await channel.query(trade)
    if state.outcome is Outcome.SUCCESS:
        return CloseResult(Outcome.FAIL, error_code="TRADE_SUCCESS", error_message="paid; not cancelled")
    if state.outcome is Outcome.FAIL:
        return CloseResult(Outcome.SUCCESS, error_message="already closed")
    if state.outcome is Outcome.UNKNOWN:
        return CloseResult(Outcome.UNKNOWN, error_code=state.error_code, error_message=state.error_message)
    answer = await channel.call(CANCEL, {"out_trade_no": trade.trade_no})
    if answer.response is None:
        return CloseResult(Outcome.UNKNOWN, error_code=answer.error_code, error_message=answer.error_message)
    return cancel_result(answer.response)
