"""What the simulated UnionPay does with a verified request: the front consume (cashier), the back
transactions (QR 申码, refund 04, consume undo 31), the query, the reconciliation file, paying, and the
signed backUrl notifies. Answers are field dicts; :mod:`.app` signs and writes them.

Rules kept: orderId unique per merchant per day (12), an undo only on the consume's settlement day and
for the full amount, refunds up to what is left within 11 months, payTimeout ends a consume, a refund is
accepted first and finished later (notify + query), query of an unknown transaction answers 34.
"""
from __future__ import annotations

import asyncio
import base64
import io
import os
import zipfile
import zlib
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from gateway.channels.unionpay import protocol as wire
from gateway.channels.unionpay import signing
from gateway.crypto import rsa
from gateway.sandbox.kit import Delivery, Message, Notifier, Schedule
from gateway.sandbox.unionpay.state import FAILED, OPEN, PAID, PROCESSING, SUCCESS, SandboxState, Txn

# UnionPay resends a notify not answered with HTTP 200 within ~10 s, about 5 times over minutes [U].
SCHEDULE = Schedule(retry_delays=(60.0, 120.0, 240.0, 300.0), post_timeout=10.0)
REFUND_SECONDS = 5.0     # a refund / undo finishes this long after it is accepted (× time scale)
REFUND_WINDOW = timedelta(days=335)
PUBLISH_HOUR = 9         # Beijing: yesterday's reconciliation file is there from this hour [U]  # "within 11 months"
MESSAGES = {"00": "成功[0000000]", "01": "交易失败", "11": "验证签名失败", "12": "重复交易", "13": "报文交易要素缺失",
            "10": "报文格式错误", "31": "商户状态不正确", "34": "查无此交易", "35": "原交易不存在或状态不正确",
            "36": "与原交易信息不符", "39": "交易不在受理时间范围内", "45": "已被成功退货或已被成功撤销", "98": "文件不存在"}
ANSWER_ECHO = ("version", "encoding", "bizType", "txnTime", "txnType", "txnSubType", "accessType", "merId", "orderId",
               "reqReserved")


class Refused(Exception):
    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(code)
        self.code, self.message = code, message or MESSAGES.get(code, "交易失败")


def _acked(status: int, answer: bytes) -> bool:
    return status == 200  # the body is not read


