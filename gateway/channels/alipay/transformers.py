"""Pure conversions between our types and Alipay's wire shapes. No I/O, no keys.

Alipay field names (``out_trade_no``, ``trade_status``, …) live here and nowhere else. Amounts are
yuan strings on the wire and :class:`Money` (integer fen) on our side; JSON numbers are read with
``parse_float=Decimal`` so that no amount ever passes through a float.
"""
from __future__ import annotations

import csv
import functools
import io
import itertools
import json
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway.channels.alipay.protocol import (  # noqa: F401 - wire constants, re-exported for the client
    APP_PAY,
    BEIJING,
    BILL_URL_QUERY,
    BROWSER_METHODS,
    CLOSE,
    PAGE_PAY,
    PRECREATE,
    QUERY,
    REFUND,
    REFUND_QUERY,
    SUCCESS_CODE,
    TIME_FORMAT,
    WAP_PAY,
    beijing_time,
    parse_beijing,
)
from gateway.channels.base import (
    FEE_UNITS_PER_FEN,
    REFUSED,
    SIGNATURE_REJECTED,
    BillLine,
    BillTotals,
    CloseResult,
    CreateRequest,
    CreateResult,
    CredentialCheck,
    Notification,
    RefundRequest,
    RefundResult,
    TradeRef,
    TradeState,
    VerificationError,
)
from gateway.domain.money import Money, MoneyError, format_major, parse_major
from gateway.domain.outcomes import Outcome
from gateway.domain.pay import PayAction

# our pay-method code → (Alipay method, product_code)
PAY_METHODS: dict[str, tuple[str, str]] = {
    "alipay_qr": (PRECREATE, "FACE_TO_FACE_PAYMENT"),
    "alipay_wap": (WAP_PAY, "QUICK_WAP_WAY"),
    "alipay_page": (PAGE_PAY, "FAST_INSTANT_TRADE_PAY"),
    "alipay_app": (APP_PAY, "QUICK_MSECURITY_PAY"),
}

# Answers that mean "we do not know what happened": retry or query, never conclude.
UNKNOWN_CODES = frozenset({"20000"})
UNKNOWN_SUB_CODES = frozenset({"ACQ.SYSTEM_ERROR", "isp.unknow-error", "aop.ACQ.SYSTEM_ERROR"})


# ---------------------------------------------------------------- times and amounts

