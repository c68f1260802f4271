"""Pure conversions between our types and WeChat Pay APIv3 bodies. No I/O, no keys.

WeChat amounts are integer fen on the wire (bills excepted: yuan strings), so the API side needs no
conversion; every amount read is checked to be an ``int`` (JSON is parsed with ``parse_float=Decimal``
so a fractional amount is caught, never rounded).
"""
from __future__ import annotations

import functools
import gzip
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, cast

from gateway.channels.base import (
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
    TradeState,
)
from gateway.channels.billfile import is_gzip
from gateway.channels.wechat.protocol import CHINA
from gateway.domain.money import Money, MoneyError, parse_major
from gateway.domain.outcomes import Outcome
from gateway.domain.pay import PayAction

DESCRIPTION_MAX = 127
ENDPOINTS = {"wechat_native": "native", "wechat_h5": "h5", "wechat_jsapi": "jsapi", "wechat_app": "app"}

# Error codes that mean "the channel did not finish; ask again" whatever the HTTP status.
_RETRYABLE = frozenset({"SYSTEM_ERROR", "SYSTEMERROR", "BANK_ERROR", "FREQUENCY_LIMITED"})
# v3 spells it ORDER_NOT_EXIST; older docs and some SDKs ORDERNOTEXIST. Accept both.
_NOT_EXIST = frozenset({"ORDER_NOT_EXIST", "ORDERNOTEXIST", "RESOURCE_NOT_EXISTS"})
_PAID = frozenset({"ORDERPAID", "ORDER_PAID", "TRADE_STATE_ERROR"})


class Malformed(ValueError):
    """An answer that does not have the shape the API documents."""


# --- helpers -------------------------------------------------------------------------------------------

def trim_description(text: str) -> str:
    """≤127 characters; strip control characters WeChat refuses; slice by code point (never mid-character)."""
    clean = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return clean[:DESCRIPTION_MAX].rstrip() or "-"


