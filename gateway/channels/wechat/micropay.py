"""WeChat Pay barcode pay: APIv2 ``/pay/micropay`` (XML, HMAC-SHA256 with the APIv2 key), ``/pay/orderquery``
and ``/secapi/pay/reverse`` -- the last over mutual TLS with the merchant's API client certificate.

WeChat's own guidance: micropay has no APIv3 version. ``USERPAYING`` = the shopper is typing the
password: query every 5 s, reverse after 30 s. ``SYSTEMERROR`` / ``BANKERROR`` / no answer: query. A
micropay that timed out is sent once more with the same ``out_trade_no`` (WeChat charges one order
once; a repeat of a paid one answers ``ORDERPAID``), then queried. Reverse returns a paid order's money,
so the order is queried first and a paid one is reported, not reversed. No notification is sent for
micropay.

Credentials (optional fields of a WeChat account): ``apiv2_key`` (32 characters), ``apiv2_client_cert``
and ``apiv2_client_key`` (the ``apiclient_cert.pem`` / ``apiclient_key.pem`` PEMs), ``apiv2_ca`` (PEM; a
CA to trust for the client-certificate host besides the system's -- the sandbox's test CA).
"""
from __future__ import annotations

import logging
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from yarl import URL

from gateway.channels.base import CloseResult, CreateRequest, CreateResult, TradeRef, TradeState
from gateway.channels.wechat import v2
from gateway.channels.wechat.protocol import CHINA
from gateway.domain.money import Money
from gateway.domain.outcomes import Outcome
from gateway.domain.pay import ActionKind, PayAction

log = logging.getLogger(__name__)

METHOD = "wechat_barcode"
MICROPAY, ORDERQUERY, REVERSE = "/pay/micropay", "/pay/orderquery", "/secapi/pay/reverse"
CONFIRM = PayAction(ActionKind.CONFIRM)  # nothing to show: the shopper confirms in the wallet
PAYING = "USERPAYING"
ASK = frozenset({"SYSTEMERROR", "BANKERROR", "ORDERPAID"})  # no clear answer (or our own order is paid): query
_QUERY_OUTCOME = {"SUCCESS": Outcome.SUCCESS, "REFUND": Outcome.SUCCESS, "NOTPAY": Outcome.WAITING,
                  PAYING: Outcome.WAITING, "CLOSED": Outcome.FAIL, "REVOKED": Outcome.FAIL, "PAYERROR": Outcome.FAIL}


@dataclass(frozen=True, slots=True)
class Answer:
    """A verified v2 answer (``data``), or why there is none (``data is None`` ⇒ unknown)."""

    data: dict[str, str] | None
    code: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.data is not None and self.data.get("result_code") == v2.SUCCESS

    @property
    def err_code(self) -> str | None:
        return None if self.data is None else self.data.get("err_code") or None


def client_ssl(credentials: Mapping[str, Any]) -> ssl.SSLContext | None:
    """The TLS context that presents the merchant's API client certificate, or None without one. The
    PEMs pass through a private temporary directory (``ssl`` loads a chain only from files)."""
    cert, key = credentials.get("apiv2_client_cert"), credentials.get("apiv2_client_key")
    if not cert or not key:
        return None
    context = ssl.create_default_context()
    if credentials.get("apiv2_ca"):
        context.load_verify_locations(cadata=str(credentials["apiv2_ca"]))
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        for path, text in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(str(text))
        context.load_cert_chain(cert_path, key_path)
    return context


def _time_end(value: str | None) -> datetime | None:
    try:
        return datetime.strptime(value or "", "%Y%m%d%H%M%S").replace(tzinfo=CHINA)
    except ValueError:
        return None


def _fen(value: str | None) -> Money | None:
    return Money(int(value), "CNY") if value and value.isdigit() else None


def paid_state(data: Mapping[str, str]) -> TradeState:
    return TradeState(Outcome.SUCCESS, channel_trade_no=data.get("transaction_id") or None,
                      amount=_fen(data.get("total_fee")), paid_at=_time_end(data.get("time_end")))


