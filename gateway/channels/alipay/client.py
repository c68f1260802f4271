"""AlipayChannel: signs, sends to gateway.do, verifies every answer, maps it to outcomes.

Transport as the official SDK does it: common parameters (and ``sign``) in the URL query,
``biz_content`` in an ``application/x-www-form-urlencoded;charset=utf-8`` body. Browser methods
(wap/page pay) make no call: they are a signed GET URL the shopper's browser is sent to.
"""
from __future__ import annotations

import asyncio
import logging
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode

import aiohttp

from gateway.channels.alipay import apppay, barcode, certmode, signing
from gateway.channels.alipay import transformers as tx
from gateway.channels.base import (
    ANSWER_UNVERIFIABLE,
    SIGNATURE_REJECTED,
    UNREACHABLE,
    BillFile,
    BillLine,
    BillTotals,
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
from gateway.channels.billfile import Sink, save_response
from gateway.crypto import rsa
from gateway.domain.outcomes import Outcome
from gateway.domain.pay import PayAction

log = logging.getLogger(__name__)

CHARSET = "utf-8"
FORM_TYPE = "application/x-www-form-urlencoded;charset=utf-8"


@dataclass(frozen=True, slots=True)
class Answer:
    """A verified response object, or why there is none (``response is None``: ``outcome`` says what
    the caller reports -- UNKNOWN, or CHANNEL_ERROR for a refusal Alipay sent unsigned)."""

    response: dict[str, Any] | None
    error_code: str | None = None
    error_message: str | None = None
    outcome: Outcome = Outcome.UNKNOWN
    unsigned: dict[str, Any] | None = None  # the refusal as Alipay sent it, without a signature


def _unknown(code: str, message: str = "") -> Answer:
    return Answer(None, code, message)


def _unsigned(method: str, content: str) -> Answer:
    """An answer without ``sign``. The official SDKs check the signature of a success, or of a failure
    that carries one (``AbstractAlipayClient.checkResponseSign``): Alipay's gateway does not sign the
    refusals of a request it could not attribute (``isv.invalid-app-id``, an ``error_response``). Such a
    refusal is a decline with its code; nothing is ever marked paid or refunded from an unsigned answer."""
    try:
        response = tx.loads(content)
    except ValueError as exc:
        return _unknown("MALFORMED", f"{method}: {exc}")
    refused = tx.unsigned_refusal(response)
    if refused is None:
        return _unknown("UNSIGNED", f"{method}: answer has no sign ({content[:200]})")
    return Answer(None, refused[0], refused[1], Outcome.CHANNEL_ERROR, unsigned=response)


class AlipayChannel:
    name: ClassVar[str] = "alipay"

    def __init__(self, *, app_id: str, seller_id: str, app_private_key: rsa.PrivateKey,
                 alipay_public_keys: Sequence[rsa.PublicKey], http: aiohttp.ClientSession, base_url: str,
                 timeout: float = 15.0, clock: Callable[[], datetime] | None = None,
                 certs: certmode.CertStore | None = None) -> None:
        self.app_id = app_id
        self.seller_id = seller_id
        self._key = app_private_key
        self._alipay_keys = tuple(alipay_public_keys)
        self._http = http
        self._base_url = base_url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._bill_timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
        self._clock = clock or (lambda: datetime.now(UTC))
        # Certificate mode (certmode.py): SNs in requests, the answer's alipay_cert_sn picks the key.
        self._certs = certs
        self._cert_lock = asyncio.Lock()
        self._cert_refused: dict[str, float] = {}  # SN → when its download last failed (no storm of retries)
        if certs is not None:
            self._alipay_keys = certs.keys()

    @property
    def identities(self) -> Mapping[str, str]:
        return {"app_id": self.app_id, "seller_id": self.seller_id}

    # ------------------------------------------------------------ transport

    def _signed(self, method: str, biz: Mapping[str, Any] | None, **extra: str | None) -> dict[str, str]:
        params = tx.common_params(self.app_id, method, self._clock(), charset=CHARSET,
                                  notify_url=extra.get("notify_url"), return_url=extra.get("return_url"))
        if self._certs is not None:
            params["app_cert_sn"] = self._certs.app_cert_sn
            params["alipay_root_cert_sn"] = self._certs.root_cert_sn
        if biz is not None:
            params["biz_content"] = tx.dumps_biz(biz)
        params["sign"] = signing.sign(self._key, signing.request_sign_content(params), CHARSET)
        return params

    def page_url(self, method: str, biz: Mapping[str, Any], *, notify_url: str | None,
                 return_url: str | None) -> str:
        """A signed GET URL to gateway.do with every parameter in the query (browser navigation)."""
        params = self._signed(method, biz, notify_url=notify_url, return_url=return_url)
        return f"{self._base_url}?{urlencode(params)}"

    async def call(self, method: str, biz: Mapping[str, Any], *, notify_url: str | None = None) -> Answer:
        sent = await self._send(method, biz, notify_url=notify_url)
        if isinstance(sent, Answer):
            return sent
        await self._learn_cert(sent)
        return self._verify(method, sent)

    async def _send(self, method: str, biz: Mapping[str, Any], *, notify_url: str | None = None) -> bytes | Answer:
        """The raw 200 answer, or why there is none (an :class:`Answer` without a response)."""
        params = self._signed(method, biz, notify_url=notify_url)
        body = {"biz_content": params.pop("biz_content")}
        url = f"{self._base_url}?{urlencode(params)}"
        try:
            async with self._http.post(url, data=urlencode(body).encode(), timeout=self._timeout,
                                       headers={"Content-Type": FORM_TYPE}) as resp:
                raw = await resp.read()
                status = resp.status
        except TimeoutError:
            return _unknown("TIMEOUT", f"{method} timed out")
        except aiohttp.ClientError as exc:
            return _unknown("NETWORK", f"{method}: {exc!r}")
        if status != 200:
            return _unknown(f"HTTP_{status}", f"{method} answered HTTP {status}")
        return raw

    def _verify(self, method: str, raw: bytes) -> Answer:
        try:
            text = raw.decode(CHARSET)
            located = signing.locate_response(text, method)
        except (UnicodeDecodeError, signing.MalformedResponse) as exc:
            return _unknown("MALFORMED", f"{method}: {exc}")
        if not located.sign:
            return _unsigned(method, located.content)
        if not signing.verify_response(self._answer_keys(text), located.content, located.sign, CHARSET):
            log.warning("alipay %s: response signature does not verify (app %s)", method, self.app_id)
            return _unknown("SIGNATURE_INVALID", f"{method}: response signature does not verify")
        try:
            return Answer(tx.loads(located.content))
        except ValueError as exc:
            return _unknown("MALFORMED", f"{method}: {exc}")

    # ------------------------------------------------------------ certificate mode

    def _answer_keys(self, text: str) -> Sequence[rsa.PublicKey]:
        """The keys an answer may be signed with: in certificate mode the one certificate its
        ``alipay_cert_sn`` names (none if unknown), else -- and in public-key mode -- every key held."""
        if self._certs is None:
            return self._alipay_keys
        sn = certmode.answer_cert_sn(text)
        if sn is None:
            return self._alipay_keys
        key = self._certs.key_for(sn)
        return (key,) if key is not None else ()

    async def _learn_cert(self, raw: bytes) -> None:
        """An answer signed with an Alipay certificate we do not know (Alipay rotated it): download it
        (``alipay.open.app.alipaycert.download``) and trust it if it chains to our root. A failed
        download is not retried for a minute, so forged SNs cannot make us hammer Alipay."""
        if self._certs is None:
            return
        try:
            sn = certmode.answer_cert_sn(raw.decode(CHARSET))
        except UnicodeDecodeError:
            return
        if sn is None or self._certs.key_for(sn) is not None:
            return
        async with self._cert_lock:
            if self._certs.key_for(sn) is not None or time.monotonic() - self._cert_refused.get(sn, -1e9) < 60:
                return
            try:
                await self._download_cert(sn)
            except certmode.UntrustedCertificate as exc:
                self._cert_refused[sn] = time.monotonic()
                log.warning("alipay app %s: certificate %s not accepted: %s", self.app_id, sn, exc)
                return
            self._alipay_keys = self._certs.keys()
            log.info("alipay app %s: now trusts Alipay certificate %s", self.app_id, sn)

    async def _download_cert(self, sn: str) -> None:
        assert self._certs is not None
        sent = await self._send(certmode.CERT_DOWNLOAD, {"alipay_cert_sn": sn})
        if isinstance(sent, Answer):
            raise certmode.UntrustedCertificate(f"download failed: {sent.error_code}")
        # The answer is signed with the very certificate being fetched: the chain to our root is what
        # makes it trustworthy, not that signature.
        try:
            response = tx.loads(signing.locate_response(sent.decode(CHARSET), certmode.CERT_DOWNLOAD).content)
        except (UnicodeDecodeError, ValueError) as exc:
            raise certmode.UntrustedCertificate(f"download answer malformed: {exc}") from None
        if response.get("code") != tx.SUCCESS_CODE:
            raise certmode.UntrustedCertificate(f"download refused: {response.get('sub_code') or response.get('code')}")
        self._certs.accept(certmode.downloaded_pem(response.get("alipay_cert_content")), sn, self._clock())

    # ------------------------------------------------------------ Channel

    async def create(self, req: CreateRequest) -> CreateResult:
        if req.pay_method == barcode.METHOD:
            return await barcode.pay(self, req)
        method, _ = tx.PAY_METHODS[req.pay_method]
        biz = tx.create_biz(req)
        if method == tx.APP_PAY:  # the order string the merchant's app gives the Alipay App SDK
            return CreateResult(Outcome.SUCCESS, apppay.action(self._signed(method, biz, notify_url=req.notify_url)))
        if method in tx.BROWSER_METHODS:
            url = self.page_url(method, biz, notify_url=req.notify_url, return_url=req.return_url)
            return CreateResult(Outcome.SUCCESS, PayAction.redirect(url))
        answer = await self.call(method, biz, notify_url=req.notify_url)
        if answer.response is None:
            return CreateResult(answer.outcome, error_code=answer.error_code, error_message=answer.error_message)
        return tx.create_result(answer.response)

    async def query(self, trade: TradeRef | str) -> TradeState:
        """By our number; by Alipay's ``trade_no`` when ours is unknown (``TradeRef("", channel_trade_no=…)``:
        a bill line or an operator's lookup)."""
        try:
            biz = tx.query_biz(TradeRef.of(trade))
        except ValueError as exc:
            return TradeState(Outcome.CHANNEL_ERROR, error_code="NO_TRADE_NUMBER", error_message=str(exc))
        answer = await self.call(tx.QUERY, biz)
        if answer.response is None:
            return TradeState(answer.outcome, error_code=answer.error_code, error_message=answer.error_message)
        return tx.trade_state(answer.response, by_channel_no="out_trade_no" not in biz)

    async def close(self, trade: TradeRef | str) -> CloseResult:
        if TradeRef.of(trade).pay_method == barcode.METHOD:
            return await barcode.cancel(self, TradeRef.of(trade))
        answer = await self.call(tx.CLOSE, {"out_trade_no": TradeRef.of(trade).trade_no})
        if answer.response is None:
            return CloseResult(answer.outcome, error_code=answer.error_code, error_message=answer.error_message)
        closed = tx.close_result(answer.response)
        if closed.outcome is Outcome.FAIL:  # no longer WAIT_BUYER_PAY: closed already, or paid -- ask
            return tx.close_after_query(closed, await self.query(trade))
        return closed

    async def refund(self, req: RefundRequest) -> RefundResult:
        answer = await self.call(tx.REFUND, tx.refund_biz(req))
        if answer.response is None:
            return RefundResult(answer.outcome, error_code=answer.error_code, error_message=answer.error_message)
        return tx.refund_result(answer.response)

    async def query_refund(self, req: RefundRequest) -> RefundResult:
        answer = await self.call(tx.REFUND_QUERY, tx.refund_query_biz(req))
        if answer.response is None:
            return RefundResult(answer.outcome, error_code=answer.error_code, error_message=answer.error_message)
        return tx.refund_query_result(answer.response)

    async def bill(self, day: date) -> list[BillLine]:
        """The day's trade bill; ``[]`` when Alipay has none. Raises :class:`BillUnavailable` otherwise
        (the protocol has no outcome slot for a list: a reconciliation run simply retries later)."""
        with tempfile.TemporaryDirectory() as tmp:
            found = await self.bill_download(day, Path(tmp) / "bill.csv.zip")
            if found is None:
                return []
            try:
                return list(tx.read_bill(found.path, BillTotals()))
            except (ValueError, KeyError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
                raise BillUnavailable("MALFORMED", str(exc)) from exc

    async def bill_download(self, day: date, dest: Path) -> BillFile | None:
        """Ask for the day's download URL (valid 30 s), then stream the zip into ``dest``."""
        answer = await self.call(tx.BILL_URL_QUERY, tx.bill_biz(day))
        if answer.response is None:
            raise BillUnavailable(answer.error_code or "UNKNOWN", answer.error_message or "")
        url, error = tx.bill_url(answer.response)
        if error:
            raise BillUnavailable(error, str(answer.response.get("sub_msg") or ""),
                                  not_ready=error in tx.BILL_NOT_READY_CODES)
        if url is None:
            return None
        sink = Sink(dest)
        try:
            async with self._http.get(url, timeout=self._bill_timeout) as resp:
                if resp.status != 200:
                    raise BillUnavailable(f"HTTP_{resp.status}")
                await save_response(resp, sink)
        except (TimeoutError, aiohttp.ClientError) as exc:
            sink.abort()
            raise BillUnavailable("NETWORK", repr(exc)) from exc
        except BaseException:
            sink.abort()
            raise
        return sink.done()

    async def check(self) -> CredentialCheck:
        """Query a trade that cannot exist: Alipay's signed ``ACQ.TRADE_NOT_EXIST`` proves the app id and
        private key (it took our signature) and the Alipay public key (its answer verifies)."""
        sent = await self._send(tx.QUERY, {"out_trade_no": probe_trade_no()})
        if isinstance(sent, Answer):
            return CredentialCheck.failed(UNREACHABLE, f"{sent.error_code}: {sent.error_message}"[:160])
        await self._learn_cert(sent)
        answer = self._verify(tx.QUERY, sent)
        if answer.response is not None:
            return tx.credential_check(answer.response)
        if answer.error_code == "SIGNATURE_INVALID":
            return CredentialCheck.failed(ANSWER_UNVERIFIABLE,
                                          "Alipay's answer does not verify with the configured Alipay public key")
        if answer.unsigned is not None or answer.error_code == "UNSIGNED":
            # Alipay does not sign some refusals of the request itself (an unknown app id): say what it said.
            unsigned = tx.credential_check(answer.unsigned) if answer.unsigned is not None \
                else CredentialCheck.failed(UNREACHABLE)
            if unsigned.problem == SIGNATURE_REJECTED:
                return CredentialCheck.failed(SIGNATURE_REJECTED, f"{unsigned.detail} (unsigned answer)")
            return CredentialCheck.failed(ANSWER_UNVERIFIABLE, "Alipay's answer carries no signature")
        return CredentialCheck.failed(UNREACHABLE, f"{answer.error_code}: {answer.error_message}"[:160])

    # ------------------------------------------------------------ callbacks

    def verify_params(self, params: Mapping[str, str]) -> None:
        """rsaCheckV1 over notify / return_url parameters; raises :class:`VerificationError`."""
        signature = params.get("sign")
        if not signature:
            raise VerificationError("missing_signature")
        if params.get("sign_type", "RSA2") != "RSA2":
            # Legacy RSA (SHA1) is refused: an attacker must not pick the weaker algorithm for us.
            raise VerificationError("unsupported_sign_type", str(params.get("sign_type")))
        charset = params.get("charset") or CHARSET
        if not signing.verify_any(self._alipay_keys, signing.notify_sign_content(params), signature, charset):
            raise VerificationError("bad_signature")

    async def parse_callback(self, raw: RawCallback) -> Notification:
        params = decode_form(raw.body)
        self.verify_params(params)
        if params.get("app_id") != self.app_id:
            raise VerificationError("wrong_account", "notify is for another app_id")
        return tx.notification(params)

    @staticmethod
    def acknowledge(ok: bool) -> tuple[int, str, bytes]:
        # Alipay stops retrying only on the exact 7 bytes "success".
        return 200, "text/plain", b"success" if ok else b"fail"


def decode_form(body: bytes) -> dict[str, str]:
    """Form-decode a notify with the charset it declares in its own ``charset`` field."""
    try:
        ascii_view = body.decode("latin-1")
        declared = dict(parse_qsl(ascii_view, keep_blank_values=True)).get("charset") or CHARSET
        "".encode(declared)  # LookupError for an unknown charset
        text = body.decode(declared)
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, encoding=declared,
                          errors="strict")
    except (LookupError, UnicodeError, ValueError) as exc:
        raise VerificationError("malformed", f"undecodable form: {exc}") from None
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            raise VerificationError("malformed", f"duplicate field {key}")  # ambiguous: refuse
        params[key] = value
    return params