def rfc3339(moment: datetime) -> str:
    """``2018-06-08T10:34:56+08:00``: WeChat wants seconds precision and an explicit offset."""
    if moment.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    return moment.astimezone(CHINA).replace(microsecond=0).isoformat()


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise Malformed(f"bad time {value!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=CHINA)


def _fen(value: Any) -> int:
    if type(value) is not int:
        raise Malformed(f"amount is not an integer number of fen: {value!r}")
    return value


def _money(amount: Any, key: str) -> Money:
    if not isinstance(amount, Mapping):
        raise Malformed("amount missing")
    try:
        return Money(_fen(amount.get(key)), str(amount.get("currency") or "CNY"))
    except MoneyError as exc:
        raise Malformed(str(exc)) from exc


def error_outcome(status: int, code: str | None) -> Outcome:
    """The one mapping of a non-2xx answer: 5xx and retryable codes are UNKNOWN, other 4xx refusals."""
    if status >= 500 or status == 429 or (code or "") in _RETRYABLE:
        return Outcome.UNKNOWN
    return Outcome.CHANNEL_ERROR


def credential_check(status: int, code: str | None, message: str | None) -> CredentialCheck:
    """A verified answer to the query of a trade that cannot exist: ``ORDER_NOT_EXIST`` means WeChat Pay
    took our signature (mchid, serial, private key) and signed its answer with a key we trust."""
    if 200 <= status < 300 or code == "ORDER_NOT_EXIST":
        return CredentialCheck.passed(code)
    detail = f"HTTP {status} {code or ''}: {message or ''}"[:160]
    return CredentialCheck.failed(SIGNATURE_REJECTED if status == 401 or code == "SIGN_ERROR" else REFUSED, detail)


# --- create --------------------------------------------------------------------------------------------

def create_body(req: CreateRequest, *, appid: str, mchid: str) -> dict[str, Any]:
    """The body of ``POST /v3/pay/transactions/{native|h5|jsapi}``. Raises ValueError when a method's
    required input (H5 client IP, JSAPI openid) is missing -- that is our caller's mistake."""
    if req.pay_method not in ENDPOINTS:
        raise ValueError(f"not a WeChat pay method: {req.pay_method}")
    if req.amount.currency != "CNY" or req.amount.minor < 1:
        raise ValueError("WeChat Pay takes CNY amounts of at least 1 fen")
    body: dict[str, Any] = {
        "appid": appid,
        "mchid": mchid,
        "description": trim_description(req.subject),
        "out_trade_no": req.trade_no,
        "time_expire": rfc3339(req.expires_at),
        "notify_url": req.notify_url,
        "amount": {"total": req.amount.minor, "currency": req.amount.currency},
    }
    if req.pay_method == "wechat_h5":
        if not req.client_ip:
            raise ValueError("H5 payments need the shopper's IP (scene_info.payer_client_ip)")
        body["scene_info"] = {"payer_client_ip": req.client_ip, "h5_info": {"type": "Wap"}}
    elif req.pay_method == "wechat_jsapi":
        if not req.payer_id:
            raise ValueError("JSAPI payments need the payer's openid")
        body["payer"] = {"openid": req.payer_id}
    return body


def parse_create(pay_method: str, data: Mapping[str, Any]) -> CreateResult | str:
    """native → a QR code of ``code_url``; h5 → a redirect to ``h5_url`` (which takes our page as
    ``redirect_url``); jsapi → the bare ``prepay_id`` (the client signs the JS bridge's parameters)."""
    field = {"wechat_native": "code_url", "wechat_h5": "h5_url"}.get(pay_method, "prepay_id")
    value = data.get(field)
    if not isinstance(value, str) or not value:
        raise Malformed(f"{field} missing")
    if pay_method == "wechat_native":
        return CreateResult(Outcome.SUCCESS, PayAction.show_qr(value))
    if pay_method == "wechat_h5":
        return CreateResult(Outcome.SUCCESS, PayAction.redirect(value, return_param="redirect_url"))
    return value


# --- query / close -------------------------------------------------------------------------------------

_TRADE_STATES = {
    "SUCCESS": Outcome.SUCCESS,
    "REFUND": Outcome.SUCCESS,       # it was paid; a refund is under way
    "NOTPAY": Outcome.WAITING,
    "USERPAYING": Outcome.WAITING,
    "CLOSED": Outcome.FAIL,
    "REVOKED": Outcome.FAIL,
    "PAYERROR": Outcome.FAIL,
}


def parse_trade(data: Mapping[str, Any], trade_no: str | None, *, transaction_id: str | None = None) -> TradeState:
    """A query's answer about ``trade_no`` (ours), or -- asked by WeChat's number -- ``transaction_id``."""
    if trade_no is not None and data.get("out_trade_no") != trade_no:
        raise Malformed("the answer is about another trade")
    if trade_no is None and (not transaction_id or data.get("transaction_id") != transaction_id):
        raise Malformed("the answer is about another transaction")
    state = data.get("trade_state")
    outcome = _TRADE_STATES.get(state) if isinstance(state, str) else None
    if outcome is None:
        raise Malformed(f"unknown trade_state {state!r}")
    if outcome is not Outcome.SUCCESS:
        return TradeState(outcome, channel_trade_no=data.get("transaction_id") or None,
                          error_code=state, error_message=data.get("trade_state_desc"))
    txn = data.get("transaction_id")
    if not isinstance(txn, str) or not txn:
        raise Malformed("paid trade without transaction_id")
    return TradeState(Outcome.SUCCESS, channel_trade_no=txn, amount=_money(data.get("amount"), "total"),
                      paid_at=parse_time(data.get("success_time")))


def query_error(status: int, code: str | None, message: str | None) -> TradeState:
    # ORDER_NOT_EXIST: the create never reached WeChat, so the trade cannot be paid -- FAIL, with the
    # code kept so that the core can tell it from a closed trade.
    outcome = Outcome.FAIL if code in _NOT_EXIST and status == 404 else error_outcome(status, code)
    return TradeState(outcome, error_code=code, error_message=message)


def close_result(status: int, code: str | None, message: str | None) -> CloseResult:
    if status == 204:
        return CloseResult(Outcome.SUCCESS)
    if code in _PAID:
        return CloseResult(Outcome.FAIL, code, message or "paid, query it")
    if code in _NOT_EXIST or code == "ORDER_CLOSED":
        return CloseResult(Outcome.SUCCESS, code, message)
    return CloseResult(error_outcome(status, code), code, message)


# --- refunds -------------------------------------------------------------------------------------------

_REFUND_STATES = {
    "SUCCESS": Outcome.SUCCESS,
    "PROCESSING": Outcome.WAITING,
    "CLOSED": Outcome.FAIL,
    "CLOSE": Outcome.FAIL,           # a typo in some published schemas; harmless to accept
    "ABNORMAL": Outcome.FAIL,
}


def refund_body(req: RefundRequest) -> dict[str, Any]:
    if req.amount.currency != "CNY" or req.total.currency != "CNY":
        raise ValueError("WeChat Pay refunds CNY only")
    body: dict[str, Any] = {
        "out_refund_no": req.refund_no,
        "amount": {"refund": req.amount.minor, "total": req.total.minor, "currency": "CNY"},
    }
    if req.channel_trade_no:
        body["transaction_id"] = req.channel_trade_no
    else:
        body["out_trade_no"] = req.trade_no
    if req.reason:
        body["reason"] = trim_description(req.reason)[:80]
    if req.notify_url:
        body["notify_url"] = req.notify_url
    return body


def parse_refund(data: Mapping[str, Any], refund_no: str) -> RefundResult:
    if data.get("out_refund_no") != refund_no:
        raise Malformed("the answer is about another refund")
    status = data.get("status")
    outcome = _REFUND_STATES.get(status) if isinstance(status, str) else None
    if outcome is None:
        raise Malformed(f"unknown refund status {status!r}")
    return RefundResult(outcome, channel_refund_no=data.get("refund_id") or None,
                        amount=_money(data.get("amount"), "refund"),
                        error_code=None if outcome is Outcome.SUCCESS else status)


def refund_not_found(code: str | None) -> bool:
    """A refund query's error code that means WeChat never saw the refund: re-sending it is safe."""
    return code == "RESOURCE_NOT_EXISTS"


def refund_error(status: int, code: str | None, message: str | None) -> RefundResult:
    return RefundResult(error_outcome(status, code), error_code=code, error_message=message)


# --- notifications -------------------------------------------------------------------------------------

_REFUND_EVENTS = {"REFUND.SUCCESS": Outcome.SUCCESS, "REFUND.ABNORMAL": Outcome.FAIL,
                  "REFUND.CLOSED": Outcome.FAIL}


def parse_notification(envelope: Mapping[str, Any], resource: Mapping[str, Any]) -> Notification:
    """``envelope`` is the outer JSON, ``resource`` the decrypted plaintext object. An event we do not act
    on is a ``"unsupported"`` notification (it decrypted under our key: genuine); raises :class:`Malformed`
    for a missing field."""
    event = envelope.get("event_type")
    identities = {k: str(resource[k]) for k in ("mchid", "appid") if isinstance(resource.get(k), str)}
    trade_no = resource.get("out_trade_no")
    common: dict[str, Any] = {"event_id": envelope.get("id") if isinstance(envelope.get("id"), str) else None,
                              "identities": identities, "raw": dict(resource),
                              "channel_trade_no": resource.get("transaction_id") or None}
    if event != "TRANSACTION.SUCCESS" and event not in _REFUND_EVENTS:
        return Notification("unsupported", Outcome.WAITING, trade_no if isinstance(trade_no, str) else "",
                            None, **common)
    if not isinstance(trade_no, str) or not trade_no:
        raise Malformed("out_trade_no missing")
    if event == "TRANSACTION.SUCCESS":
        if resource.get("trade_state") != "SUCCESS":
            raise Malformed("TRANSACTION.SUCCESS without trade_state SUCCESS")
        return Notification("payment", Outcome.SUCCESS, trade_no, _money(resource.get("amount"), "total"),
                            paid_at=parse_time(resource.get("success_time")), **common)
    refund_no = resource.get("out_refund_no")
    if not isinstance(refund_no, str) or not refund_no:
        raise Malformed("out_refund_no missing")
    amount = resource.get("amount")
    channel_refund_no = resource.get("refund_id")
    return Notification("refund", _REFUND_EVENTS[event], trade_no, _money(amount, "total"),
                        refund_no=refund_no, refund_amount=_money(amount, "refund"),
                        channel_refund_no=channel_refund_no if isinstance(channel_refund_no, str) else None,
                        **common)


# --- bills ---------------------------------------------------------------------------------------------

def parse_bill(text: str) -> list[BillLine]:
    """The trade bill CSV as a string (see :func:`iter_bill`)."""
    return list(iter_bill(text.splitlines(), BillTotals()))


_FEE = re.compile(r"^(-?)(0|[1-9][0-9]{0,15})(?:\.([0-9]{1,5}))?$")


def parse_fee(value: str) -> int:
    """A fee in yuan with up to 5 decimals (``-0.00006``) → units of 0.00001 yuan (1/1000 fen), exactly."""
    m = _FEE.match(value or "0")
    if not m:
        raise Malformed(f"not a fee: {value!r}")
    units = int(m.group(2)) * 100_000 + int((m.group(3) or "").ljust(5, "0"))
    return -units if m.group(1) else units


def iter_bill(rows: Iterable[str], stated: BillTotals) -> Iterator[BillLine]:
    """The trade bill CSV, row by row in constant memory: a plain header, data rows whose every field
    starts with a backtick, then a summary header (总交易单数,…) and one summary row, which fills
    ``stated``. Amounts are yuan strings; columns are found by header name (the ALL, SUCCESS and REFUND
    bills have different sets). Payments are 订单金额, refunds what was asked (申请退款金额)."""
    it = (r.rstrip("\r\n") for r in rows)
    header: list[str] | None = None
    for first in it:
        if first.strip():
            header = first.lstrip("\ufeff").split(",")
            break
    if header is None:
        return
    col = {name: i for i, name in enumerate(header)}
    for needed in ("交易时间", "微信订单号", "商户订单号", "交易状态", "订单金额"):
        if needed not in col:
            raise Malformed(f"bill header lacks {needed}")
    i_time, i_trade, i_channel, i_state, i_amount = (col[n] for n in ("交易时间", "商户订单号", "微信订单号", "交易状态",
                                                                     "订单金额"))
    i_fee, i_requested, i_refunded, i_refund_no, i_refund_state = (
        col.get(n) for n in ("手续费", "申请退款金额", "退款金额", "商户退款单号", "退款状态"))
    # A day's amounts and fees repeat, and its times come in order: each distinct text is parsed once.
    cache = functools.lru_cache(maxsize=4096)
    money, fee_of, when = cache(lambda text: Money(parse_major(text))), cache(parse_fee), cache(_china_time)
    for row in it:
        if not row.strip():
            continue
        if row.startswith("总交易单数"):
            _summary(row.split(","), next(it, ""), stated)
            break
        if row.startswith("`"):
            # Every field starts with a backtick: ",`" is the separator, so commas in free text survive.
            cells = row[1:].split(",`")
        else:
            cells = row.split(",")
        extra = len(cells) - len(header)
        if extra > 0 and "商品名称" in col:  # a product name with commas: glue it back together
            k = col["商品名称"]
            cells = [*cells[:k], ",".join(cells[k:k + extra + 1]), *cells[k + extra + 1:]]
        if len(cells) != len(header):
            raise Malformed("bill row does not match the header")
        try:
            at = when(cells[i_time])
            fee_text = cells[i_fee] if i_fee is not None else ""
            fee = fee_of(fee_text) if fee_text else 0
            if cells[i_state] == "REFUND":
                requested = (cells[i_requested] if i_requested is not None else "") or \
                    (cells[i_refunded] if i_refunded is not None else "")
                yield BillLine("refund", cells[i_trade], cells[i_channel], money(requested),
                               refund_no=cells[i_refund_no] if i_refund_no is not None else "", at=at, fee=fee,
                               status=(cells[i_refund_state] if i_refund_state is not None else "") or "SUCCESS")
            else:
                yield BillLine("payment", cells[i_trade], cells[i_channel], money(cells[i_amount]),
                               at=at, fee=fee)
        except (ValueError, MoneyError) as exc:
            raise Malformed(f"bad bill row: {exc}") from exc


def _china_time(value: str) -> datetime:
    """``2021-01-28 17:07:11`` (China time); ``datetime.strptime`` costs seconds on a million rows."""
    if len(value) != 19 or value[10] != " ":
        raise ValueError(f"not a bill time: {value!r}")
    return datetime.fromisoformat(value + "+08:00")  # China time; .replace(tzinfo=) costs a second per million


def _summary(names: list[str], row: str, stated: BillTotals) -> None:
    cells = [c[1:] if c.startswith("`") else c for c in row.rstrip("\r\n").split(",")]
    if len(cells) != len(names):
        raise Malformed("bill summary row does not match its header")
    values = dict(zip(names, cells, strict=True))
    try:
        # The summary counts payments and refunds together (总交易单数): refund_count -1 says so.
        stated.pay_count, stated.refund_count = int(values["总交易单数"]), -1
        stated.pay_amount = parse_major(values.get("订单总金额") or values.get("应结订单总金额") or "0")
        stated.refund_amount = parse_major(values.get("申请退款总金额") or values.get("退款总金额") or "0")
        stated.fee = parse_fee(values.get("手续费总金额") or "0")
    except (KeyError, ValueError, MoneyError) as exc:
        raise Malformed(f"bad bill summary: {exc}") from exc
    stated.stated = True


def read_bill(path: Path, stated: BillTotals) -> Iterator[BillLine]:
    """A downloaded bill file (gzip or plain UTF-8, a BOM tolerated), parsed line by line."""
    raw = cast(IO[bytes], gzip.open(path, "rb") if is_gzip(path) else path.open("rb"))
    with raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
        try:
            yield from iter_bill(text, stated)
        except UnicodeDecodeError as exc:
            raise Malformed(f"bill is not UTF-8: {exc}") from exc


BILL_NOT_READY_CODES = frozenset({"STATEMENT_CREATING", "BILL_CREATING"})  # [U] on the exact code


def bill_query(day: date) -> str:
    return f"bill_date={day.isoformat()}&bill_type=ALL&tar_type=GZIP"
