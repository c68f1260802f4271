"""UnionPay ACP 5.1.0 wire constants: paths, transaction codes, response codes, its clock, the order-id
rule and the answer format.

Facts about UnionPay, not about our mapping: both the channel's transformers and the sandbox read them
from here (the sandbox never imports the transformers).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

VERSION = "5.1.0"
ENCODING = "UTF-8"
SIGN_METHOD_RSA = "01"           # RSA with a certificate; 11/12 (shared secureKey) are not spoken
CURRENCY_CNY = "156"
ACCESS_DIRECT = "0"
CHANNEL_PC = "07"
CHANNEL_MOBILE = "08"

FRONT_PATH = "/gateway/api/frontTransReq.do"   # browser form POST (gateway/WAP consume)
BACK_PATH = "/gateway/api/backTransReq.do"     # server to server: QR 申码, refund, consume undo
QUERY_PATH = "/gateway/api/queryTrans.do"
FILE_PATH = "/"                                # on the file-transfer host (filedownload.95516.com)

# txnType / txnSubType / bizType
CONSUME, CONSUME_UNDO, REFUND, QUERY, FILE_TRANSFER = "01", "31", "04", "00", "76"
SUB_FRONT, SUB_QR = "01", "07"
BIZ_GATEWAY, BIZ_QR, BIZ_NONE = "000201", "000000", "000000"
FILE_TYPE_ZM = "00"

# respCode / origRespCode
SUCCESS_CODES = frozenset({"00", "A6"})        # A6: "success with defects" -- success, confirmed by query
PROCESSING_CODES = frozenset({"03", "04", "05"})
DUPLICATE = "12"
NOT_FOUND = "34"
NO_FILE = "98"

# The owner of UnionPay's signing certificates: field 3 of the subject CN split on "@".
OWNER_NAME = "中国银联股份有限公司"
TEST_OWNER_NAME = "00040000:SIGN"                # accepted only with ifValidateCNName=false (test environment)

# Every time field is Beijing time without an offset.
BEIJING = timezone(timedelta(hours=8), "GMT+8")
TIME_FORMAT = "%Y%m%d%H%M%S"

# ZM / ZME record widths in bytes (the official demo's parseZMFile / parseZMEFile).
ZM_WIDTHS = (3, 11, 11, 6, 10, 19, 12, 4, 2, 21, 2, 32, 2, 6, 10, 13, 13, 4, 15, 2, 2, 6, 2, 4, 32, 1, 21, 15, 1, 15,
             32, 13, 13, 8, 32, 13, 13, 12, 2, 1, 32, 98)
ZME_WIDTHS = (3, 11, 11, 6, 10, 19, 12, 4, 2, 2, 6, 10, 4, 12, 13, 13, 15, 15, 1, 12, 2, 135)
# Indexes into a ZM record.
ZM_TRACE_TIME, ZM_AMOUNT, ZM_QUERY_ID, ZM_ORDER_ID, ZM_FEE, ZM_TXN_TYPE, ZM_ORIG_QUERY_ID, ZM_MER_ID = \
    4, 6, 9, 11, 15, 19, 26, 27

_ORDER_ID = re.compile(r"^[0-9A-Za-z]{8,40}$")


def beijing(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: UnionPay times need a known offset")
    return moment.astimezone(BEIJING).strftime(TIME_FORMAT)


def parse_beijing(value: str | None) -> datetime | None:
    try:
        return datetime.strptime(value or "", TIME_FORMAT).replace(tzinfo=BEIJING)
    except ValueError:
        return None


def valid_order_id(value: str) -> bool:
    """ACP orderId: 8–40 letters and digits (no ``-`` or ``_``)."""
    return bool(_ORDER_ID.match(value))


def parse_answer(text: str) -> dict[str, str]:
    """A synchronous answer ``k=v&k=v``: split on ``&`` only outside ``{…}`` / ``[…]`` (values such as
    ``reqReserved`` may nest), and each pair on its first ``=``; values are not URL-encoded (the SDK's
    ``parseQString``). ``ValueError`` on a pair without ``=`` or a repeated key."""
    fields: dict[str, str] = {}
    depth, start = 0, 0
    for i, ch in enumerate(text + "&"):
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth = max(0, depth - 1)
        elif ch == "&" and depth == 0:
            pair = text[start:i]
            start = i + 1
            if not pair:
                continue
            key, sep, value = pair.partition("=")
            if not sep or not key or key in fields:
                raise ValueError(f"malformed answer pair {pair[:40]!r}")
            fields[key] = value
    return fields


def format_answer(fields: dict[str, str]) -> str:
    """The inverse of :func:`parse_answer` (what UnionPay writes)."""
    return "&".join(f"{k}={v}" for k, v in fields.items())
