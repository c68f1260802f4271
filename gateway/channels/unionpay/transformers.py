"""Pure conversions between our types and ACP 5.1.0 fields: request bodies out, answers and notifies
in. No I/O; the client signs and sends.

Our ids (``att_…``, ``re_…``: a prefix, ``_`` and 24 base32 characters, :mod:`gateway.domain.ids`) do
not fit ``orderId`` (letters and digits only), so the ``_`` is dropped on the way out and put back on
the way in. ``txnTime`` is read from the id itself -- its first 10 characters are its creation time in
milliseconds -- so an attempt's or a refund's ``orderId`` + ``txnTime`` pair (what UnionPay keys a
transaction on) is known from the id alone, the same at create, query and refund time.
"""
from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.channels.base import (
    FEE_UNITS_PER_FEN,
    REFUSED,
    SIGNATURE_REJECTED,
    BillLine,
    CreateRequest,
    CreateResult,
    CredentialCheck,
    Notification,
    RefundRequest,
    RefundResult,
    TradeState,
    VerificationError,
)
from gateway.channels.unionpay import protocol as wire
from gateway.domain.money import Money
from gateway.domain.outcomes import Outcome
from gateway.domain.pay import PayAction

# pay method → (txnSubType, bizType, channelType, front?)
PAY_METHODS: dict[str, tuple[str, str, str, bool]] = {
    "unionpay_qr": (wire.SUB_QR, wire.BIZ_QR, wire.CHANNEL_MOBILE, False),
    "unionpay_wap": (wire.SUB_FRONT, wire.BIZ_GATEWAY, wire.CHANNEL_MOBILE, True),
    "unionpay_page": (wire.SUB_FRONT, wire.BIZ_GATEWAY, wire.CHANNEL_PC, True),
}
_OUR_ID = re.compile(r"^([a-z]{1,12})_([0-9a-z]{24})$")
_ORDER_ID = re.compile(r"^([a-z]{1,12})([0-9a-z]{24})$")
_B32 = "0123456789abcdefghjkmnpqrstvwxyz"


class Malformed(ValueError):
    pass


# ------------------------------------------------------------------ ids and times

def order_id(our_id: str) -> str:
    m = _OUR_ID.match(our_id)
    if m:
        return m.group(1) + m.group(2)
    if wire.valid_order_id(our_id):
        return our_id
    raise ValueError(f"{our_id!r} cannot be an ACP orderId")


def our_id(order: str) -> str:
    m = _ORDER_ID.match(order)
    return f"{m.group(1)}_{m.group(2)}" if m else order


