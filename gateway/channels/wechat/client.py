"""One WeChat Pay APIv3 merchant account: signs, sends, verifies, and hands answers to the transformers.

Trust rules (base.py): a timeout, a 5xx, a non-JSON answer, or a 2xx whose signature does not verify
becomes ``Outcome.UNKNOWN``; no method raises for them. Only a verified 2xx or a JSON 4xx refusal
changes anything.
"""
from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from gateway.channels.base import (
    ANSWER_UNVERIFIABLE,
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
from gateway.channels.wechat import apppay, micropay, signing
from gateway.channels.wechat import transformers as tf
from gateway.channels.wechat.keystore import KeyStore
from gateway.crypto import aead, rsa
from gateway.domain.outcomes import Outcome
from gateway.domain.pay import ActionKind, PayAction

USER_AGENT = "gateway-wechatpay/1 (aiohttp)"
FAIL_ACK = '{"code":"FAIL","message":"失败"}'.encode()


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    data: Mapping[str, Any] = field(default_factory=dict)
    code: str | None = None
    message: str | None = None
    untrusted: str | None = None   # why this answer cannot be believed: network, bad_signature, not_json

    def failure(self) -> tuple[Outcome, str | None, str | None] | None:
        """None for a trustworthy 2xx; otherwise the outcome, code and message to report."""
        if self.untrusted:
            return Outcome.UNKNOWN, self.code or self.untrusted, self.message
        if 200 <= self.status < 300:
            return None
        return tf.error_outcome(self.status, self.code), self.code, self.message


def _segment(value: str) -> str:
    return quote(value, safe="")


class WechatChannel:
    name: ClassVar[str] = "wechat"

    def __init__(self, credentials: Mapping[str, Any], http: aiohttp.ClientSession, base_url: str, *,
                 timeout: float = 10.0, refresh_interval: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._mchid = str(credentials["mchid"])
        self._appid = str(credentials["appid"])
        # APP pay: the Open Platform mobile app's appid, when it is not the official account's
        self._app_appid = str(credentials.get("app_appid") or self._appid)
        self._serial = str(credentials["merchant_serial"])
        self._key = rsa.load_private_key(str(credentials["merchant_private_key"]))
        self._apiv3_key = str(credentials["apiv3_key"]).encode()
        if len(self._apiv3_key) != 32:
            raise ValueError("the APIv3 key must be 32 ASCII characters")
        self._http = http
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        # A bill is tens of MB: the whole download may take long, but no single read may stall.
        self._bill_timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
        self._clock = clock
        self.keys = KeyStore(apiv3_key=self._apiv3_key,
                             certificates=credentials.get("platform_certificates") or (),
                             public_key_id=credentials.get("public_key_id"),
                             public_key=credentials.get("public_key"),
                             fetch=self._fetch_certificates, min_interval=refresh_interval)
        self.micropay = micropay.Micropay(credentials, http, self._base, self._timeout)  # barcode pay (APIv2)

    @property
    def identities(self) -> Mapping[str, str]:
        return {"mchid": self._mchid, "appid": self._appid}

    # --- transport -----------------------------------------------------------------------------------

    def _headers(self, method: str, url: URL, body: bytes) -> dict[str, str]:
        """Sign over the path exactly as it goes on the wire (``encoded=True`` stops re-quoting)."""
        nonce, timestamp = signing.new_nonce(), str(int(self._clock()))
        return {
            "Authorization": signing.authorization(self._key, mchid=self._mchid, serial_no=self._serial,
                                                   method=method, path_qs=url.raw_path_qs, body=body,
                                                   timestamp=timestamp, nonce=nonce),
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }

    async def _send(self, method: str, url: URL, body: bytes) -> tuple[int, Mapping[str, str], bytes]:
        async with self._http.request(method, url, data=body or None, headers=self._headers(method, url, body),
                                      timeout=self._timeout, allow_redirects=False) as resp:
            return resp.status, resp.headers.copy(), await resp.read()

    async def _fetch_certificates(self) -> tuple[int, Mapping[str, str], bytes]:
        return await self._send("GET", URL(self._base + "/v3/certificates", encoded=True), b"")

    async def _call(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> Reply:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() if payload else b""
        try:
            status, headers, content = await self._send(method, URL(self._base + path, encoded=True), body)
        except (aiohttp.ClientError, TimeoutError):
            return Reply(0, untrusted="network")
        if 200 <= status < 300:
            if not await self._verified(headers, content):
                return Reply(status, untrusted="bad_signature")
            if status == 204 or not content:
                return Reply(status)
        data = _json_object(content)
        if data is None:
            return Reply(status, untrusted="not_json")
        code, message = data.get("code"), data.get("message")
        return Reply(status, data, code if isinstance(code, str) else None,
                     message if isinstance(message, str) else None)

    async def _verified(self, headers: Mapping[str, str], body: bytes) -> bool:
        try:
            await self._verify(headers, body)
        except VerificationError:
            return False
        return True

    async def _verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """The time window and probe check first -- cheap, and a replayed or forged message must cost
        neither an RSA operation nor a certificate refresh -- then the key by serial, then the signature."""
        timestamp = headers.get("Wechatpay-Timestamp", "")
        nonce = headers.get("Wechatpay-Nonce", "")
        signature = headers.get("Wechatpay-Signature", "")
        serial = headers.get("Wechatpay-Serial", "")
        if not timestamp or not nonce or not signature:
            raise VerificationError("malformed", "signature headers missing")
        if not signing.timestamp_fresh(timestamp, self._clock()):
            raise VerificationError("stale_timestamp")
        if signing.is_probe(signature):
            raise VerificationError("signature_probe")
        if headers.get("Wechatpay-Signature-Type", signing.SCHEME) != signing.SCHEME:
            raise VerificationError("malformed", "unsupported signature type")
        key = await self.keys.key_for(serial) if serial else None
        if key is None:
            raise VerificationError("unknown_serial")
        if not signing.verify_response(key, timestamp, nonce, body, signature):
            raise VerificationError("bad_signature")

    # --- the Channel protocol ------------------------------------------------------------------------

    async def create(self, req: CreateRequest) -> CreateResult:
        if req.pay_method == micropay.METHOD:
            return await self.micropay.pay(req, req.client_ip)
        try:
            appid = self._app_appid if req.pay_method == "wechat_app" else self._appid
            body = tf.create_body(req, appid=appid, mchid=self._mchid)
        except ValueError as exc:
            return CreateResult(Outcome.CHANNEL_ERROR, error_code="PARAM_ERROR", error_message=str(exc))
        reply = await self._call("POST", f"/v3/pay/transactions/{tf.ENDPOINTS[req.pay_method]}", body)
        if failed := reply.failure():
            return CreateResult(failed[0], error_code=failed[1], error_message=failed[2])
        try:
            result = tf.parse_create(req.pay_method, reply.data)
        except tf.Malformed as exc:
            return CreateResult(Outcome.UNKNOWN, error_code="malformed", error_message=str(exc))
        if not isinstance(result, str):
            return result
        if req.pay_method == "wechat_app":  # the app hands these signed parameters to OpenSDK PayReq
            params = apppay.app_params(self._key, appid=self._app_appid, mchid=self._mchid, prepay_id=result,
                                       timestamp=str(int(self._clock())), nonce=signing.new_nonce())
            return CreateResult(Outcome.SUCCESS, PayAction(ActionKind.APP, params=params))
        # JSAPI: the page hands these signed parameters to WeixinJSBridge.
        params = signing.jsapi_params(self._key, appid=self._appid, prepay_id=result,
                                      timestamp=str(int(self._clock())), nonce=signing.new_nonce())
        return CreateResult(Outcome.SUCCESS, PayAction.jsapi(params))

    async def query(self, trade: TradeRef | str) -> TradeState:
        """By our number; by WeChat's ``transaction_id`` when ours is unknown
        (``TradeRef("", channel_trade_no=…)``: a bill line or an operator's lookup)."""
        ref = TradeRef.of(trade)
        if ref.pay_method == micropay.METHOD:
            return await self.micropay.query(ref)
        if ref.trade_no:
            path = f"/v3/pay/transactions/out-trade-no/{_segment(ref.trade_no)}"
        elif ref.channel_trade_no:
            path = f"/v3/pay/transactions/id/{_segment(ref.channel_trade_no)}"
        else:
            return TradeState(Outcome.CHANNEL_ERROR, error_code="NO_TRADE_NUMBER",
                              error_message="a trade needs our number or WeChat's transaction_id")
        reply = await self._call("GET", f"{path}?mchid={_segment(self._mchid)}")
        if failed := reply.failure():
            return (TradeState(failed[0], error_code=failed[1], error_message=failed[2]) if reply.untrusted
                    else tf.query_error(reply.status, reply.code, reply.message))
        try:
            return tf.parse_trade(reply.data, ref.trade_no or None, transaction_id=ref.channel_trade_no)
        except tf.Malformed as exc:
            return TradeState(Outcome.UNKNOWN, error_code="malformed", error_message=str(exc))

    async def check(self) -> CredentialCheck:
        """Query a trade that cannot exist. WeChat Pay signs every answer to a request whose signature it
        accepted, errors included: a verified ``ORDER_NOT_EXIST`` proves mchid, serial, private key and
        the platform key; a 401 ``SIGN_ERROR`` (not necessarily signed) says it refused ours."""
        path = f"/v3/pay/transactions/out-trade-no/{_segment(probe_trade_no())}?mchid={_segment(self._mchid)}"
        try:
            status, headers, content = await self._send("GET", URL(self._base + path, encoded=True), b"")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return CredentialCheck.failed(UNREACHABLE, f"{type(exc).__name__}: {exc}"[:160])
        data = _json_object(content) or {}
        code, message = data.get("code"), data.get("message")
        code, message = code if isinstance(code, str) else None, message if isinstance(message, str) else None
        if status >= 500 or status == 429:
            return CredentialCheck.failed(UNREACHABLE, f"HTTP {status} {code or ''}"[:160])
        if not data and not 200 <= status < 300:  # a proxy's or a wrong host's page: not WeChat Pay speaking
            return CredentialCheck.failed(UNREACHABLE, f"HTTP {status}: not a WeChat Pay answer")
        if status == 401:
            return tf.credential_check(status, code, message)
        try:
            await self._verify(headers, content)
        except VerificationError as exc:
            return CredentialCheck.failed(
                ANSWER_UNVERIFIABLE, f"WeChat Pay's answer does not verify with the configured platform key ({exc.code})")
        return tf.credential_check(status, code, message)

    async def close(self, trade: TradeRef | str) -> CloseResult:
        if TradeRef.of(trade).pay_method == micropay.METHOD:  # a micropay order is reversed, never closed
            return await self.micropay.reverse(TradeRef.of(trade))
        trade_no = TradeRef.of(trade).trade_no
        reply = await self._call("POST", f"/v3/pay/transactions/out-trade-no/{_segment(trade_no)}/close",
                                 {"mchid": self._mchid})
        if reply.untrusted:
            return CloseResult(Outcome.UNKNOWN, reply.code or reply.untrusted, reply.message)
        return tf.close_result(204 if reply.status in (200, 204) else reply.status, reply.code, reply.message)

    async def refund(self, req: RefundRequest) -> RefundResult:
        try:
            body = tf.refund_body(req)
        except ValueError as exc:
            return RefundResult(Outcome.CHANNEL_ERROR, error_code="PARAM_ERROR", error_message=str(exc))
        return self._refund_result(await self._call("POST", "/v3/refund/domestic/refunds", body), req)

    async def query_refund(self, req: RefundRequest) -> RefundResult:
        # RESOURCE_NOT_EXISTS comes back as CHANNEL_ERROR with that code: the refund never reached
        # WeChat, and re-sending it with the same refund_no is safe.
        reply = await self._call("GET", f"/v3/refund/domestic/refunds/{_segment(req.refund_no)}")
        return self._refund_result(reply, req)

    def _refund_result(self, reply: Reply, req: RefundRequest) -> RefundResult:
        if failed := reply.failure():
            return RefundResult(failed[0], not_found=not reply.untrusted and tf.refund_not_found(reply.code),
                                error_code=failed[1], error_message=failed[2])
        try:
            return tf.parse_refund(reply.data, req.refund_no)
        except tf.Malformed as exc:
            return RefundResult(Outcome.UNKNOWN, error_code="malformed", error_message=str(exc))

    async def bill(self, day: date) -> list[BillLine]:
        """The day's trade bill. A day without trades is ``[]``; anything else wrong raises
        :class:`BillUnavailable` (a bill is a batch job: it is simply tried again later)."""
        with tempfile.TemporaryDirectory() as tmp:
            found = await self.bill_download(day, Path(tmp) / "bill.csv.gz")
            if found is None:
                return []
            try:
                return list(tf.read_bill(found.path, BillTotals()))
            except tf.Malformed as exc:
                raise BillUnavailable("malformed", str(exc)) from exc

    async def bill_download(self, day: date, dest: Path) -> BillFile | None:
        """Stream the day's bill (gzip, as served) into ``dest``; the SHA1 of the gunzipped content is
        checked against the signed tradebill answer while the bytes arrive."""
        reply = await self._call("GET", f"/v3/bill/tradebill?{tf.bill_query(day)}")
        if reply.code == "NO_STATEMENT_EXIST":
            return None
        if reply.failure():
            code = reply.code or reply.untrusted or "error"
            # Bills are built from 09:00 the next day: too early is "creating", a day not over a PARAM_ERROR.
            raise BillUnavailable(code, reply.message or "", not_ready=code in tf.BILL_NOT_READY_CODES)
        url, digest = reply.data.get("download_url"), reply.data.get("hash_value")
        if not isinstance(url, str) or not isinstance(digest, str) or reply.data.get("hash_type") != "SHA1":
            raise BillUnavailable("malformed", "tradebill answer lacks download_url/hash")
        # The download is signed like any request but its answer is not: the SHA1 from the signed
        # tradebill answer is what vouches for the file.
        target = URL(url, encoded=True)
        sink = Sink(dest, inner_sha1=True)
        try:
            async with self._http.request("GET", target, headers=self._headers("GET", target, b""),
                                          timeout=self._bill_timeout, allow_redirects=False) as resp:
                if resp.status != 200:
                    raise BillUnavailable(f"http_{resp.status}")
                await save_response(resp, sink)
            actual = sink.inner_sha1()
        except (aiohttp.ClientError, TimeoutError) as exc:
            sink.abort()
            raise BillUnavailable("network", str(exc)) from exc
        except BaseException:
            sink.abort()
            raise
        if actual.lower() != digest.lower():
            sink.abort()
            raise BillUnavailable("hash_mismatch", f"SHA1 {actual}, the channel said {digest}")
        return sink.done(digest.lower())

    async def parse_callback(self, raw: RawCallback) -> Notification:
        await self._verify(CIMultiDict(raw.headers), raw.body)
        envelope = _json_object(raw.body)
        resource = envelope.get("resource") if envelope else None
        if not envelope or not isinstance(resource, dict):
            raise VerificationError("malformed", "not a notification envelope")
        if envelope.get("resource_type") != "encrypt-resource" or resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise VerificationError("malformed", "unsupported resource encryption")
        try:
            plain = aead.decrypt(self._apiv3_key, str(resource.get("nonce", "")),
                                 str(resource.get("associated_data") or ""), str(resource.get("ciphertext", "")))
        except aead.DecryptError as exc:
            raise VerificationError("decrypt_failed") from exc
        data = _json_object(plain)
        if data is None:
            raise VerificationError("malformed", "resource is not a JSON object")
        try:
            note = tf.parse_notification(envelope, data)
        except tf.Malformed as exc:
            raise VerificationError("malformed", str(exc)) from exc
        if self._app_appid != self._appid and note.identities.get("appid") == self._app_appid:
            # an APP payment's notify names the mobile app's appid: it is ours too
            note = dataclasses.replace(note, identities={**note.identities, "appid": self._appid})
        return note

    @staticmethod
    def acknowledge(ok: bool) -> tuple[int, str, bytes]:
        # WeChat takes 200 or 204 without a body as success; anything else (with this body) is retried.
        return (204, "", b"") if ok else (500, "application/json", FAIL_ACK)


def _json_object(content: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(content, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None
