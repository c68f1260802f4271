"""Bills on the channels' schedule (T+1): today's bill is refused with the channel's documented error, the
previous day's is still being built early in the morning, and ready after; the immediate mode (tests and
demos) publishes at once."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from gateway.channels.alipay.protocol import BEIJING
from gateway.channels.wechat.protocol import CHINA
from gateway.sandbox.alipay import bill as alipay_bill
from gateway.sandbox.wechat import bill as wechat_bill


@pytest.fixture(autouse=True)
def on_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_SANDBOX_BILLS_IMMEDIATE", raising=False)


def test_alipay_bills_next_morning() -> None:
    morning, later = datetime(2024, 5, 2, 8, 30, tzinfo=BEIJING), datetime(2024, 5, 2, 11, 0, tzinfo=BEIJING)
    assert alipay_bill.refusal("2024-05-02", later) == ("isv.invalid_arguments", "参数不合法")  # today
    assert alipay_bill.refusal("2024-05", later) == ("isv.invalid_arguments", "参数不合法")     # this month
    assert alipay_bill.refusal("2024-05-01", morning) is not None
    assert alipay_bill.refusal("2024-05-01", later) is None
    assert alipay_bill.refusal("2024-04", later) is None


def test_wechat_bills_the_next_morning() -> None:
    early, later = datetime(2024, 5, 2, 8, 30, tzinfo=CHINA), datetime(2024, 5, 2, 10, 0, tzinfo=CHINA)
    code, _ = wechat_bill.refusal(date(2024, 5, 2), later) or ("", "")
    assert code == "PARAM_ERROR"
    assert (wechat_bill.refusal(date(2024, 5, 1), early) or ("",))[0] == "STATEMENT_CREATING"
    assert wechat_bill.refusal(date(2024, 5, 1), later) is None


def test_immediate_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_SANDBOX_BILLS_IMMEDIATE", "1")
    now = datetime(2024, 5, 2, 8, 0, tzinfo=CHINA)
    assert alipay_bill.refusal("2024-05-02", now) is None and wechat_bill.refusal(date(2024, 5, 2), now) is None