def id_time(our: str, fallback: datetime | None = None) -> datetime:
    """The creation time an id of :func:`gateway.domain.ids.new_id` carries (whole seconds, UTC)."""
    m = _OUR_ID.match(our)
    if m:
        ms = 0
        for ch in m.group(2)[:10]:
            ms = ms * 32 + _B32.index(ch)
        return datetime.fromtimestamp(ms // 1000, UTC)
    if fallback is None:
        raise ValueError(f"{our!r} carries no time; pass its creation time")
    return fallback.replace(microsecond=0)


def txn_time(our: str, fallback: datetime | None = None) -> str:
    return wire.beijing(id_time(our, fallback))


def money(value: str | None, currency: str | None = wire.CURRENCY_CNY) -> Money | None:
    if currency not in (None, "", wire.CURRENCY_CNY):
        raise Malformed(f"currency {currency} is not CNY")
    if value is None or not value.isdigit():
        return None
    return Money(int(value), "CNY")


# ------------------------------------------------------------------ requests

def common(mer_id: str) -> dict[str, str]:
    return {"version": wire.VERSION, "encoding": wire.ENCODING, "accessType": wire.ACCESS_DIRECT, "merId": mer_id}


def create_fields(req: CreateRequest, mer_id: str) -> dict[str, str]:
    sub, biz, channel, front = PAY_METHODS[req.pay_method]
    if req.amount.currency != "CNY":
        raise ValueError("UnionPay online payments are in CNY")
    fields = common(mer_id) | {
        "txnType": wire.CONSUME, "txnSubType": sub, "bizType": biz, "channelType": channel,
        "orderId": order_id(req.trade_no), "txnTime": txn_time(req.trade_no), "txnAmt": str(req.amount.minor),
        "currencyCode": wire.CURRENCY_CNY, "backUrl": req.notify_url, "payTimeout": wire.beijing(req.expires_at),
    }
    if front and req.return_url:
        fields["frontUrl"] = req.return_url  # a hint only: the back notify or a query settles
    return fields


def query_fields(mer_id: str, our: str, created_at: datetime | None = None) -> dict[str, str]:
    """Query the transaction ``our`` (an attempt or a refund) by its own orderId + txnTime."""
    return common(mer_id) | {"txnType": wire.QUERY, "txnSubType": "00", "bizType": wire.BIZ_NONE,
                             "orderId": order_id(our), "txnTime": txn_time(our, created_at)}


def is_cancel(req: RefundRequest, now: datetime) -> bool:
    """Consume undo (31) is for the full amount on the consume's own day (before the 23:00 cut-over);
    anything else is a refund (04)."""
    sent = id_time(req.trade_no, now).astimezone(wire.BEIJING)
    here = now.astimezone(wire.BEIJING)
    return req.amount == req.total and sent.date() == here.date() and here.hour < 23


def refund_fields(req: RefundRequest, mer_id: str, orig_qry_id: str, *, cancel: bool, biz: str) -> dict[str, str]:
    # reqReserved carries our attempt id: the refund's notify names only the consume's queryId.
    return common(mer_id) | {
        "txnType": wire.CONSUME_UNDO if cancel else wire.REFUND, "txnSubType": "00", "bizType": biz,
        "channelType": wire.CHANNEL_PC, "orderId": order_id(req.refund_no), "txnTime": txn_time(req.refund_no),
        "txnAmt": str(req.amount.minor), "currencyCode": wire.CURRENCY_CNY, "origQryId": orig_qry_id,
        "backUrl": req.notify_url or "", "reqReserved": req.trade_no,
    }


def bill_fields(mer_id: str, day: date, now: datetime) -> dict[str, str]:
    return common(mer_id) | {"txnType": wire.FILE_TRANSFER, "txnSubType": "01", "bizType": wire.BIZ_NONE,
                             "txnTime": wire.beijing(now), "settleDate": f"{day:%m%d}",
                             "fileType": wire.FILE_TYPE_ZM}


# ------------------------------------------------------------------ answers

def _error(a: Mapping[str, str]) -> tuple[str | None, str | None]:
    return a.get("respCode"), a.get("respMsg")


SIGNATURE_REFUSED = "11"  # 验证签名失败: the signing key or its certId is not the one UnionPay has on file


def credential_check(a: Mapping[str, str]) -> CredentialCheck:
    """A verified answer to the query of a transaction that cannot exist: 34 (查无此交易) means UnionPay
    took our signature and signed its answer with a certificate that chains to our roots."""
    code, msg = _error(a)
    if code in (wire.NOT_FOUND, "00"):
        return CredentialCheck.passed(code)
    return CredentialCheck.failed(SIGNATURE_REJECTED if code == SIGNATURE_REFUSED else REFUSED,
                                  f"{code}: {msg or ''}"[:160])


def create_result(a: Mapping[str, str]) -> CreateResult:
    """The 申码 answer: 00 with ``qrCode`` is the code to show; 03/04/05 (or 00 without a code) is unknown."""
    code, msg = _error(a)
    if code == "00" and a.get("qrCode"):
        return CreateResult(Outcome.SUCCESS, PayAction.show_qr(a["qrCode"]))
    if code in wire.PROCESSING_CODES or code == "00":
        return CreateResult(Outcome.UNKNOWN, error_code=code, error_message=msg)
    return CreateResult(Outcome.CHANNEL_ERROR, error_code=code, error_message=msg)


def _paid_at(a: Mapping[str, str], now: datetime) -> datetime:
    """``traceTime`` is MMddHHmmss (Beijing): the year is the latest that does not put it in the future."""
    here = now.astimezone(wire.BEIJING)
    trace = a.get("traceTime") or ""
    for year in (here.year, here.year - 1):
        at = wire.parse_beijing(f"{year}{trace}")
        if at is not None and at <= here + timedelta(minutes=5):
            return at
    return now


def trade_state(a: Mapping[str, str], now: datetime) -> TradeState:
    """A consume's query answer. Not found (34) and a failed origRespCode are intermediate for a front
    consume (the shopper may still pay until ``payTimeout``): WAITING, not FAIL."""
    code, msg = _error(a)
    if code == wire.NOT_FOUND:
        return TradeState(Outcome.WAITING, error_code=code, error_message=msg)
    if code != "00":
        return TradeState(Outcome.UNKNOWN, error_code=code, error_message=msg)
    orig = a.get("origRespCode")
    if orig in wire.SUCCESS_CODES:
        try:
            amount = money(a.get("txnAmt"), a.get("currencyCode"))
        except Malformed as exc:
            return TradeState(Outcome.UNKNOWN, error_code="malformed", error_message=str(exc))
        if amount is None or not a.get("queryId"):
            return TradeState(Outcome.UNKNOWN, error_code="malformed", error_message="paid without amount/queryId")
        return TradeState(Outcome.SUCCESS, a["queryId"], amount, _paid_at(a, now))
    return TradeState(Outcome.WAITING, a.get("queryId"), error_code=orig, error_message=a.get("origRespMsg"))


def refund_result(a: Mapping[str, str]) -> RefundResult:
    """The synchronous answer to 04/31: 00 = accepted, the outcome comes by notify or query."""
    code, msg = _error(a)
    if code in wire.SUCCESS_CODES:
        return RefundResult(Outcome.WAITING, channel_refund_no=a.get("queryId"), error_code=code, error_message=msg)
    if code in wire.PROCESSING_CODES or code == wire.DUPLICATE:
        return RefundResult(Outcome.UNKNOWN, error_code=code, error_message=msg)  # query decides
    return RefundResult(Outcome.CHANNEL_ERROR, error_code=code, error_message=msg)


def refund_query_result(a: Mapping[str, str]) -> RefundResult:
    code, msg = _error(a)
    if code == wire.NOT_FOUND:
        return RefundResult(Outcome.UNKNOWN, not_found=True, error_code=code, error_message=msg)
    if code != "00":
        return RefundResult(Outcome.UNKNOWN, error_code=code, error_message=msg)
    orig, orig_msg = a.get("origRespCode"), a.get("origRespMsg")
    try:
        amount = money(a.get("txnAmt"), a.get("currencyCode"))
    except Malformed as exc:
        return RefundResult(Outcome.UNKNOWN, error_code="malformed", error_message=str(exc))
    if orig in wire.SUCCESS_CODES:
        return RefundResult(Outcome.SUCCESS, channel_refund_no=a.get("queryId"), amount=amount)
    if orig in wire.PROCESSING_CODES:
        return RefundResult(Outcome.WAITING, channel_refund_no=a.get("queryId"), error_code=orig, error_message=orig_msg)
    return RefundResult(Outcome.FAIL, channel_refund_no=a.get("queryId"), error_code=orig, error_message=orig_msg)


def notification(f: Mapping[str, str], now: datetime) -> Notification:
    """A verified backUrl notify. Consume notifies come on success; refund and undo notifies report their
    own result and name our attempt in ``reqReserved``."""
    txn, code = f.get("txnType"), f.get("respCode")
    identities = {"mer_id": f.get("merId", "")}
    try:
        amount = money(f.get("txnAmt"), f.get("currencyCode"))
    except Malformed as exc:
        raise VerificationError("malformed", str(exc)) from None
    order = f.get("orderId") or ""
    if txn == wire.CONSUME:
        outcome = Outcome.SUCCESS if code in wire.SUCCESS_CODES else Outcome.WAITING
        if outcome is Outcome.SUCCESS and (amount is None or not f.get("queryId")):
            raise VerificationError("malformed", "consume notify without txnAmt/queryId")
        return Notification("payment", outcome, our_id(order), amount, channel_trade_no=f.get("queryId"),
                            paid_at=_paid_at(f, now), event_id=f.get("queryId"), identities=identities, raw=dict(f))
    if txn in (wire.REFUND, wire.CONSUME_UNDO):
        trade = f.get("reqReserved") or ""
        if not trade:
            raise VerificationError("malformed", "refund notify without our trade in reqReserved")
        outcome = (Outcome.SUCCESS if code in wire.SUCCESS_CODES else
                   Outcome.WAITING if code in wire.PROCESSING_CODES else Outcome.FAIL)
        return Notification("refund", outcome, trade, None, refund_no=our_id(order), refund_amount=amount,
                            channel_refund_no=f.get("queryId"), event_id=f.get("queryId"), identities=identities,
                            raw=dict(f))
    return Notification("unsupported", Outcome.UNKNOWN, our_id(order), None, identities=identities, raw=dict(f))


# ------------------------------------------------------------------ the reconciliation file

def decode_file_content(content: str) -> bytes:
    """``fileContent``: base64 of a zlib-deflated zip (``AcpService.deCodeFileContent``)."""
    import base64

    try:
        return zlib.decompress(base64.b64decode(content, validate=False))
    except (ValueError, zlib.error) as exc:
        raise Malformed(f"fileContent: {exc}") from None


def split_record(line: bytes, widths: tuple[int, ...]) -> list[str]:
    """One fixed-width record: fields of ``widths`` bytes separated by one space, each GBK, stripped."""
    out, pos = [], 0
    for width in widths:
        if pos >= len(line):
            break
        out.append(line[pos:pos + width].decode("gbk", errors="replace").strip())
        pos += width + 1
    return out


def _zm_names(archive: zipfile.ZipFile) -> list[str]:
    # The ZME file lists errors and adjustments, not transactions.
    return [name for name in archive.namelist() if "ZM_" in name]


def _records(archive: zipfile.ZipFile) -> Iterator[list[str]]:
    for name in _zm_names(archive):
        with archive.open(name) as fh:
            for raw in fh:
                line = raw.rstrip(b"\r\n")
                if line.strip():
                    yield split_record(line, wire.ZM_WIDTHS)


def zm_records(zip_bytes: bytes) -> list[list[str]]:
    """Every record of the ``ZM_`` files in the zip."""
    try:
        return list(_records(zipfile.ZipFile(io.BytesIO(zip_bytes))))
    except zipfile.BadZipFile as exc:
        raise Malformed(f"not a zip: {exc}") from None


def _fee(value: str) -> int:
    """商户手续费 in fen, as 1/1000 fen; a leading ``C`` (credit) gives it back [U: sign convention]."""
    sign = -1 if value[:1] == "C" else 1
    digits = value.lstrip("CD")
    return sign * int(digits) * FEE_UNITS_PER_FEN if digits.isdigit() else 0


def _line(r: list[str], day: date) -> BillLine | None:
    if len(r) <= wire.ZM_ORIG_QUERY_ID:
        raise Malformed("short ZM record")
    txn, amount = r[wire.ZM_TXN_TYPE], r[wire.ZM_AMOUNT]
    if not amount.isdigit():
        raise Malformed(f"ZM amount {amount!r}")
    order = our_id(r[wire.ZM_ORDER_ID])
    at = wire.parse_beijing(f"{day.year}{r[wire.ZM_TRACE_TIME]}")
    fee = _fee(r[wire.ZM_FEE])
    if txn == wire.CONSUME:
        return BillLine("payment", order, r[wire.ZM_QUERY_ID], Money(int(amount)), at=at, fee=fee)
    if txn in (wire.REFUND, wire.CONSUME_UNDO):
        # A refund's line names the refund's own orderId; its trade is the consume of origQryId.
        return BillLine("refund", "", r[wire.ZM_ORIG_QUERY_ID], Money(int(amount)), refund_no=order, at=at, fee=fee)
    return None  # pre-authorisations and other transaction types are not ours


def bill_lines(records: Iterable[list[str]], day: date) -> list[BillLine]:
    """Consumes become payments, refunds and undos refunds (naming the consume found in the same file)."""
    lines = [line for r in records if (line := _line(r, day)) is not None]
    by_query = {line.channel_trade_no: line.trade_no for line in lines if line.kind == "payment"}
    return [line if line.kind == "payment" else replace(line, trade_no=by_query.get(line.channel_trade_no, ""))
            for line in lines]


def read_bill(path: Path) -> Iterator[BillLine]:
    """A downloaded file (the zip), line by line; ``Malformed`` (a ValueError) if it is not one. The file
    has no summary rows. Refund lines name their consume when it is in the same file (a first pass keeps
    consumes' queryId → orderId); otherwise the refund number alone identifies them."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise Malformed(f"not a zip: {exc}") from None
    with archive:
        day = _file_day(archive)
        consumes = {r[wire.ZM_QUERY_ID]: our_id(r[wire.ZM_ORDER_ID]) for r in _records(archive)
                    if len(r) > wire.ZM_TXN_TYPE and r[wire.ZM_TXN_TYPE] == wire.CONSUME}
        for r in _records(archive):
            line = _line(r, day)
            if line is not None:
                yield line if line.kind == "payment" else \
                    replace(line, trade_no=consumes.get(line.channel_trade_no, ""))


def _file_day(archive: zipfile.ZipFile) -> date:
    """The settlement day in a ZM file's name (``INN<yyMMdd><nn>ZM_<merId>``)."""
    for name in _zm_names(archive):
        digits = name.split("INN", 1)[-1][:6]
        if digits.isdigit():
            return date(2000 + int(digits[:2]), int(digits[2:4]), int(digits[4:6]))
    return datetime.now(wire.BEIJING).date()


def file_answer(a: Mapping[str, str]) -> tuple[bytes | None, str | None]:
    """(the zip, None), (None, None) when there is no file for the day, or (None, error code)."""
    code = a.get("respCode")
    if code == wire.NO_FILE:
        return None, None
    if code != "00":
        return None, code or "error"
    content = a.get("fileContent")
    if not content:
        return None, None
    return decode_file_content(content), None


def as_strings(data: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in data.items()}
