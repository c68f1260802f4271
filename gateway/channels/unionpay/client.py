"""UnionPayChannel: signs ACP 5.1.0 requests, sends them, verifies every answer, maps it to outcomes.

Front consumes (WAP, PC gateway) make no call: they are a signed form the shopper's browser posts to
``frontTransReq.do``. The QR 申码, refunds and undos go to ``backTransReq.do``, queries to
``queryTrans.do``, the reconciliation file to the file-transfer host. An answer that is not signed by a
validated UnionPay certificate is not believed: ``UNKNOWN``.
"""
from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qsl, urlencode

import aiohttp

from gateway.channels.base import (
    ANSWER_UNVERIFIABLE,
    UNREACHABLE,
    BillFile,
    BillLine,
    BillUnavailable,
    CloseResult,
    CreateRequest,
    CreateResult,
    CredentialCheck,
    Notification,
    RawCallback,
    RefundRequest,
    RefundResult,
    TradeRef,
    TradeState,
    VerificationError,
    probe_trade_no,
)
from gateway.channels.billfile import Sink
from gateway.channels.unionpay import protocol as wire
from gateway.channels.unionpay import signing
from gateway.channels.unionpay import transformers as tx
from gateway.crypto import rsa
from gateway.domain.outcomes import Outcome
from gateway.domain.pay import PayAction

log = logging.getLogger(__name__)

FORM_TYPE = "application/x-www-form-urlencoded;charset=UTF-8"
# The reconciliation file comes from its own host; a sandbox serves it under the gateway's base.
FILE_HOSTS = {"https://gateway.95516.com": "https://filedownload.95516.com",
              "https://gateway.test.95516.com": "https://filedownload.test.95516.com"}
PUBLISHED_HOUR = 9  # Beijing: yesterday's file is asked for after this [U]


@dataclass(frozen=True, slots=True)
class Answer:
    fields: dict[str, str] | None   # verified; None ⇒ UNKNOWN
    error_code: str | None = None
    error_message: str | None = None
    unverified: bool = False        # an answer came, but not signed by a certificate we trust