class Sandbox:
    def __init__(self, state: SandboxState, notifier: Notifier, public_url: str, time_scale: float) -> None:
        self.state, self.notifier, self.public_url, self.time_scale = state, notifier, public_url, time_scale

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    def beijing_now(self) -> datetime:
        return self.now().astimezone(wire.BEIJING)

    # ------------------------------------------------------------ messages

    def verify(self, fields: Mapping[str, str]) -> None:
        """Our side of the signature rule: certId names the merchant's certificate, which checks it."""
        if fields.get("version") != wire.VERSION or fields.get("encoding", wire.ENCODING).upper() != wire.ENCODING:
            raise Refused("10", "version/encoding")
        if fields.get("signMethod") != wire.SIGN_METHOD_RSA:
            raise Refused("10", "signMethod")
        key = self.state.merchant_certs.get(fields.get("certId", ""))
        if key is None or not rsa.verify(key, signing.digest(fields), fields.get("signature", "")):
            raise Refused("11")
        if fields.get("merId") != self.state.mer_id:
            raise Refused("31")

    def sign(self, fields: Mapping[str, str], *, corrupt: bool = False) -> dict[str, str]:
        out = {k: v for k, v in fields.items() if v not in (None, "")}
        out |= {"signMethod": wire.SIGN_METHOD_RSA, "signPubKeyCert": self.state.sign_cert_pem}
        out[signing.SIGNATURE] = signing.sign(self.state.sign_key, out)
        if corrupt:
            out["respMsg"] = out.get("respMsg", "") + " "
        return out

    def reply(self, request: Mapping[str, str], code: str, message: str | None = None, **extra: str) -> dict[str, str]:
        return {**{k: request[k] for k in ANSWER_ECHO if request.get(k)}, "respCode": code,
                "respMsg": message or MESSAGES.get(code, ""), **extra}

    # ------------------------------------------------------------ consume

    def _require(self, fields: Mapping[str, str], *names: str) -> None:
        if any(not fields.get(n) for n in names):
            raise Refused("13")
        if "orderId" in names and not wire.valid_order_id(fields["orderId"]):
            raise Refused("10", "orderId")
        if "txnAmt" in names and (not fields["txnAmt"].isdigit() or int(fields["txnAmt"]) <= 0):
            raise Refused("10", "txnAmt")

    def open_consume(self, fields: Mapping[str, str]) -> Txn:
        """A consume (front form or QR 申码); the same form posted again finds the same trade."""
        self._require(fields, "orderId", "txnTime", "txnAmt", "currencyCode", "backUrl", "txnSubType", "bizType")
        found = self.state.txns.get((fields["merId"], fields["orderId"], fields["txnTime"]))
        if found is not None:
            if found.txn_type != wire.CONSUME or found.amount != int(fields["txnAmt"]):
                raise Refused("12")
            return found
        if self.state.order_used_today(fields["merId"], fields["orderId"], fields["txnTime"][:8]):
            raise Refused("12")
        if fields["currencyCode"] != wire.CURRENCY_CNY:
            raise Refused("10", "currencyCode")
        now = self.now()
        txn = Txn(mer_id=fields["merId"], order_id=fields["orderId"], txn_time=fields["txnTime"],
                  txn_type=wire.CONSUME, sub_type=fields["txnSubType"], biz_type=fields["bizType"],
                  channel_type=fields.get("channelType", ""), amount=int(fields["txnAmt"]),
                  query_id=self.state.next_query_id(now.astimezone(wire.BEIJING)), created_at=now, status=OPEN,
                  back_url=fields["backUrl"], front_url=fields.get("frontUrl", ""),
                  pay_timeout=wire.parse_beijing(fields.get("payTimeout")), req_reserved=fields.get("reqReserved", ""))
        self.state.add(txn)
        return txn

    def qr_url(self, txn: Txn) -> str:
        return f"{self.public_url}/qr/{txn.token}"

    def expired(self, txn: Txn) -> bool:
        return txn.pay_timeout is not None and self.now() > txn.pay_timeout

    def pay(self, txn: Txn) -> str | None:
        """The shopper pays; None, or why not."""
        if txn.txn_type != wire.CONSUME:
            return "not a consume"
        if txn.status != OPEN:
            return txn.status
        if self.expired(txn):
            return "expired"
        here = self.beijing_now()
        txn.status, txn.done_at = PAID, self.now()
        txn.trace_no, txn.trace_time = f"{int(txn.query_id[-6:]):06d}", f"{here:%m%d%H%M%S}"
        txn.settle_date = f"{here:%m%d}"
        self.notify(txn)
        return None

    def result_fields(self, txn: Txn) -> dict[str, str]:
        """A transaction's fields as its notify, front return and query carry them."""
        fields = {"version": wire.VERSION, "encoding": wire.ENCODING, "accessType": wire.ACCESS_DIRECT,
                  "bizType": txn.biz_type, "txnType": txn.txn_type, "txnSubType": txn.sub_type,
                  "merId": txn.mer_id, "orderId": txn.order_id, "txnTime": txn.txn_time, "txnAmt": str(txn.amount),
                  "currencyCode": wire.CURRENCY_CNY, "queryId": txn.query_id, "traceNo": txn.trace_no,
                  "traceTime": txn.trace_time, "settleAmt": str(txn.amount), "settleCurrencyCode": wire.CURRENCY_CNY,
                  "settleDate": txn.settle_date, "reqReserved": txn.req_reserved, "origQryId": txn.orig_qry_id}
        if txn.txn_type == wire.CONSUME:
            fields |= {"accNo": "6216***********0018", "payType": "0001", "exchangeRate": "0"}
        return fields

    def front_return(self, txn: Txn) -> dict[str, str]:
        return self.sign(self.result_fields(txn) | {"respCode": "00", "respMsg": MESSAGES["00"]})

    def notify(self, txn: Txn) -> Delivery | None:
        if not txn.back_url:
            return None
        code = txn.resp_code or "00"
        fields = self.sign(self.result_fields(txn) | {"respCode": code, "respMsg": MESSAGES.get(code, "交易失败")})
        body = urlencode(fields, encoding="utf-8").encode("ascii")
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}
        delivery = Delivery(trade=txn.order_id, kind="payment" if txn.txn_type == wire.CONSUME else "refund",
                            event=f"{txn.txn_type}:{code}", url=txn.back_url)
        return self.notifier.send(delivery, Message(body=body, headers=lambda: dict(headers), acked=_acked))

    # ------------------------------------------------------------ back transactions

    def back(self, fields: Mapping[str, str], refund_fault: str | None) -> dict[str, str]:
        txn_type = fields.get("txnType")
        try:
            if txn_type == wire.CONSUME and fields.get("txnSubType") == wire.SUB_QR:
                txn = self.open_consume(fields)
                return self.reply(fields, "00", qrCode=self.qr_url(txn))
            if txn_type in (wire.REFUND, wire.CONSUME_UNDO):
                txn = self.refund(fields, refund_fault)
                return self.reply(fields, "00", queryId=txn.query_id, origQryId=txn.orig_qry_id,
                                  txnAmt=str(txn.amount))
            raise Refused("32", "商户无此交易权限")
        except Refused as exc:
            return self.reply(fields, exc.code, exc.message)

    def refunded(self, consume: Txn) -> int:
        return sum(t.amount for t in self.state.txns.values()
                   if t.orig_qry_id == consume.query_id and t.status in (PROCESSING, SUCCESS))

    def refund(self, fields: Mapping[str, str], fault: str | None) -> Txn:
        self._require(fields, "orderId", "txnTime", "txnAmt", "origQryId")
        key = (fields["merId"], fields["orderId"], fields["txnTime"])
        if key in self.state.txns or self.state.order_used_today(fields["merId"], fields["orderId"],
                                                                  fields["txnTime"][:8]):
            raise Refused("12")
        consume = self.state.by_query_id(fields["origQryId"])
        if consume is None or consume.txn_type != wire.CONSUME or consume.status != PAID:
            raise Refused("35")
        amount, now = int(fields["txnAmt"]), self.now()
        left = consume.amount - self.refunded(consume)
        if fields["txnType"] == wire.CONSUME_UNDO:
            if consume.settle_date != f"{self.beijing_now():%m%d}":
                raise Refused("39", "撤销只能在原交易当日进行")
            if amount != consume.amount or left != consume.amount:
                raise Refused("36")
        elif amount > left:
            raise Refused("36", "退货金额超限")
        elif consume.done_at and now - consume.done_at > REFUND_WINDOW:
            raise Refused("39", "超过退货期限")
        here = now.astimezone(wire.BEIJING)
        txn = Txn(mer_id=fields["merId"], order_id=fields["orderId"], txn_time=fields["txnTime"],
                  txn_type=fields["txnType"], sub_type="00", biz_type=fields.get("bizType", wire.BIZ_GATEWAY),
                  channel_type=fields.get("channelType", ""), amount=amount,
                  query_id=self.state.next_query_id(here), created_at=now, status=PROCESSING,
                  back_url=fields.get("backUrl", ""), orig_qry_id=consume.query_id,
                  req_reserved=fields.get("reqReserved", ""), trace_no=f"{len(self.state.txns) % 999999:06d}",
                  trace_time=f"{here:%m%d%H%M%S}", settle_date=f"{here:%m%d}")
        self.state.add(txn)
        self.notifier.spawn(self._finish_refund(txn, fault))
        return txn

    async def _finish_refund(self, txn: Txn, fault: str | None) -> None:
        await asyncio.sleep(REFUND_SECONDS * self.time_scale)
        self.finish_refund(txn, fault)

    def finish_refund(self, txn: Txn, fault: str | None = None) -> None:
        if txn.status != PROCESSING:
            return
        txn.status, txn.resp_code, txn.done_at = (FAILED, "01", self.now()) if fault else (SUCCESS, "00", self.now())
        self.notify(txn)

    # ------------------------------------------------------------ query and file

    def query(self, fields: Mapping[str, str]) -> dict[str, str]:
        try:
            self._require(fields, "orderId", "txnTime")
        except Refused as exc:
            return self.reply(fields, exc.code, exc.message)
        txn = self.state.txns.get((fields["merId"], fields["orderId"], fields["txnTime"]))
        if txn is None:
            return self.reply(fields, wire.NOT_FOUND)
        if txn.status in (PAID, SUCCESS):
            orig = "00"
        elif txn.status == FAILED:
            orig = txn.resp_code or "01"
        elif txn.status == OPEN and self.expired(txn):
            orig = "01"  # after payTimeout the answer is final
        else:
            orig = "05"
        return self.reply(fields, "00") | self.result_fields(txn) | {
            "origRespCode": orig, "origRespMsg": MESSAGES.get(orig, "交易已受理，请稍后查询交易结果"),
            "respCode": "00", "respMsg": MESSAGES["00"]}

    def file_transfer(self, fields: Mapping[str, str]) -> dict[str, str]:
        if fields.get("txnType") != wire.FILE_TRANSFER or fields.get("fileType") != wire.FILE_TYPE_ZM \
                or not fields.get("settleDate"):
            return self.reply(fields, "13")
        day = fields["settleDate"]
        if not published(day, self.beijing_now()):
            return self.reply(fields, wire.NO_FILE)
        txns = [t for t in self.state.txns.values()
                if t.mer_id == fields["merId"] and t.settle_date == day and t.status in (PAID, SUCCESS)]
        if not txns:
            return self.reply(fields, wire.NO_FILE)
        year = self.beijing_now().year
        when = date(year, int(day[:2]), int(day[2:]))
        data = zm_zip(txns, fields["merId"], when)
        return self.reply(fields, "00", settleDate=day, fileType=wire.FILE_TYPE_ZM,
                          fileName=f"{fields['merId']}_{when:%Y%m%d}.zip",
                          fileContent=base64.b64encode(zlib.compress(data)).decode())


