"""Alipay barcode pay's request and answers (alipay.trade.pay scene bar_code, alipay.trade.cancel), from
the documented shapes (``shared/reference/protocols-wave2.md`` §3.2)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.channels.alipay import barcode
from gateway.channels.base import CreateRequest
from gateway.domain.money import Money
from gateway.domain.outcomes import Outcome


def test_pay_biz() -> None:
    req = CreateRequest(trade_no="att_1", pay_method=barcode.METHOD, amount=Money(1234), subject="Counter",
                        expires_at=datetime.now(UTC) + timedelta(seconds=30), notify_url="https://x/notify",
                        payer_id="287777777777777771")
    assert barcode.pay_biz(req) == {"out_trade_no": "att_1", "scene": "bar_code", "auth_code": "287777777777777771",
                                    "product_code": "FACE_TO_FACE_PAYMENT", "subject": "Counter",
                                    "total_amount": "12.34"}


PAID = {"code": "10000", "msg": "Success", "trade_no": "2024010122001", "out_trade_no": "att_1",
        "total_amount": "12.34", "receipt_amount": "12.34", "gmt_payment": "2024-01-01 12:00:00",
        "buyer_user_id": "2088102177846875", "fund_bill_list": [{"fund_channel": "ALIPAYACCOUNT", "amount": "12.34"}]}


def test_paid_at_once() -> None:
    result = barcode.pay_result(PAID)
    assert result.outcome is Outcome.SUCCESS and result.state is not None
    assert result.state.outcome is Outcome.SUCCESS and result.state.amount == Money(1234)
    assert result.state.channel_trade_no == "2024010122001" and result.state.paid_at is not None


def test_waiting_for_the_password() -> None:
    result = barcode.pay_result({"code": "10003", "msg": " order success pay inprocess", "trade_no": "2024",
                                 "out_trade_no": "att_1"})
    assert result.outcome is Outcome.SUCCESS and result.state is not None
    assert result.state.outcome is Outcome.WAITING


@pytest.mark.parametrize(("resp", "outcome"), [
    ({"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.BUYER_BALANCE_NOT_ENOUGH", "sub_msg": "买家余额不足"},
     Outcome.CHANNEL_ERROR),
    ({"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.PAYMENT_AUTH_CODE_INVALID", "sub_msg": "…"},
     Outcome.CHANNEL_ERROR),
    ({"code": "20000", "msg": "Service Currently Unavailable", "sub_code": "isp.unknow-error"}, Outcome.UNKNOWN),
    ({"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.SYSTEM_ERROR"}, Outcome.UNKNOWN),
])
def test_other_answers(resp: dict[str, str], outcome: Outcome) -> None:
    result = barcode.pay_result(resp)
    assert result.outcome is outcome and result.state is None and result.error_code == resp["sub_code"]


@pytest.mark.parametrize(("resp", "outcome"), [
    ({"code": "10000", "retry_flag": "N", "action": "close"}, Outcome.SUCCESS),
    ({"code": "10000", "retry_flag": "N", "action": "refund"}, Outcome.SUCCESS),
    ({"code": "10000", "retry_flag": "Y", "action": ""}, Outcome.UNKNOWN),
    ({"code": "40004", "sub_code": "ACQ.TRADE_NOT_EXIST"}, Outcome.SUCCESS),
    ({"code": "40004", "sub_code": "ACQ.SYSTEM_ERROR"}, Outcome.UNKNOWN),
    ({"code": "40004", "sub_code": "ACQ.REASON_TRADE_REFUND_FEE_ERR"}, Outcome.CHANNEL_ERROR),
])
def test_cancel_answers(resp: dict[str, str], outcome: Outcome) -> None:
    assert barcode.cancel_result(resp).outcome is outcome
