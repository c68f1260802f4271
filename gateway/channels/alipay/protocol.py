"""Alipay's wire protocol constants: method names, its clock, its result codes.

Facts about Alipay, not about our mapping: both the channel's transformers and the sandbox read them
from here (the sandbox never imports the transformers).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

# Alipay's clock and every time field it sends or accepts is Beijing time, without an offset.
BEIJING = timezone(timedelta(hours=8), "GMT+8")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

PRECREATE = "alipay.trade.precreate"
WAP_PAY = "alipay.trade.wap.pay"
PAGE_PAY = "alipay.trade.page.pay"
APP_PAY = "alipay.trade.app.pay"  # no call: a signed order string for the Alipay App SDK (apppay.py)
QUERY = "alipay.trade.query"
CLOSE = "alipay.trade.close"
REFUND = "alipay.trade.refund"
REFUND_QUERY = "alipay.trade.fastpay.refund.query"
BILL_URL_QUERY = "alipay.data.dataservice.bill.downloadurl.query"
TRADE_PAY = "alipay.trade.pay"        # barcode pay: the merchant scans the shopper's code (scene bar_code)
CANCEL = "alipay.trade.cancel"        # undo a barcode trade: closes it, or returns the money if it was paid
BROWSER_METHODS = frozenset({WAP_PAY, PAGE_PAY})  # the shopper's browser navigates to gateway.do

SUCCESS_CODE = "10000"
PAYING_CODE = "10003"  # alipay.trade.pay: ORDER_SUCCESS_PAY_INPROCESS, the shopper is typing the password


def beijing_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: Alipay times need a known offset")
    return moment.astimezone(BEIJING).strftime(TIME_FORMAT)


def parse_beijing(value: Any) -> datetime | None:
    """``2019-09-17 09:19:03`` (notify ``gmt_refund`` may carry ``.SSS``) → aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    for fmt in (TIME_FORMAT, TIME_FORMAT + ".%f"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=BEIJING)
        except ValueError:
            continue
    return None