class UnionPayChannel:
    name: ClassVar[str] = "unionpay"

    def __init__(self, *, mer_id: str, sign_key: rsa.PrivateKey, cert_id: str, verifier: signing.CertVerifier,
                 http: aiohttp.ClientSession, base_url: str, timeout: float = 15.0,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.mer_id = mer_id
        self._key = sign_key
        self._cert_id = cert_id
        self._verifier = verifier
        self._http = http
        self._base = base_url.rstrip("/")
        self._file_base = FILE_HOSTS.get(self._base, self._base + "/file")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock or (lambda: datetime.now(UTC))

    @property
    def identities(self) -> Mapping[str, str]:
        return {"mer_id": self.mer_id}

    # ------------------------------------------------------------ transport

    def _signed(self, fields: Mapping[str, str]) -> dict[str, str]:
        return signing.signed(self._key, self._cert_id, fields)

    async def _post(self, url: str, fields: Mapping[str, str]) -> Answer:
        body = urlencode(self._signed(fields)).encode()
        try:
            async with self._http.post(url, data=body, headers={"Content-Type": FORM_TYPE},
                                       timeout=self._timeout) as resp:
                raw, status = await resp.read(), resp.status
        except TimeoutError:
            return Answer(None, "TIMEOUT", f"{url} timed out")
        except aiohttp.ClientError as exc:
            return Answer(None, "NETWORK", repr(exc))
        if status != 200:
            return Answer(None, f"HTTP_{status}", f"{url} answered HTTP {status}")
        try:
            answer = wire.parse_answer(raw.decode("utf-8").strip())
        except (UnicodeDecodeError, ValueError) as exc:
            return Answer(None, "MALFORMED", str(exc))
        try:
            self._verifier.verify(answer)
        except VerificationError as exc:
            log.warning("unionpay answer from %s not trusted: %s (%s)", url, exc.code, answer.get("respCode"))
            return Answer(None, exc.code.upper(), f"answer not verified: {exc}", unverified=True)
        if answer.get("merId") not in (None, self.mer_id):
            return Answer(None, "WRONG_ACCOUNT", "answer is for another merId")
        return Answer(answer)

    # ------------------------------------------------------------ Channel

    async def create(self, req: CreateRequest) -> CreateResult:
        try:
            fields = tx.create_fields(req, self.mer_id)
        except ValueError as exc:
            return CreateResult(Outcome.CHANNEL_ERROR, error_code="PARAM_ERROR", error_message=str(exc))
        if tx.PAY_METHODS[req.pay_method][3]:
            # The shopper's browser posts this signed form to UnionPay's cashier.
            return CreateResult(Outcome.SUCCESS, PayAction.form_post(self._base + wire.FRONT_PATH, self._signed(fields)))
        answer = await self._post(self._base + wire.BACK_PATH, fields)
        if answer.fields is None:
            return CreateResult(Outcome.UNKNOWN, error_code=answer.error_code, error_message=answer.error_message)
        return tx.create_result(answer.fields)

    async def _query(self, our: str, created_at: datetime | None) -> Answer:
        fields = tx.query_fields(self.mer_id, our, created_at)
        answer = await self._post(self._base + wire.QUERY_PATH, fields)
        if answer.fields is not None and answer.fields.get("orderId") not in (None, fields["orderId"]):
            return Answer(None, "WRONG_ORDER", "the answer is about another orderId")
        return answer

    async def query(self, trade: TradeRef | str) -> TradeState:
        ref = TradeRef.of(trade)
        answer = await self._query(ref.trade_no, ref.created_at)
        if answer.fields is None:
            return TradeState(Outcome.UNKNOWN, error_code=answer.error_code, error_message=answer.error_message)
        return tx.trade_state(answer.fields, self._clock())

    async def check(self) -> CredentialCheck:
        """Query a transaction that cannot exist: UnionPay's signed ``34`` (查无此交易) proves the signing
        key and its certId (it took our signature) and the root and middle certificates (its answer's
        certificate chains to them)."""
        answer = await self._query(probe_trade_no(), None)
        if answer.fields is not None:
            return tx.credential_check(answer.fields)
        if answer.unverified:
            return CredentialCheck.failed(
                ANSWER_UNVERIFIABLE,
                f"UnionPay's answer does not verify with the configured root/middle certificates ({answer.error_code})")
        return CredentialCheck.failed(UNREACHABLE, f"{answer.error_code}: {answer.error_message}"[:160])

    async def close(self, trade: TradeRef | str) -> CloseResult:
        """ACP has no way to close an unpaid consume: it ends at its ``payTimeout``. So close answers from
        a query -- paid: FAIL (query it); not paid: SUCCESS. A payment made after that, before the
        timeout, arrives as a late payment (refunded by the gateway's policy)."""
        state = await self.query(trade)
        if state.outcome is Outcome.SUCCESS:
            return CloseResult(Outcome.FAIL, error_code="PAID", error_message="the consume is paid")
        if state.outcome is Outcome.WAITING:
            return CloseResult(Outcome.SUCCESS)
        return CloseResult(Outcome.UNKNOWN, error_code=state.error_code, error_message=state.error_message)

    async def refund(self, req: RefundRequest) -> RefundResult:
        orig = req.channel_trade_no
        if not orig:  # the consume's queryId is what a refund names: ask for it
            state = await self.query(req.trade_no)
            if state.outcome is not Outcome.SUCCESS or not state.channel_trade_no:
                return RefundResult(Outcome.UNKNOWN, error_code="NO_QUERY_ID",
                                    error_message="the consume's queryId is not known yet")
            orig = state.channel_trade_no
        # bizType 000201 for every refund: a RefundRequest does not say the pay method (QR demos send 000000 [U]).
        try:
            fields = tx.refund_fields(req, self.mer_id, orig, cancel=tx.is_cancel(req, self._clock()),
                                      biz=wire.BIZ_GATEWAY)
        except ValueError as exc:
            return RefundResult(Outcome.CHANNEL_ERROR, error_code="PARAM_ERROR", error_message=str(exc))
        answer = await self._post(self._base + wire.BACK_PATH, fields)
        if answer.fields is None:
            return RefundResult(Outcome.UNKNOWN, error_code=answer.error_code, error_message=answer.error_message)
        return tx.refund_result(answer.fields)

    async def query_refund(self, req: RefundRequest) -> RefundResult:
        answer = await self._query(req.refund_no, None)
        if answer.fields is None:
            return RefundResult(Outcome.UNKNOWN, error_code=answer.error_code, error_message=answer.error_message)
        return tx.refund_query_result(answer.fields)

    async def bill(self, day: date) -> list[BillLine]:
        """The ZM reconciliation file of settlement day ``day``; ``[]`` when there is none."""
        with tempfile.TemporaryDirectory() as tmp:
            found = await self.bill_download(day, Path(tmp) / "bill.zip")
            if found is None:
                return []
            try:
                return list(tx.read_bill(found.path))
            except ValueError as exc:
                raise BillUnavailable("MALFORMED", str(exc)) from exc

    async def bill_download(self, day: date, dest: Path) -> BillFile | None:
        """fileType 00 for ``settleDate`` MMdd: the zip arrives inside the signed answer (base64 of its
        deflated bytes), so the answer's signature vouches for it; it is written to ``dest``. No file
        (98) for a day not over, or yesterday before 09:00 Beijing, is "not ready" [U: publication time]."""
        now = self._clock()
        answer = await self._post(self._file_base + wire.FILE_PATH, tx.bill_fields(self.mer_id, day, now))
        if answer.fields is None:
            raise BillUnavailable(answer.error_code or "UNKNOWN", answer.error_message or "")
        try:
            data, error = tx.file_answer(answer.fields)
        except tx.Malformed as exc:
            raise BillUnavailable("MALFORMED", str(exc)) from exc
        if error:
            raise BillUnavailable(error, answer.fields.get("respMsg") or "")
        if data is None:
            here = now.astimezone(wire.BEIJING)
            if day >= here.date() or (day == here.date() - timedelta(days=1) and here.hour < PUBLISHED_HOUR):
                raise BillUnavailable(wire.NO_FILE, "the day's file is not published yet", not_ready=True)
            return None
        sink = Sink(dest)
        try:
            sink.write(data)
        except BaseException:
            sink.abort()
            raise
        return sink.done()

    # ------------------------------------------------------------ callbacks

    def verify_params(self, params: Mapping[str, str]) -> None:
        """A notify's or a front return's fields: signed by a validated UnionPay certificate, for us."""
        self._verifier.verify(params)
        if params.get("merId") != self.mer_id:
            raise VerificationError("wrong_account", "notify is for another merId")

    async def parse_callback(self, raw: RawCallback) -> Notification:
        fields = decode_form(raw.body)
        self.verify_params(fields)
        return tx.notification(fields, self._clock())

    @staticmethod
    def acknowledge(ok: bool) -> tuple[int, str, bytes]:
        # UnionPay stops resending on HTTP 200 (the body is not read; the demos print "ok").
        return (200, "text/plain", b"ok") if ok else (400, "text/plain", b"fail")


def decode_form(body: bytes) -> dict[str, str]:
    """The raw notify body (never merged with a query string: extra parameters break verification)."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True, errors="strict")
    except (UnicodeError, ValueError) as exc:
        raise VerificationError("malformed", f"undecodable form: {exc}") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key in fields:
            raise VerificationError("malformed", f"duplicate field {key}")
        fields[key] = value
    return fields