def pay_result(answer: Answer) -> CreateResult | None:
    """A micropay answer in our terms; None = ask the order's query."""
    if answer.data is None or answer.err_code in ASK:
        return None
    if answer.data.get("return_code") != v2.SUCCESS:
        return CreateResult(Outcome.CHANNEL_ERROR, error_code="RETURN_FAIL", error_message=answer.data.get("return_msg"))
    if answer.ok:
        return CreateResult(Outcome.SUCCESS, CONFIRM, state=paid_state(answer.data))
    if answer.err_code == PAYING:
        return CreateResult(Outcome.SUCCESS, CONFIRM, state=TradeState(Outcome.WAITING, error_code=PAYING))
    return CreateResult(Outcome.CHANNEL_ERROR, error_code=answer.err_code or "FAIL",
                        error_message=answer.data.get("err_code_des"))


def query_state(answer: Answer) -> TradeState:
    if answer.data is None:
        return TradeState(Outcome.UNKNOWN, error_code=answer.code, error_message=answer.message)
    if answer.data.get("return_code") != v2.SUCCESS:
        return TradeState(Outcome.UNKNOWN, error_code="RETURN_FAIL", error_message=answer.data.get("return_msg"))
    if not answer.ok:
        # An order that never arrived is still "waiting" to us: the deadline's reverse settles it.
        outcome = Outcome.WAITING if answer.err_code == "ORDERNOTEXIST" else Outcome.UNKNOWN
        return TradeState(outcome, error_code=answer.err_code, error_message=answer.data.get("err_code_des"))
    trade_state = answer.data.get("trade_state", "")
    outcome = _QUERY_OUTCOME.get(trade_state, Outcome.UNKNOWN)
    if outcome is Outcome.SUCCESS:
        return paid_state(answer.data)
    return TradeState(outcome, channel_trade_no=answer.data.get("transaction_id") or None,
                      error_code=f"trade_state:{trade_state}")


def reverse_result(answer: Answer) -> CloseResult:
    if answer.data is None:
        return CloseResult(Outcome.UNKNOWN, answer.code, answer.message)
    if answer.data.get("return_code") != v2.SUCCESS:
        return CloseResult(Outcome.UNKNOWN, "RETURN_FAIL", answer.data.get("return_msg"))
    if answer.data.get("recall") == "Y":  # WeChat asks to call reverse again
        return CloseResult(Outcome.UNKNOWN, answer.err_code or "RECALL", "reverse again")
    if answer.ok or answer.err_code == "ORDERNOTEXIST":
        return CloseResult(Outcome.SUCCESS, answer.err_code)
    if answer.err_code == "SYSTEMERROR":
        return CloseResult(Outcome.UNKNOWN, answer.err_code, answer.data.get("err_code_des"))
    return CloseResult(Outcome.CHANNEL_ERROR, answer.err_code, answer.data.get("err_code_des"))