def timeout_express(expires_at: datetime, now: datetime) -> str:
    """The relative form (``Nm``, whole minutes, at least ``1m``), rounded down so the trade never
    outlives our payment. We send ``time_expire`` (exact to the second); this is for callers that
    need the older parameter."""
    minutes = int((expires_at - now).total_seconds() // 60)
    return f"{max(minutes, 1)}m"


def yuan(amount: Money) -> str:
    if amount.currency != "CNY":
        raise MoneyError("Alipay trades are settled in CNY")
    return format_major(amount.minor)


def to_money(value: Any) -> Money | None:
    if value is None or value == "":
        return None
    try:
        return Money(parse_major(value.strip() if isinstance(value, str) else value))
    except MoneyError:
        return None


# ---------------------------------------------------------------- requests

def common_params(app_id: str, method: str, now: datetime, *, notify_url: str | None = None,
                  return_url: str | None = None, charset: str = "utf-8") -> dict[str, str]:
    params = {
        "app_id": app_id, "method": method, "format": "JSON", "charset": charset, "sign_type": "RSA2",
        "timestamp": beijing_time(now), "version": "1.0",
    }
    if notify_url:
        params["notify_url"] = notify_url
    if return_url:
        params["return_url"] = return_url
    return params


def dumps_biz(biz: Mapping[str, Any]) -> str:
    # Compact and unescaped like the official SDK; the gateway verifies the text as sent anyway.
    return json.dumps(biz, ensure_ascii=False, separators=(",", ":"))


def create_biz(req: CreateRequest) -> dict[str, str]:
    method, product_code = PAY_METHODS[req.pay_method]
    biz = {
        "out_trade_no": req.trade_no,
        "total_amount": yuan(req.amount),
        "subject": req.subject[:256],
        "product_code": product_code,
        # Absolute expiry to the second: timeout_express only knows whole minutes.
        "time_expire": beijing_time(req.expires_at),
    }
    if req.description:
        biz["body"] = req.description[:128]
    if method == WAP_PAY and req.quit_url:
        biz["quit_url"] = req.quit_url
    return biz


def query_biz(trade: TradeRef) -> dict[str, str]:
    """Our number when we have it, else Alipay's ``trade_no`` (the query takes either)."""
    if trade.trade_no:
        return {"out_trade_no": trade.trade_no}
    if trade.channel_trade_no:
        return {"trade_no": trade.channel_trade_no}
    raise ValueError("a trade needs our number or Alipay's trade_no")


def refund_biz(req: RefundRequest) -> dict[str, str]:
    biz = {"out_trade_no": req.trade_no, "refund_amount": yuan(req.amount), "out_request_no": req.refund_no}
    if req.channel_trade_no:
        biz["trade_no"] = req.channel_trade_no
    if req.reason:
        biz["refund_reason"] = req.reason[:256]
    return biz


def refund_query_biz(req: RefundRequest) -> dict[str, str]:
    biz = {"out_trade_no": req.trade_no, "out_request_no": req.refund_no}
    if req.channel_trade_no:
        biz["trade_no"] = req.channel_trade_no
    return biz


def bill_biz(day: date) -> dict[str, str]:
    return {"bill_type": "trade", "bill_date": day.isoformat()}


# ---------------------------------------------------------------- responses

def loads(content: str) -> dict[str, Any]:
    data = json.loads(content, parse_float=Decimal)
    if not isinstance(data, dict):
        raise ValueError("response object expected")
    return data


def _text(resp: Mapping[str, Any], key: str) -> str | None:
    value = resp.get(key)
    return value if isinstance(value, str) and value else None


def _failure_outcome(resp: Mapping[str, Any]) -> Outcome:
    if resp.get("code") in UNKNOWN_CODES or resp.get("sub_code") in UNKNOWN_SUB_CODES:
        return Outcome.UNKNOWN
    return Outcome.CHANNEL_ERROR


def _error(resp: Mapping[str, Any]) -> tuple[str, str]:
    code = _text(resp, "sub_code") or str(resp.get("code") or "UNKNOWN")
    return code, _text(resp, "sub_msg") or _text(resp, "msg") or ""


# The gateway's refusals of the request itself, before any business processing: Alipay sends them
# unsigned when it cannot attribute the request (missing or invalid parameters, an unknown app id, no
# permission, a bad auth token). Business answers (40004, 10000) are always signed.
GATEWAY_REFUSAL_CODES = frozenset({"20001", "40001", "40002", "40006"})


def unsigned_refusal(resp: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(code, message)`` of an unsigned answer we can take as a decline, or None (it stays unknown)."""
    if resp.get("code") not in GATEWAY_REFUSAL_CODES:
        return None
    return _error(resp)


def create_result(resp: Mapping[str, Any]) -> CreateResult:
    if resp.get("code") == SUCCESS_CODE and _text(resp, "qr_code"):
        return CreateResult(Outcome.SUCCESS, PayAction.show_qr(resp["qr_code"]))
    code, msg = _error(resp)
    return CreateResult(_failure_outcome(resp) if resp.get("code") != SUCCESS_CODE else Outcome.UNKNOWN,
                        error_code=code, error_message=msg)


_TRADE_OUTCOME = {
    "TRADE_SUCCESS": Outcome.SUCCESS, "TRADE_FINISHED": Outcome.SUCCESS,
    "WAIT_BUYER_PAY": Outcome.WAITING, "TRADE_CLOSED": Outcome.FAIL,
}


def trade_state(resp: Mapping[str, Any], *, by_channel_no: bool = False) -> TradeState:
    if resp.get("code") != SUCCESS_CODE:
        code, msg = _error(resp)
        if code == "ACQ.TRADE_NOT_EXIST":
            # A precreated QR code that nobody scanned yet does not exist at Alipay: still payable. Asked
            # by Alipay's own trade_no, though, there is no such trade.
            return TradeState(Outcome.FAIL if by_channel_no else Outcome.WAITING, error_code=code, error_message=msg)
        return TradeState(_failure_outcome(resp), error_code=code, error_message=msg)
    outcome = _TRADE_OUTCOME.get(str(resp.get("trade_status")), Outcome.UNKNOWN)
    if outcome is Outcome.FAIL and _text(resp, "send_pay_date"):
        # TRADE_CLOSED is also the state of a paid trade refunded in full: it *was* paid.
        outcome = Outcome.SUCCESS
    return TradeState(
        outcome,
        channel_trade_no=_text(resp, "trade_no"),
        amount=to_money(resp.get("total_amount")),
        paid_at=parse_beijing(resp.get("send_pay_date")) if outcome is Outcome.SUCCESS else None,
        error_code=None if outcome is not Outcome.UNKNOWN else f"trade_status:{resp.get('trade_status')}",
    )


# Alipay's refusals of the request's signature itself (gateway.do's 40001/40002 checks): the app's
# private key, its app id or the signing scheme is not what Alipay has on file.
SIGNATURE_REFUSALS = frozenset({"isv.invalid-signature", "isv.invalid-app-id", "isv.invalid-signature-type",
                                "isv.missing-signature", "isv.missing-app-id",
                                # certificate mode: configured without (or with the wrong) certificates
                                "isv.missing-app-cert-sn", "isv.missing-alipay-root-cert-sn",
                                "isv.app-cert-not-exist", "isv.invalid-alipay-root-cert-sn",
                                "isv.app-cert-expired"})


def credential_check(resp: Mapping[str, Any]) -> CredentialCheck:
    """A verified answer to the query of a trade that cannot exist: ``ACQ.TRADE_NOT_EXIST`` means Alipay
    took our signature and signed its answer with the key we hold."""
    code, msg = _error(resp)
    if resp.get("code") == SUCCESS_CODE or code == "ACQ.TRADE_NOT_EXIST":
        return CredentialCheck.passed(code if resp.get("code") != SUCCESS_CODE else None)
    detail = f"{code}: {msg}"[:160]
    return CredentialCheck.failed(SIGNATURE_REJECTED if code in SIGNATURE_REFUSALS else REFUSED, detail)


# Closing fails because the trade is no longer WAIT_BUYER_PAY: paid, or already closed (the shopper
# cancelled, or Alipay's own time_expire closed it) -- ACQ.TRADE_STATUS_ERROR says either; the query tells.
_CLOSE_FAIL = frozenset({"ACQ.TRADE_STATUS_ERROR", "ACQ.TRADE_HAS_SUCCESS", "ACQ.TRADE_HAS_FINISHED"})


def close_result(resp: Mapping[str, Any]) -> CloseResult:
    if resp.get("code") == SUCCESS_CODE:
        return CloseResult(Outcome.SUCCESS)
    code, msg = _error(resp)
    if code in ("ACQ.TRADE_NOT_EXIST", "ACQ.TRADE_HAS_CLOSE"):
        # Nothing to close (or closed already). Caveat: an unscanned precreate QR stays scannable until
        # its time_expire.
        return CloseResult(Outcome.SUCCESS, error_code=code, error_message=msg)
    if code in _CLOSE_FAIL:
        return CloseResult(Outcome.FAIL, error_code=code, error_message=msg)
    return CloseResult(_failure_outcome(resp), error_code=code, error_message=msg)


def close_after_query(closed: CloseResult, state: TradeState) -> CloseResult:
    """A close refused because the trade is not open, read with the trade's query: TRADE_CLOSED (never
    paid) → the close is done (SUCCESS); paid → FAIL (settle it as paid); anything else → UNKNOWN."""
    if state.outcome is Outcome.FAIL:
        return CloseResult(Outcome.SUCCESS, error_code=closed.error_code, error_message="already closed")
    if state.outcome is Outcome.SUCCESS:
        return closed
    return CloseResult(Outcome.UNKNOWN, error_code=closed.error_code or state.error_code,
                       error_message=f"close refused, trade state {state.outcome.value}")


def refund_result(resp: Mapping[str, Any]) -> RefundResult:
    """Code 10000 means Alipay took the refund request, not that money moved: only ``fund_change=Y``
    says it did ("接口返回fund_change=Y为退款成功，fund_change=N或无此字段值返回时需通过退款查询接口进一步
    确认退款状态", alipay.trade.refund). ``N`` or no value -- a refund still being processed, or a repeat
    of one -- is WAITING, settled by alipay.trade.fastpay.refund.query (or the refund notify).
    ``refund_fee`` is cumulative over the trade, so it is not this refund's amount and is not reported."""
    if resp.get("code") == SUCCESS_CODE:
        if resp.get("fund_change") == "Y":
            return RefundResult(Outcome.SUCCESS)
        return RefundResult(Outcome.WAITING, error_code=f"fund_change:{resp.get('fund_change') or '-'}",
                            error_message="refund accepted; its result comes from the refund query")
    code, msg = _error(resp)
    return RefundResult(_failure_outcome(resp), error_code=code, error_message=msg)


def refund_query_result(resp: Mapping[str, Any]) -> RefundResult:
    """Per the fastpay.refund.query docs, code 10000 only means the query ran. For a refund made with
    the synchronous alipay.trade.refund, business data (``out_request_no`` + ``refund_amount``) means
    refunded; no data means not refunded (yet) -- we answer WAITING with ``REFUND_NOT_FOUND`` so the
    caller re-sends the refund with the same ``out_request_no`` (safe: it is the idempotency key)."""
    if resp.get("code") != SUCCESS_CODE:
        code, msg = _error(resp)
        return RefundResult(_failure_outcome(resp), error_code=code, error_message=msg)
    status = _text(resp, "refund_status")
    amount = to_money(resp.get("refund_amount"))
    if status == "REFUND_FAIL":
        return RefundResult(Outcome.FAIL, amount=amount, error_code=status)
    if status == "REFUND_PROCESSING":
        return RefundResult(Outcome.WAITING, amount=amount, error_code=status)
    if status == "REFUND_SUCCESS" or (status is None and amount is not None and _text(resp, "out_request_no")):
        return RefundResult(Outcome.SUCCESS, amount=amount)
    return RefundResult(Outcome.WAITING, not_found=True, error_code="REFUND_NOT_FOUND",
                        error_message="no refund with this out_request_no (yet)")


# A day not over yet is refused as 参数不合法 (isv.invalid_arguments, not told apart from other bad
# arguments: the caller knows the date); a bill still being built [U: the code is not documented].
BILL_NOT_READY_CODES = frozenset({"isp.bill_creating", "isp.bill_not_ready"})


def bill_url(resp: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(url, None)``; ``(None, None)`` when there is no bill that day; ``(None, code)`` otherwise."""
    if resp.get("code") == SUCCESS_CODE and _text(resp, "bill_download_url"):
        return resp["bill_download_url"], None
    code, _ = _error(resp)
    if code in {"isp.bill_not_exist", "BILL_NOT_EXIST"}:
        return None, None
    return None, code


# ---------------------------------------------------------------- notify

def notification(params: Mapping[str, str]) -> Notification:
    """A verified notify → :class:`Notification`.

    A refund notify is a ``trade_status_sync`` carrying ``out_biz_no`` (our refund_no) / ``refund_fee``
    / ``gmt_refund``; ``trade_status`` stays TRADE_SUCCESS, or TRADE_CLOSED once fully refunded.
    ``refund_amount`` is ``refund_fee``: the CUMULATIVE amount refunded on the trade so far, not this
    refund's own amount -- equal for a single refund, larger after earlier partial refunds.
    A verified notify in a state we do not act on is an ``"unsupported"`` notification.
    """
    trade_no = params.get("out_trade_no")
    status = params.get("trade_status")
    if not trade_no or not status:
        raise VerificationError("malformed", "out_trade_no and trade_status are required")
    amount = to_money(params.get("total_amount"))
    if params.get("total_amount") and amount is None:
        raise VerificationError("malformed", "total_amount is not an amount")
    identities = {k: params[k] for k in ("app_id", "seller_id") if params.get(k)}
    common: dict[str, Any] = {
        "trade_no": trade_no, "amount": amount, "channel_trade_no": params.get("trade_no") or None,
        "event_id": params.get("notify_id") or None, "identities": identities, "raw": dict(params),
    }
    is_refund = bool(params.get("out_biz_no") or params.get("refund_fee") or params.get("gmt_refund"))
    if is_refund:
        if status not in ("TRADE_SUCCESS", "TRADE_FINISHED", "TRADE_CLOSED"):
            return Notification(kind="unsupported", outcome=Outcome.WAITING, **common)
        return Notification(kind="refund", outcome=Outcome.SUCCESS, refund_no=params.get("out_biz_no") or None,
                            refund_amount=to_money(params.get("refund_fee")), **common)
    if status in ("TRADE_SUCCESS", "TRADE_FINISHED"):
        return Notification(kind="payment", outcome=Outcome.SUCCESS,
                            paid_at=parse_beijing(params.get("gmt_payment")), **common)
    if status == "TRADE_CLOSED":
        return Notification(kind="payment", outcome=Outcome.FAIL, **common)
    if status == "WAIT_BUYER_PAY":  # only sent if the app opted in; nothing changes for us
        return Notification(kind="payment", outcome=Outcome.WAITING, **common)
    return Notification(kind="unsupported", outcome=Outcome.WAITING, **common)


# ---------------------------------------------------------------- bill

DETAIL_SUFFIX = "_业务明细.csv"


def bill_detail_csv(zip_bytes: bytes) -> str:
    """The detail CSV out of the bill zip (entry names are GBK without the UTF-8 flag)."""
    with zipfile.ZipFile(io.BytesIO(zip_bytes), metadata_encoding="gbk") as zf:
        for name in zf.namelist():
            if name.endswith(DETAIL_SUFFIX):
                return zf.read(name).decode("gbk")
    raise ValueError("no detail file in the bill zip")


def bill_lines(text: str) -> list[BillLine]:
    """The 业务明细 CSV as a string → lines (see :func:`iter_bill`)."""
    return list(iter_bill(io.StringIO(text), BillTotals()))


def read_bill(path: Path, stated: BillTotals) -> Iterator[BillLine]:
    """The bill zip as downloaded, its detail CSV decoded (GBK) and parsed as it is read."""
    with zipfile.ZipFile(path, metadata_encoding="gbk") as zf:
        name = next((n for n in zf.namelist() if n.endswith(DETAIL_SUFFIX)), None)
        if name is None:
            raise ValueError("no detail file in the bill zip")
        with zf.open(name) as raw, io.TextIOWrapper(raw, encoding="gbk", newline="") as text:
            yield from iter_bill(text, stated)


KINDS = {"交易": "payment", "退款": "refund"}


def _bill_time(value: str) -> datetime | None:
    if len(value) == 19 and value[10] == " ":  # strptime, or even .replace(tzinfo=), costs seconds per million
        return datetime.fromisoformat(value + "+08:00")
    return parse_beijing(value)


def _csv_rows(text: Iterable[str]) -> Iterator[list[str]]:
    """The rows ``csv.reader`` reads; a line without a quote is merely split on its commas (the reader
    costs a second more per million lines). A quoted line goes to the reader, with the lines after it
    should a quoted field run on."""
    lines = iter(text)
    for line in lines:
        if '"' in line:
            yield next(csv.reader(itertools.chain((line,), lines)), [])
        else:
            line = line.rstrip("\r\n")
            yield line.split(",") if line else []


_TOTAL = re.compile(r"^#(交易|退款)合计：(\d+)笔，商家实收(?:退款)?共(-?[0-9.]+)元")


def iter_bill(text: Iterable[str], stated: BillTotals) -> Iterator[BillLine]:
    """The 业务明细 CSV → lines, in constant memory. ID cells carry a trailing TAB (so spreadsheets keep
    them as text). Payments are 订单金额（元）; a refund row's amount is its 商家实收（元） (negative; 订单金额
    there may be the order's total), a positive ``kind="refund"`` line whose ``refund_no`` is 退款批次号/请求号. 服务费（元） is the fee, negative when
    charged [U]. The footer (``#交易合计：N笔，商家实收共X元``) fills ``stated``; it counts 商家实收, so the
    difference between 订单金额 and 商家实收 seen on the rows (discounts) is carried over to compare like
    with like."""
    columns: dict[str, int] | None = None
    # A day's amounts and fees repeat, and its times come in order: each text is parsed once.
    yuan, when = functools.lru_cache(maxsize=4096)(parse_major), functools.lru_cache(maxsize=4096)(_bill_time)
    money = functools.lru_cache(maxsize=4096)(Money)
    width = i_kind = i_trade = i_channel = i_amount = i_received = i_request = i_fee = i_done = -1
    discount = {"payment": 0, "refund": 0}
    for row in _csv_rows(text):
        if not row:
            continue
        if row[0].startswith("#"):
            m = _TOTAL.match(row[0] if len(row) == 1 else ",".join(row))
            if m and columns is not None:
                which = "payment" if m.group(1) == "交易" else "refund"
                count, total = int(m.group(2)), abs(parse_major(m.group(3)))
                if which == "payment":
                    stated.pay_count, stated.pay_amount = count, total + discount[which]
                else:
                    stated.refund_count, stated.refund_amount = count, total + discount[which]
                stated.stated = True
            continue
        if columns is None:
            cells = [c.strip() for c in row]
            if cells[0] == "支付宝交易号":
                columns = {name: i for i, name in enumerate(cells)}
                width = len(cells)
                i_kind, i_trade, i_channel, i_amount, i_received, i_request, i_fee, i_done = (
                    columns.get(n, -1) for n in ("业务类型", "商户订单号", "支付宝交易号", "订单金额（元）",
                                                 "商家实收（元）", "退款批次号/请求号", "服务费（元）", "完成时间"))
            continue
        if len(row) < width:
            row = row + [""] * (width - len(row))
        kind = KINDS.get(row[i_kind].strip()) if i_kind >= 0 else None
        if kind is None:
            continue
        net = row[i_received].strip() if i_received >= 0 else ""
        if kind == "refund" and net:
            # A refund row's 订单金额 may be the order's total; the refunded amount is 商家实收 (negative).
            minor = abs(yuan(net))
        else:
            minor = abs(yuan(row[i_amount].strip()))
            if net:
                discount[kind] += minor - abs(yuan(net))
        fee = row[i_fee].strip() if i_fee >= 0 else ""
        line_fee = -yuan(fee) * FEE_UNITS_PER_FEN if fee else 0
        stated.fee += line_fee  # the footer states no fee total: the fee is not cross-checked
        request_no = row[i_request].strip() if kind == "refund" and i_request >= 0 else ""
        yield BillLine(
            kind=kind, trade_no=row[i_trade].strip(), channel_trade_no=row[i_channel].strip(),
            amount=money(minor), refund_no=request_no or None,
            at=when(row[i_done].strip()) if i_done >= 0 else None, fee=line_fee,
        )
    if columns is None:
        raise ValueError("no header row in the bill")