def published(settle_date: str, here: datetime) -> bool:
    """Files come T+1 (from 09:00 Beijing the next day [U]); ``GATEWAY_SANDBOX_BILLS_IMMEDIATE=1``
    publishes at once (tests, demos)."""
    if os.environ.get("GATEWAY_SANDBOX_BILLS_IMMEDIATE", "") in ("1", "true", "yes", "on"):
        return True
    today, yesterday = f"{here:%m%d}", f"{here - timedelta(days=1):%m%d}"
    return settle_date != today and not (settle_date == yesterday and here.hour < PUBLISH_HOUR)


def _field(value: str, width: int, *, number: bool = False) -> bytes:
    raw = value.encode("gbk")[:width]
    return raw.rjust(width, b"0") if number else raw.ljust(width, b" ")


def zm_record(txn: Txn) -> bytes:
    values: dict[int, tuple[str, bool]] = {
        0: ("S22" if txn.txn_type == wire.CONSUME else "S30", False), 3: (txn.trace_no, True),
        4: (txn.trace_time, False), 5: ("6216***********0018" if txn.txn_type == wire.CONSUME else "", False),
        6: (str(txn.amount), True), wire.ZM_QUERY_ID: (txn.query_id, False), wire.ZM_ORDER_ID: (txn.order_id, False),
        15: ("0", True), 16: (str(txn.amount), True), wire.ZM_TXN_TYPE: (txn.txn_type, False),
        20: (txn.sub_type, False), 21: (txn.biz_type, False), wire.ZM_ORIG_QUERY_ID: (txn.orig_qry_id, False),
        wire.ZM_MER_ID: (txn.mer_id, False),
    }
    parts = []
    for i, width in enumerate(wire.ZM_WIDTHS):
        value, number = values.get(i, ("", False))
        parts.append(_field(value, width, number=number))
    return b" ".join(parts)


def zm_zip(txns: list[Txn], mer_id: str, day: date) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"INN{day:%y%m%d}01ZM_{mer_id}", b"\r\n".join(zm_record(t) for t in txns) + b"\r\n")
        archive.writestr(f"INN{day:%y%m%d}01ZME_{mer_id}", b"")
    return buf.getvalue()