class Micropay:
    """The APIv2 calls of one merchant account."""

    def __init__(self, credentials: Mapping[str, Any], http: aiohttp.ClientSession, base_url: str,
                 timeout: aiohttp.ClientTimeout) -> None:
        self._appid, self._mchid = str(credentials["appid"]), str(credentials["mchid"])
        self._key = str(credentials.get("apiv2_key") or "")
        self._ssl = client_ssl(credentials)
        self._http, self._base, self._timeout = http, base_url.rstrip("/"), timeout

    def _params(self, **fields: str | None) -> dict[str, str]:
        params = {"appid": self._appid, "mch_id": self._mchid, "nonce_str": v2.nonce(), "sign_type": v2.HMAC_SHA256,
                  **{k: v for k, v in fields.items() if v}}
        params["sign"] = v2.sign(params, self._key)
        return params

    async def _post(self, path: str, params: Mapping[str, str], *, certificate: bool = False) -> Answer:
        if not self._key:
            return Answer(None, "NO_APIV2_KEY", "the account has no apiv2_key")
        if certificate and self._ssl is None:
            return Answer(None, "NO_CLIENT_CERTIFICATE", "the account has no APIv2 client certificate")
        url = URL(self._base + path)
        body = v2.to_xml(params)
        tls: ssl.SSLContext | bool = self._ssl if certificate and self._ssl is not None else True
        try:
            for _ in range(2):
                async with self._http.post(url, data=body, headers={"Content-Type": "text/xml; charset=utf-8"},
                                           timeout=self._timeout, allow_redirects=False,
                                           ssl=tls) as resp:
                    status, raw, location = resp.status, await resp.read(), resp.headers.get("Location", "")
                # The sandbox serves client-certificate calls on its own TLS port and points there;
                # only an https target is followed (the certificate is offered only over TLS anyway).
                if certificate and status in (307, 308) and location.startswith("https://"):
                    url = URL(location)
                    continue
                break
        except (aiohttp.ClientError, TimeoutError, ssl.SSLError) as exc:
            return Answer(None, "TIMEOUT" if isinstance(exc, TimeoutError) else "NETWORK", f"{path}: {exc!r}")
        if status != 200:
            return Answer(None, f"HTTP_{status}", f"{path} answered HTTP {status}")
        try:
            data = v2.from_xml(raw)
        except ValueError as exc:
            return Answer(None, "MALFORMED", f"{path}: {exc}")
        if data.get("return_code") == v2.SUCCESS:
            if not v2.verify(data, self._key, params.get("sign_type", v2.MD5)):
                log.warning("wechat %s: answer signature does not verify (mch %s)", path, self._mchid)
                return Answer(None, "SIGNATURE_INVALID", f"{path}: answer signature does not verify")
            if data.get("appid") not in (None, self._appid) or data.get("mch_id") not in (None, self._mchid):
                return Answer(None, "WRONG_ACCOUNT", f"{path}: answer for another account")
        return Answer(data)

    async def pay(self, req: CreateRequest, client_ip: str | None) -> CreateResult:
        if not req.payer_id:
            return CreateResult(Outcome.CHANNEL_ERROR, error_code="AUTH_CODE_INVALID", error_message="no auth_code")
        params = self._params(body=req.subject[:128], out_trade_no=req.trade_no, total_fee=str(req.amount.minor),
                              fee_type=req.amount.currency, spbill_create_ip=client_ip or "127.0.0.1",
                              auth_code=req.payer_id)
        answer = await self._post(MICROPAY, params)
        if answer.data is None and (answer.code in ("TIMEOUT", "NETWORK") or str(answer.code).startswith("HTTP_5")):
            answer = await self._post(MICROPAY, params)  # the same order again: never charged twice
        result = pay_result(answer)
        if result is not None:
            return result
        state = await self.query(TradeRef(req.trade_no, pay_method=METHOD))
        if state.outcome is Outcome.SUCCESS or (state.outcome is Outcome.WAITING and state.error_code != "ORDERNOTEXIST"):
            return CreateResult(Outcome.SUCCESS, CONFIRM, state=state)
        if state.outcome is Outcome.FAIL:
            return CreateResult(Outcome.CHANNEL_ERROR, error_code=state.error_code, error_message="the order is closed")
        return CreateResult(Outcome.UNKNOWN, error_code=answer.code or answer.err_code or state.error_code,
                            error_message=answer.message or state.error_message)

    async def query(self, trade: TradeRef) -> TradeState:
        return query_state(await self._post(ORDERQUERY, self._params(out_trade_no=trade.trade_no)))

    async def reverse(self, trade: TradeRef) -> CloseResult:
        """Undo the order at the deadline -- unless it was paid meanwhile (FAIL: settle it as paid)."""
        state = await self.query(trade)
        if state.outcome is Outcome.SUCCESS:
            return CloseResult(Outcome.FAIL, "ORDERPAID", "paid; not reversed")
        if state.outcome is Outcome.FAIL:
            return CloseResult(Outcome.SUCCESS, state.error_code, "already closed")
        if state.outcome is Outcome.UNKNOWN:
            return CloseResult(Outcome.UNKNOWN, state.error_code, state.error_message)
        return reverse_result(await self._post(REVERSE, self._params(out_trade_no=trade.trade_no), certificate=True))
